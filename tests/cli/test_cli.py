"""The `mnist-tui` command in a subprocess, as a user or a script runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlp_core.checkpoint import load_checkpoint

TINY = ["--hidden", "16", "--batch-size", "32", "--val-split", "100"]


def mnist_tui(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_train_prints_a_line_per_epoch_and_saves_a_run(tmp_path: Path, tiny_data_dir: Path):
    result = mnist_tui(
        "train", "--data-dir", str(tiny_data_dir), "--epochs", "2", *TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2
    assert "unverified" in result.stdout  # a user's data set that is not MNIST is named so
    assert "finished after 2 epochs" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.safetensors").is_file()
    assert load_checkpoint(run_dir / "checkpoints" / "last.safetensors").epoch == 2


def test_json_prints_one_object_per_event(tmp_path: Path, tiny_data_dir: Path):
    result = mnist_tui(
        "train", "--json", "--data-dir", str(tiny_data_dir), "--epochs", "2", *TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    names = [event["event"] for event in events]
    assert names[0] == "RunStarted" and names[-1] == "Finished"
    assert names.count("EpochEnd") == 2
    assert events[-1]["status"] == "finished"


def test_runs_lists_the_runs(tmp_path: Path, tiny_data_dir: Path):
    mnist_tui("train", "--data-dir", str(tiny_data_dir), "--epochs", "1", *TINY, cwd=tmp_path)
    table = mnist_tui("runs", cwd=tmp_path)
    assert table.returncode == 0
    header, row = table.stdout.splitlines()
    assert header.split()[:2] == ["name", "config"]
    assert "h16" in row and "1/1" in row and "finished" in row
    rows = [
        json.loads(line) for line in mnist_tui("runs", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert rows[0]["epochs_done"] == 1 and rows[0]["status"] == "finished"


def test_resume_continues_the_run_in_place(tmp_path: Path, tiny_data_dir: Path):
    mnist_tui("train", "--data-dir", str(tiny_data_dir), "--epochs", "1", *TINY, cwd=tmp_path)
    (run_dir,) = (tmp_path / "runs").iterdir()
    last = run_dir / "checkpoints" / "last.safetensors"
    result = mnist_tui(
        "train",
        "--resume",
        str(last),
        "--epochs",
        "3",
        "--data-dir",
        str(tiny_data_dir),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "resuming after epoch 1" in result.stdout
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]
    assert load_checkpoint(last).epoch == 3
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--lr", "-1"], "lr must be greater than 0"),
        (["train", "--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (["train", "--device", "cuda:7", *TINY], "cuda"),
        (["train", "--resume", "/nonexistent/last.safetensors"], "no such checkpoint"),
        (["eval", "/nonexistent/last.safetensors"], "no such checkpoint"),
        (["eval", "/nonexistent/last.safetensors", "--device", "cuda:x"], "no such checkpoint"),
        (["train", "--runs-dir", "/proc/no/runs", *TINY, "--epochs", "1"], "/proc/no"),
        (["train", "--resume", "x.safetensors", "--preset", "lab"], "--preset and --resume"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str):
    result = mnist_tui(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mnist-tui: error:") and message in line


def test_corrupt_checkpoint_is_named(tmp_path: Path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00not a checkpoint at all")
    result = mnist_tui("eval", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_keeps_checkpoints_whole_and_exits_130(tmp_path: Path, tiny_data_dir: Path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "train",
            "--data-dir",
            str(tiny_data_dir),
            "--epochs",
            "100000",
            *TINY,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert process.stdout is not None
    while not process.stdout.readline().startswith("epoch   2/"):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    epochs_done = len((run_dir / "metrics.jsonl").read_text().splitlines())
    assert f"during epoch {epochs_done + 1};" in stderr
    assert load_checkpoint(run_dir / "checkpoints" / "last.safetensors").epoch >= 2
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    assert not list((run_dir / "checkpoints").glob("*.tmp"))


@pytest.mark.slow
def test_one_epoch_on_mnist_reaches_95_percent_and_eval_agrees(tmp_path: Path):
    result = mnist_tui("train", "--epochs", "1", "--json", "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (epoch,) = [e for e in events if e["event"] == "EpochEnd"]
    assert epoch["test_accuracy"] >= 0.95
    (run_dir,) = (tmp_path / "runs").iterdir()
    evaluation = mnist_tui(
        "eval", str(run_dir / "checkpoints" / "last.safetensors"), "--json", cwd=tmp_path
    )
    assert evaluation.returncode == 0, evaluation.stderr
    figures = json.loads(evaluation.stdout)
    assert figures["accuracy"] == pytest.approx(epoch["test_accuracy"], abs=1e-9)
    assert sum(map(sum, figures["confusion"])) == 10_000


def test_runs_sorts_by_a_column(tmp_path: Path, tiny_data_dir: Path):
    for hidden in ("8", "24", "16"):
        mnist_tui(
            "train",
            "--data-dir",
            str(tiny_data_dir),
            "--epochs",
            "1",
            "--hidden",
            hidden,
            "--val-split",
            "100",
            cwd=tmp_path,
        )

    def column(index: int, *options: str) -> list[str]:
        lines = mnist_tui("runs", *options, cwd=tmp_path).stdout.splitlines()[1:]
        return [line.split()[index] for line in lines]

    assert column(1, "--sort", "hidden") == ["h8", "h16", "h24"]
    assert column(1, "--sort", "hidden", "--reverse") == ["h24", "h16", "h8"]
    names = column(0)
    assert names == sorted(names, reverse=True)  # time-sortable names: newest first


def test_options_before_the_command_apply_to_it(tmp_path: Path, tiny_data_dir: Path):
    result = mnist_tui(
        "--runs-dir",
        "elsewhere",
        "--data-dir",
        str(tiny_data_dir),
        "--device",
        "cpu",
        "train",
        "--epochs",
        "1",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / "runs").exists()
    assert "on cpu" in result.stdout and "data tiny-data" in result.stdout


def test_export_writes_the_metrics_as_csv(tmp_path: Path, tiny_data_dir: Path):
    mnist_tui("train", "--data-dir", str(tiny_data_dir), "--epochs", "2", *TINY, cwd=tmp_path)
    (run_dir,) = (tmp_path / "runs").iterdir()
    result = mnist_tui("export", str(run_dir), "--out", "m.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, *rows = (tmp_path / "m.csv").read_text().splitlines()
    assert header.startswith("epoch,") and [row.split(",")[0] for row in rows] == ["1", "2"]
    missing = mnist_tui("export", str(tmp_path / "nothing"), cwd=tmp_path)
    assert missing.returncode == 2 and "nothing: no such run" in missing.stderr
