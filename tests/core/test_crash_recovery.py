"""Kills at every step of the epoch-end write sequence, and what a resume makes of them.

Each case runs a trainer in a subprocess (tests/core/crash_child.py) that `os._exit`s at a
chosen `crash_point` (or batch), as a SIGKILL would: no handler runs. Then the folder is read
as a listing would read it, and resumed in place; the resumed run must hold the run folder's
invariant (mlp_core.checkpoint's docstring) and end bitwise equal to a run that never died.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_tiny_dataset, write_dataset

from data.mnist import load_dataset
from mlp_core import Finished, RunStarted, TrainConfig, load_checkpoint, train
from mlp_core.checkpoint import read_metadata
from mlp_core.recovery import score
from mlp_core.runs import list_runs, load_run, read_metrics, run_summary

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")
#: 500 training images in batches of 64: 8 steps an epoch; every epoch is a new best.
CONFIG = TrainConfig(hidden=16, epochs=4, batch_size=64, val_split=100, lr=0.01, device="cpu")
TIMING = ("seconds", "samples_per_second")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("crash") / "tiny-data", make_tiny_dataset())


@pytest.fixture(scope="module")
def reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run that never died: its folder, to compare with."""
    runs = tmp_path_factory.mktemp("reference")
    events = list(train(CONFIG, load_dataset(data_dir), runs_dir=runs, progress_interval=1e9))
    assert isinstance(events[-1], Finished)
    rows = read_metrics(Path(events[0].run_dir))
    assert all(row["is_best"] for row in rows)  # so that every epoch rewrites best
    return Path(events[0].run_dir)


def kill_at(data_dir: Path, runs: Path, point: str, occurrence: int, resume: Path | None = None):
    """Run the child until it dies at `point`; return the run folder it left."""
    args = [sys.executable, str(CHILD), str(data_dir), str(runs), CONFIG.to_json(), point]
    args += [str(occurrence)] + ([str(resume)] if resume else [])
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 137, result.stderr
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir


def epochs_on_disk(run_dir: Path) -> dict[str, int]:
    folder = run_dir / "checkpoints"
    return {p.stem: int(read_metadata(p)["epoch"]) for p in folder.glob("*.safetensors")}


def assert_invariant(run_dir: Path) -> None:
    """Every checkpoint's epoch has its line; best is the best line; lines are 1..n once."""
    rows = read_metrics(run_dir)
    assert [row["epoch"] for row in rows] == list(range(1, len(rows) + 1))
    on_disk = epochs_on_disk(run_dir)
    assert all(epoch <= len(rows) for epoch in on_disk.values()), (on_disk, len(rows))
    best_row = max(rows, key=score)  # the first of equal scores: is_best is a strict ">"
    assert on_disk["best"] == best_row["epoch"]
    assert [r["epoch"] for r in rows if r["is_best"]][-1] == best_row["epoch"]


def without_timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def assert_same_as_reference(run_dir: Path, reference: Path) -> None:
    assert_invariant(run_dir)
    assert without_timing(read_metrics(run_dir)) == without_timing(read_metrics(reference))
    ours = load_checkpoint(run_dir / "checkpoints" / "last.safetensors").tensors
    theirs = load_checkpoint(reference / "checkpoints" / "last.safetensors").tensors
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    assert load_run(run_dir).status == "finished"


def resume(run_dir: Path, data_dir: Path) -> list[Any]:
    start = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    events = list(
        train(
            CONFIG,
            load_dataset(data_dir),
            runs_dir=run_dir.parent,
            start=start,
            progress_interval=1e9,
        )
    )
    assert isinstance(events[0], RunStarted) and Path(events[0].run_dir) == run_dir
    assert isinstance(events[-1], Finished) and events[-1].status == "finished"
    assert [p for p in run_dir.parent.iterdir() if p.is_dir()] == [run_dir]  # in place
    return events


def resume_with_cli(last: Path, data_dir: Path, runs: Path) -> subprocess.CompletedProcess[str]:
    args = ["train", "--resume", str(last), "--data-dir", str(data_dir), "--runs-dir", str(runs)]
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


# (point, occurrence, checkpoints left by the kill, metrics lines left)
WINDOWS = [
    ("after-last", 2, {"last": 2, "best": 1}, 1),  # the stale-best window
    ("after-best", 2, {"last": 2, "best": 2}, 1),
    ("after-metrics", 2, {"last": 2, "best": 2}, 2),
    ("after-last", 1, {"last": 1}, 0),  # the first epoch
    ("tmp-written", 4, {"last": 1, "best": 1}, 1),  # epoch 2 writing last (run.json is 1st)
    ("batch", 8 * 2 + 3, {"last": 2, "best": 2}, 2),  # mid-epoch 3
]


