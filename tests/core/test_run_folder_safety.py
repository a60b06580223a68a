"""Writers of a run folder: torn lines mended, umask honoured, a full disk said precisely and
leaving no orphan folder, leftovers of a death removed, text shown without escapes."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import mlp_core.runs as runs
from data.mnist import Dataset
from mlp_core import RunStarted, TrainConfig, load_checkpoint, train
from mlp_core.checkpoint import atomic_write
from mlp_core.recovery import remove_leftover_temporaries
from mlp_core.runs import RunError, append_metrics, create_run, load_run, read_metrics
from mlp_core.text import printable

CONFIG = TrainConfig(hidden=8, epochs=2, batch_size=64, val_split=100, device="cpu")


def test_append_cuts_a_torn_last_line_instead_of_gluing_onto_it(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    append_metrics(info.path, {"epoch": 1, "train_loss": 0.5})
    with open(info.path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "train_loss": 0.4')  # complete JSON, but no newline: torn
    assert [row["epoch"] for row in read_metrics(info.path)] == [1]
    append_metrics(info.path, {"epoch": 2, "train_loss": 0.3})
    lines = (info.path / "metrics.jsonl").read_text().splitlines()
    assert lines == ['{"epoch": 1, "train_loss": 0.5}', '{"epoch": 2, "train_loss": 0.3}']


def test_a_torn_first_line_is_cut_to_nothing(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    (info.path / "metrics.jsonl").write_bytes(b'{"epoch": 1, "tr' + b"x" * 10_000)
    append_metrics(info.path, {"epoch": 1, "train_loss": 0.5})
    assert (info.path / "metrics.jsonl").read_text() == '{"epoch": 1, "train_loss": 0.5}\n'


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_created_with_the_users_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "last.safetensors", b"payload")
        info = create_run(tmp_path / "runs", CONFIG)
    finally:
        os.umask(previous)
    for path in (tmp_path / "last.safetensors", info.path / "run.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def _enospc(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_at_start_leaves_no_folder_without_run_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "atomic_write", _enospc)
    with pytest.raises(RunError) as info:
        create_run(tmp_path, CONFIG)
    assert "cannot create run folder" in str(info.value)
    assert str(info.value).endswith(": no space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_for_the_metrics_line_says_what_was_kept(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = train(CONFIG, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    started = next(events)
    assert isinstance(started, RunStarted)
    real_open = open

    def full_on_metrics(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith("metrics.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_on_metrics)
    with pytest.raises(RunError) as info:
        list(events)
    monkeypatch.undo()
    path = Path(started.run_dir) / "metrics.jsonl"
    assert str(info.value) == (
        f"cannot write the metrics of epoch 1 to {path}: no space left on device; "
        "its checkpoints are written and a resume adds the line"
    )
    assert load_run(Path(started.run_dir)).status == "failed"


def test_leftover_temporary_files_are_removed(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    stale = [
        info.path / ".run.json.1234abcd.tmp",
        info.path / "checkpoints" / ".last.safetensors.deadbeef.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    kept = info.path / "checkpoints" / "notes.tmp"  # not ours: no leading dot
    kept.write_bytes(b"")
    assert sorted(remove_leftover_temporaries(info.path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and kept.exists()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain label", "plain label"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("bell\x07 del\x7f c1\x85 csi\x9b31m", "bell del c1 csi"),
        ("two\nlines\tand tab", "two lines and tab"),
        ("héllo ✓ \u202eevil", "héllo ✓ evil"),
    ],
)
def test_printable_strips_terminal_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_a_full_disk_for_the_final_status_names_run_json_and_a_resume_finishes_it(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write, calls = runs.atomic_write, []

    def full_on_second_status(path: Path, payload: bytes) -> None:
        calls.append(path.name)
        if calls.count("run.json") == 2:  # the first is the run's creation
            _enospc()
        real_write(path, payload)

    monkeypatch.setattr(runs, "atomic_write", full_on_second_status)
    config = TrainConfig(hidden=8, epochs=1, batch_size=64, val_split=100, device="cpu")
    events = train(config, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    run_dir = Path(next(events).run_dir)
    with pytest.raises(RunError) as info:
        list(events)
    monkeypatch.undo()
    assert str(info.value) == f"cannot write {run_dir / 'run.json'}: no space left on device"
    assert [row["epoch"] for row in read_metrics(run_dir)] == [1]  # the epoch is kept
    start = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    resumed = list(train(config, tiny_dataset, runs_dir=tmp_path, start=start))
    assert resumed[-1].status == "finished" and load_run(run_dir).status == "finished"
