"""Every printing command ends quietly on a closed pipe (status 141), and a foreground `sweep`
or `search` takes SIGTERM and SIGHUP as Ctrl-C: its jobs or trials stop, status 143 or 129.
Real processes and real pipes, as a shell runs them."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import make_tiny_dataset, write_dataset
from spawned import kill_spawned, spawned_pids

from mlp_core import TrainConfig, train
from mlp_core.jobqueue import list_jobs

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TINY = ["--hidden", "16", "--val-split", "100", "--batch-size", "64"]


@pytest.fixture(autouse=True)
def reap(tmp_path: Path):
    """The queue runner and run processes a sweep spawned: killed by pid, none left."""
    yield
    kill_spawned(tmp_path)
    assert not spawned_pids(tmp_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data dir, a finished 2-epoch run folder in its runs folder)."""
    base = tmp_path_factory.mktemp("pipes")
    data_dir = write_dataset(base / "tiny-data", make_tiny_dataset())
    from data.mnist import load_dataset

    config = TrainConfig(hidden=16, epochs=2, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, load_dataset(data_dir), runs_dir=base / "runs"))
    return data_dir, Path(events[0].run_dir)


def _commands(data_dir: Path, run_dir: Path, runs_dir: Path) -> dict[str, list[str]]:
    data = ["--data-dir", str(data_dir)]
    return {
        "runs --json": ["runs", "--json", "--runs-dir", str(run_dir.parent)],
        "attach": ["attach", str(run_dir)],
        "attach --json": ["attach", str(run_dir), "--json"],
        "eval of a run": ["eval", run_dir.name, "--runs-dir", str(run_dir.parent), *data],
        "export": ["export", str(run_dir), "--out", str(runs_dir.parent / "m.csv")],  # the path
        "export --out -": ["export", str(run_dir), "--out", "-"],
        "gradcheck": ["gradcheck", "--hidden", "8", *data],
        "sweep": ["sweep", *TINY, "--epochs", "1", "--runs-dir", str(runs_dir), *data],
        "search": ["search", *TINY, "--lr", "0.02..0.1", "--epochs", "1", "--trials", "1",
                   "--runs-dir", str(runs_dir), *data],
    }  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["runs --json", "attach", "attach --json", "eval of a run", "export", "export --out -",
     "gradcheck", "sweep", "search"],
)  # fmt: skip
def test_a_reader_gone_before_the_first_line_is_status_141(
    name: str, run: tuple[Path, Path], tmp_path: Path
) -> None:
    args = _commands(*run, tmp_path / "runs")[name]
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| true`: the reader is gone before the first write
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
            env=ENV,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert not (tmp_path / "runs" / "jobs").exists() or not [
        job for job in list_jobs(tmp_path / "runs") if job.state in ("waiting", "running")
    ]  # a sweep that could not say its first line leaves nothing queued


def test_runs_piped_into_head_ends_quietly(run: tuple[Path, Path], tmp_path: Path) -> None:
    """`runs | head -1` through a shell: the pipeline's status is head's, nothing on stderr."""
    runs_dir = run[1].parent
    command = f"{sys.executable} -m tui.cli runs --runs-dir {runs_dir} | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, env=ENV,
    )  # fmt: skip
    assert result.returncode in (0, 141), result.stderr  # 141 when head closed before the end
    assert result.stdout.split()[:2] == ["name", "config"] and result.stderr == ""


def _popen(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def _wait_for_line(stream, prefix: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    for line in stream:
        if line.startswith(prefix):
            return
        assert time.monotonic() < deadline and process.poll() is None, line
    raise AssertionError(f"no line starting {prefix!r}")


def _sweep_states(runs_dir: Path) -> list[str]:
    csv_path = next((runs_dir / "sweeps").glob("*/results.csv"))
    with csv_path.open(newline="") as handle:
        return [row["status"] for row in csv.DictReader(handle)]


def test_a_reader_gone_mid_sweep_cancels_the_rest(tiny_data_dir: Path, tmp_path: Path) -> None:
    """`sweep | head -2`: the first job's row is the write that fails; the second job, still
    training, is stopped and cancelled rather than left training for no one."""
    runs_dir = tmp_path / "runs"
    process = _popen(["sweep", *TINY, "--epochs", "1,500", "--runs-dir", str(runs_dir),
                      "--data-dir", str(tiny_data_dir)], tmp_path)  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        _wait_for_line(process.stdout, "job", process)  # the table's header
        process.stdout.close()  # the reader goes away
        err = process.stderr.read()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 141, err
    assert "Traceback" not in err
    assert _sweep_states(runs_dir) == ["done", "cancelled"]


def test_sigterm_to_a_foreground_sweep_cancels_it_as_ctrl_c(
    tiny_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    process = _popen(["sweep", *TINY, "--epochs", "500", "--seed", "0,1", "--runs-dir",
                      str(runs_dir), "--data-dir", str(tiny_data_dir)], tmp_path)  # fmt: skip
    try:
        assert process.stderr is not None
        _wait_for_line(process.stderr, "  job 1/2 epoch", process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, err
    assert "stopped by SIGTERM; results so far in" in err and "Traceback" not in err
    assert _sweep_states(runs_dir) == ["cancelled", "cancelled"]
    run_json = json.loads(next(runs_dir.glob("*/run.json")).read_text())
    assert run_json["status"] == "stopped"  # the running job stopped after its batch


def test_sighup_to_a_foreground_search_stops_its_trial(tiny_data_dir: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    process = _popen(["search", *TINY, "--lr", "0.02..0.1", "--epochs", "500", "--trials", "2",
                      "--runs-dir", str(runs_dir), "--data-dir", str(tiny_data_dir)],
                     tmp_path)  # fmt: skip
    try:
        assert process.stderr is not None
        _wait_for_line(process.stderr, "  trial 0 epoch 2:", process)
        process.send_signal(signal.SIGHUP)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 129, err
    assert "stopped by SIGHUP; resume with: mnist-tui search --resume" in err
    assert "Traceback" not in err
    (search_dir,) = (runs_dir / "sweeps").iterdir()
    study = optuna.load_study(
        study_name=search_dir.name, storage=f"sqlite:///{search_dir / 'study.db'}"
    )
    (trial,) = study.trials
    assert trial.state.name == "FAIL" and trial.user_attrs.get("error") == "stopped"
    run_json = json.loads((runs_dir / trial.user_attrs["run"] / "run.json").read_text())
    assert run_json["status"] == "stopped"