@pytest.mark.parametrize(("point", "occurrence", "left", "lines"), WINDOWS)
def test_a_kill_at_each_write_step_resumes_in_place_to_the_same_run(
    data_dir: Path,
    reference: Path,
    tmp_path: Path,
    point: str,
    occurrence: int,
    left: dict[str, int],
    lines: int,
) -> None:
    run_dir = kill_at(data_dir, tmp_path, point, occurrence)
    assert epochs_on_disk(run_dir) == left  # the harness stopped it where it says
    assert len(read_metrics(run_dir)) == lines
    (listed,) = list_runs(tmp_path)  # a reader sees a dead run, whole
    assert run_summary(listed)["status"] == "interrupted"
    leftovers = list((run_dir / "checkpoints").glob(".*.tmp"))
    assert bool(leftovers) == (point == "tmp-written")
    resume(run_dir, data_dir)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    assert_same_as_reference(run_dir, reference)


def test_a_torn_last_line_is_cut_before_the_resume_appends(
    data_dir: Path, reference: Path, tmp_path: Path
) -> None:
    run_dir = kill_at(data_dir, tmp_path, "after-last", 3)
    with open(run_dir / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "train_lo')  # a kill inside the append
    assert [row["epoch"] for row in read_metrics(run_dir)] == [1, 2]  # readers skip it
    resume(run_dir, data_dir)
    assert_same_as_reference(run_dir, reference)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("point", "occurrence"), [("after-last", 4), ("after-metrics", 4), ("before-finished", 1)]
)
def test_a_kill_in_the_last_epochs_writes_is_mended_and_finished_by_the_cli(
    data_dir: Path, reference: Path, tmp_path: Path, point: str, occurrence: int
) -> None:
    run_dir = kill_at(data_dir, tmp_path, point, occurrence)
    assert epochs_on_disk(run_dir)["last"] == 4
    last = run_dir / "checkpoints" / "last.safetensors"
    result = resume_with_cli(last, data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "finished after 4 epochs" in result.stdout
    assert_same_as_reference(run_dir, reference)
    again = resume_with_cli(last, data_dir, tmp_path)
    # A finished run still asks for more epochs.
    assert again.returncode == 2 and "ask for more epochs" in again.stderr


def test_a_kill_during_the_mend_is_mended_by_the_next_resume(
    data_dir: Path, reference: Path, tmp_path: Path
) -> None:
    """The mend writes best before the line, in the trainer's order: a kill between them
    leaves the same window as before, and the next resume closes it."""
    run_dir = kill_at(data_dir, tmp_path, "after-last", 2)
    last = run_dir / "checkpoints" / "last.safetensors"
    kill_at(data_dir, tmp_path, "tmp-written", 1, resume=last)  # inside the mend's best write
    assert epochs_on_disk(run_dir) == {"last": 2, "best": 1}
    resume(run_dir, data_dir)
    assert_same_as_reference(run_dir, reference)


@pytest.mark.parametrize("point", ["tmp-written", "after-last", "after-best"])
def test_ctrl_c_in_an_epochs_writes_acts_once_the_epoch_is_committed(
    point: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Ctrl-C while epoch 2 is being written: its files are all written, no `.tmp` is left,
    EpochEnd 2 is reported, and only then does the KeyboardInterrupt stop the run."""
    import signal

    import mlp_core.files as run_files

    committed, pressed = 0, False

    def press_ctrl_c(name: str) -> None:
        nonlocal committed, pressed
        committed += name == "after-metrics"
        if name == point and committed == 1 and not pressed:  # in epoch 2's writes
            pressed = True
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(run_files, "crash_hook", press_ctrl_c)
    events: list[Any] = []
    with pytest.raises(KeyboardInterrupt):
        for event in train(
            CONFIG, load_dataset(data_dir), runs_dir=tmp_path, progress_interval=1e9
        ):
            events.append(event)
    run_dir = Path(events[0].run_dir)
    assert [e.epoch for e in events if type(e).__name__ == "EpochEnd"] == [1, 2]
    assert [row["epoch"] for row in read_metrics(run_dir)] == [1, 2]
    assert epochs_on_disk(run_dir) == {"last": 2, "best": 2}
    assert not list(run_dir.rglob("*.tmp"))
    assert load_run(run_dir).status == "stopped"
