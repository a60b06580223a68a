"""`mnist-tui sweep`: through its function, and in a subprocess for --json and Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spawned import kill_spawned, spawned_pids

from tui.cli import main
from tui.sweep_cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--epochs", "1", "--val-split", "100"]


@pytest.fixture(autouse=True)
def reap(tmp_path: Path):
    """The queue runner and the run processes a sweep spawned: killed by pid, none left."""
    yield
    kill_spawned(tmp_path)
    assert not spawned_pids(tmp_path)


def _sweep_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "sweep", *options]


def _dirs(runs_dir: Path, data_dir: Path) -> list[str]:
    return ["--runs-dir", str(runs_dir), "--data-dir", str(data_dir)]


def test_sweep_prints_count_rows_and_paths(tmp_path: Path, tiny_data_dir: Path, capsys) -> None:
    status = main(
        [
            "sweep",
            *TINY,
            "--hidden",
            "16,24",
            "--lr",
            "0.05,0.1",
            "--runs-dir",
            str(tmp_path),
            "--data-dir",
            str(tiny_data_dir),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert status == EXIT_OK
    assert out[0] == "sweep: 4 runs (hidden 2 x lr 2), preset default, one at a time"
    assert out[2].split()[:4] == ["job", "hidden", "lr", "status"]
    rows = [line.split() for line in out[3:7]]
    assert [row[:4] for row in rows] == [
        ["1", "16", "0.05", "done"],
        ["2", "16", "0.1", "done"],
        ["3", "24", "0.05", "done"],
        ["4", "24", "0.1", "done"],
    ]
    csv_path = Path(out[-2].removeprefix("results: "))
    md_path = Path(out[-1].strip())
    assert csv_path.parent.parent == tmp_path / "sweeps" and md_path.name == "results.md"
    with csv_path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["run"] for r in table] == [row[-1] for row in rows]
    assert all((tmp_path / r["run"] / "run.json").is_file() for r in table)


def test_bad_value_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    status = main(["sweep", "--hidden", "16,wide", "--runs-dir", str(tmp_path)])
    assert status == EXIT_ERROR
    assert "hidden: 'wide' is not a whole number" in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_missing_device_is_an_error(tmp_path: Path, tiny_data_dir: Path, capsys) -> None:
    status = main(["sweep", *TINY, "--devices", "cpu,cuda:99", *_dirs(tmp_path, tiny_data_dir)])
    assert status == EXIT_ERROR
    assert "cuda:99" in capsys.readouterr().err


def test_diverged_job_gives_status_1_and_the_rest_run(
    tmp_path: Path, tiny_data_dir: Path, capsys
) -> None:
    status = main(["sweep", *TINY, "--lr", "1e9,0.05", *_dirs(tmp_path, tiny_data_dir)])
    out = capsys.readouterr().out
    assert status == EXIT_JOBS_FAILED
    assert "diverged" in out and "1 done, 1 diverged" in out


def test_json_lines_in_a_subprocess(tmp_path: Path, tiny_data_dir: Path) -> None:
    done = subprocess.run(
        _sweep_command(*TINY, "--seed", "0,1", "--json", *_dirs(tmp_path, tiny_data_dir)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == EXIT_OK, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "SweepStarted" and names[-1] == "SweepFinished"
    assert names.count("JobStarted") == 2 and names.count("JobFinished") == 2
    assert events[-1]["counts"]["done"] == 2
    assert "sweep: 2 runs (seed 2)" in done.stderr  # the human line stays off stdout


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_stops_cleanly_with_130(tmp_path: Path, tiny_data_dir: Path) -> None:
    process = subprocess.Popen(
        _sweep_command(
            *("--hidden", "16", "--val-split", "100", "--epochs", "500", "--seed", "0,1"),
            *_dirs(tmp_path, tiny_data_dir),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    deadline = time.monotonic() + 60
    while "epoch" not in line and time.monotonic() < deadline:
        line = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "interrupted; results so far in" in err
    csv_path = next((tmp_path / "sweeps").glob("*/results.csv"))
    with csv_path.open(newline="") as handle:
        states = [row["status"] for row in csv.DictReader(handle)]
    assert states == ["cancelled", "cancelled"]  # queued jobs would outlive the command
    run_json = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    assert run_json["status"] == "stopped"


def test_detach_queues_the_jobs_and_they_train_on(tmp_path: Path, tiny_data_dir: Path) -> None:
    from mlp_core.jobqueue import list_jobs

    done = subprocess.run(
        _sweep_command(*TINY, "--seed", "0,1", "--detach", *_dirs(tmp_path, tiny_data_dir)),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    assert "queued in" in done.stdout
    deadline = time.monotonic() + 120
    while [job.state for job in list_jobs(tmp_path)] != ["done", "done"]:
        assert time.monotonic() < deadline, [job.state for job in list_jobs(tmp_path)]
        time.sleep(0.1)
    csv_path = next((tmp_path / "sweeps").glob("*/results.csv"))
    deadline = time.monotonic() + 30
    while "done" not in csv_path.read_text() or csv_path.read_text().count("done") < 2:
        assert time.monotonic() < deadline, csv_path.read_text()  # written by the runner
        time.sleep(0.1)
