"""Bad input of every kind is one line `mnist-tui: error: ...` and exit 2, never a traceback
(issue 13's list): options out of range, memory, checkpoints that would crash a resume, damaged
or hostile run folders, a pipe closed early. Run through `main()` in this process where that is
the same thing (an uncaught exception would fail the test), in a subprocess where it is not."""

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
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

import mlp_core.checkpoint as checkpoint_module
from mlp_core import TrainConfig, train
from mlp_core.checkpoint import tensors_digest
from mlp_core.model import MLP
from mlp_core.runs import create_run, list_runs, load_run
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--batch-size", "64", "--val-split", "100", "--device", "cpu"]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(status: int, err: str, *needles: str) -> None:
    assert status == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("mnist-tui: error: ")
    for needle in needles:
        assert needle in line, line


def cli(*args: str, cwd: Path, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data dir, a finished 2-epoch run folder trained on it)."""
    base = tmp_path_factory.mktemp("hostile")
    data_dir = write_dataset(base / "tiny-data", make_tiny_dataset())
    from data.mnist import load_dataset

    config = TrainConfig(hidden=16, epochs=2, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, load_dataset(data_dir), runs_dir=base / "runs"))
    return data_dir, Path(events[0].run_dir)


def rewrite(source: Path, target: Path, change: Any) -> Path:
    """A copy of checkpoint `source` with `change(tensors, metadata)` applied and a fresh
    digest, so that the one defect under test is the only one."""
    payload = source.read_bytes()
    header_len = int.from_bytes(payload[:8], "little")
    metadata = json.loads(payload[8 : 8 + header_len])["__metadata__"]
    tensors = dict(safetensors_load(payload))
    change(tensors, metadata)
    metadata["tensors_sha256"] = tensors_digest(tensors)
    target.write_bytes(safetensors_save(tensors, metadata=metadata))
    return target


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--seed", str(2**64 - 1), "seed must be a whole number from 0 to 2**63-1"),
        ("--seed", str(2**64), "seed"),
        ("--lr", "1e308", "lr must be at most 1e+30"),
        ("--weight-decay", "1e300", "weight_decay must be at most"),
    ],
)
def test_out_of_range_options(
    option: str, value: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _out, err = run_main(["train", option, value, "--runs-dir", str(tmp_path)], capsys)
    assert_one_error_line(status, err, needle)
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:116] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 15728640000 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
    ids=["torch-allocator", "python"],
)
def test_cpu_out_of_memory_says_what_to_lower(
    error: BaseException,
    trained: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_memory(*_args: Any) -> torch.Tensor:
        raise error

    monkeypatch.setattr(MLP, "loss_and_backward", no_memory)
    argv = ["train", "--data-dir", str(trained[0]), "--runs-dir", str(tmp_path), *TINY]
    status, _out, err = run_main([*argv, "--epochs", "1"], capsys)
    assert_one_error_line(status, err, "not enough CPU memory", "lower --batch-size or --hidden")
    (run,) = list_runs(tmp_path)
    assert run.status == "failed" and "lower --batch-size" in run.error


# -- checkpoints ------------------------------------------------------------------------------


def _short_rng(t: dict, _m: dict) -> None:
    t["rng.batch_order"] = t["rng.batch_order"][:100].clone()


def _bad_buffer(t: dict, _m: dict) -> None:
    t["optimizer.fc1.weight.momentum_buffer"] = torch.zeros(3, 3)


def _fp16(t: dict, _m: dict) -> None:
    t["fc1.weight"] = t["fc1.weight"].half()


def _int8(t: dict, _m: dict) -> None:
    t["fc2.weight"] = t["fc2.weight"].to(torch.int8)


def _metadata(**changes: str) -> Any:
    return lambda _t, m: m.update(changes)


def _seed_2_64(_t: dict, m: dict) -> None:
    config = json.loads(m["config"])
    m["config"] = json.dumps({**config, "seed": 2**64})


HOSTILE_CHECKPOINTS = {
    "short-rng-state": (_short_rng, "rng.batch_order"),
    "optimizer-buffer-shape": (_bad_buffer, "momentum_buffer has shape (3, 3)"),
    "metrics-a-string": (_metadata(metrics='"5"'), "metrics must be a JSON object"),
    "metrics-a-list": (_metadata(metrics="[1, 2]"), "metrics must be a JSON object"),
    "metrics-wrong-epoch": (_metadata(metrics='{"epoch": 7}'), "metrics are of epoch 7"),
    "seed-2**64-in-config": (_seed_2_64, "seed"),
    "float16-weights": (_fp16, "fc1.weight is F16"),
    "int8-weights": (_int8, "fc2.weight is I8"),
    "negative-epoch": (_metadata(epoch="-3"), "bad metadata"),
    "absurd-epoch": (_metadata(epoch="1000000000"), "outside 1..2"),
}


@pytest.mark.parametrize("name", list(HOSTILE_CHECKPOINTS))
def test_a_checkpoint_a_resume_would_crash_on_is_refused_by_eval_and_resume(
    name: str, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, needle = HOSTILE_CHECKPOINTS[name]
    last = trained[1] / "checkpoints" / "last.safetensors"
    bad = rewrite(last, tmp_path / f"{name}.safetensors", change)
    runs = tmp_path / "runs"
    for argv in (
        ["train", "--resume", str(bad), "--epochs", "3", "--runs-dir", str(runs)],
        ["eval", str(bad)],
    ):
        status, _out, err = run_main([*argv, "--data-dir", str(trained[0])], capsys)
        assert_one_error_line(status, err, str(bad), needle)
    assert not runs.exists()  # refused before any run folder was made


def test_a_checkpoint_without_its_digest_is_refused(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = (trained[1] / "checkpoints" / "last.safetensors").read_bytes()
    header_len = int.from_bytes(payload[:8], "little")
    metadata = json.loads(payload[8 : 8 + header_len])["__metadata__"]
    del metadata["tensors_sha256"]
    bad = tmp_path / "nodigest.safetensors"
    bad.write_bytes(safetensors_save(dict(safetensors_load(payload)), metadata=metadata))
    status, _out, err = run_main(["eval", str(bad), "--data-dir", str(trained[0])], capsys)
    assert_one_error_line(status, err, "no tensors_sha256")


def test_nan_weights_are_refused_for_resume_and_flagged_by_eval(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def poison(t: dict, _m: dict) -> None:
        t["fc2.bias"] = t["fc2.bias"].clone()
        t["fc2.bias"][3] = float("nan")

    bad = rewrite(trained[1] / "checkpoints" / "last.safetensors", tmp_path / "nan.st", poison)
    data = ["--data-dir", str(trained[0])]
    runs = tmp_path / "runs"
    status, _out, err = run_main(
        ["train", "--resume", str(bad), "--epochs", "3", "--runs-dir", str(runs), *data], capsys
    )
    assert_one_error_line(status, err, "fc2.bias hold NaN or infinite values")
    assert not runs.exists()
    status, out, err = run_main(["eval", str(bad), "--json", *data], capsys)
    assert status == 0
    assert "warning: fc2.bias hold NaN or infinite values" in err
    assert json.loads(out)["non_finite"] == ["fc2.bias"]


def test_a_huge_sparse_file_is_refused_from_its_header_alone(
    trained: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2 GB that are mostly holes: the header claims a tensor no config can have."""
    metadata = json.loads(
        (lambda p: p[8 : 8 + int.from_bytes(p[:8], "little")])(
            (trained[1] / "checkpoints" / "last.safetensors").read_bytes()
        )
    )["__metadata__"]
    size, header_len = 2 * 1024**3, 8192
    data = size - 8 - header_len
    header = {
        "__metadata__": metadata,
        "fc1.weight": {"dtype": "F32", "shape": [data // 4 // 784, 784], "data_offsets": [0, data]},
    }
    raw = json.dumps(header).encode().ljust(header_len)
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as handle:
        handle.write(len(raw).to_bytes(8, "little") + raw)
        handle.truncate(size)

    def never(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("tensors were read")

    monkeypatch.setattr(checkpoint_module, "safe_open", never)
    status, _out, err = run_main(["eval", str(path)], capsys)
    assert_one_error_line(status, err, str(path))
    assert path.stat().st_blocks * 512 < 1024**2  # the test file itself stayed sparse


# -- the data set a checkpoint was trained on -------------------------------------------------


def test_eval_uses_the_recorded_data_set_or_names_the_data_dir_to_give(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, run_dir = trained
    last = str(run_dir / "checkpoints" / "last.safetensors")
    status, out, err = run_main(["eval", last, "--json"], capsys)  # no --data-dir
    assert status == 0 and f"note: using the data set the checkpoint was trained on: {data_dir}"
    assert str(data_dir) in err and json.loads(out)["count"] == 200  # the tiny set, not MNIST
    other = write_dataset(tmp_path / "other-set", make_tiny_dataset(seed=1))
    status, _out, err = run_main(["eval", last, "--data-dir", str(other)], capsys)
    assert_one_error_line(status, err, "trained on 'tiny-data', not on 'other-set'", str(data_dir))


# -- run folders ------------------------------------------------------------------------------


def _one_run(tmp_path: Path) -> Path:
    info = create_run(tmp_path, TrainConfig(hidden=8, device="cpu"), dataset="tiny")
    info.status = "finished"
    from mlp_core.runs import append_metrics, save_run_info

    save_run_info(info)
    append_metrics(info.path, {"epoch": 1, "val_accuracy": 0.5, "seconds": 2.0, "is_best": True})
    append_metrics(info.path, {"epoch": 2, "val_accuracy": 0.6, "seconds": 2.0, "is_best": True})
    info.release()  # create_run holds the run's lock, as a trainer does; this one has ended
    return info.path


def _edit_run_json(run: Path, **changes: Any) -> None:
    raw = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**raw, **changes}))


@pytest.mark.parametrize("sort", ["name", "val", "time", "test"])
def test_damaged_metrics_and_run_json_fields_still_list(
    sort: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _one_run(tmp_path / "runs")
    with open(run / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"epoch": 3, "val_accuracy": "high", "seconds": "slow"}\n')
        handle.write(b'{"epoch": 4, "note": "\xff\xfe bad utf-8"}\n')
    _edit_run_json(run, pid=10**30, status="running", label=["x"])
    status, out, err = run_main(
        ["runs", "--sort", sort, "--runs-dir", str(tmp_path / "runs")], capsys
    )
    assert status == 0, err
    assert "interrupted" in out and "4/10" not in out  # the bad line is skipped, not fatal
    assert load_run(run).pid is None
    rows = [json.loads(line) for line in _runs_json(tmp_path / "runs", capsys)]
    assert rows[0]["seconds"] == 4.0 and rows[0]["epochs_done"] == 3
    status, _out, err = run_main(["export", str(run), "--out", str(tmp_path / "m.csv")], capsys)
    assert status == 0, err


def _runs_json(runs: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    status, out, _err = run_main(["runs", "--json", "--runs-dir", str(runs)], capsys)
    assert status == 0
    return out.splitlines()


def test_a_run_json_nested_too_deeply_or_a_link_loop_lists_as_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    deep = _one_run(runs)
    (deep / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    looped = runs / "20200101-000000-loop"
    looped.mkdir()
    (looped / "run.json").symlink_to(looped / "run.json")
    (runs / "20200101-000001-dangling").symlink_to(runs / "20200101-000001-dangling")
    rows = [json.loads(line) for line in _runs_json(runs, capsys)]
    assert [row["status"] for row in rows] == ["unreadable"] * 3
    reasons = " ".join(row["error"] for row in rows)
    assert "nested too deeply" in reasons and "symbolic links" in reasons
    assert "leads nowhere" in reasons


def test_a_run_json_that_is_a_fifo_does_not_hang_runs(tmp_path: Path) -> None:
    run = _one_run(tmp_path / "runs")
    (run / "run.json").unlink()
    os.mkfifo(run / "run.json")
    result = cli("runs", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "unreadable" in result.stdout or "not a regular file" in result.stdout


def test_runs_on_a_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "runs").write_text("not a folder")
    status, _out, err = run_main(["runs", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert_one_error_line(status, err, "not a folder of runs")


def test_labels_and_names_lose_their_escape_sequences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _one_run(tmp_path / "runs")
    _edit_run_json(run, label="\x1b[2J\x1b]0;owned\x07evil\x9b31m", note="a\nb")
    status, out, _err = run_main(["runs", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert status == 0 and "[evil]" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b")


# -- a closed pipe ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["runs", "eval"])
def test_a_reader_that_goes_away_is_not_a_traceback(
    command: str, trained: tuple[Path, Path], tmp_path: Path
) -> None:
    args = (
        ["runs", "--runs-dir", str(trained[1].parent)]
        if command == "runs"
        else [
            "eval",
            str(trained[1] / "checkpoints" / "last.safetensors"),
            "--data-dir",
            str(trained[0]),
        ]
    )
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| true`: the reader is gone before the first write
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
