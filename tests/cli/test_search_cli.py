"""`mnist-tui search` and `--ray` on the command line: output, errors, kill and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from mlp_core.liveness import file_locked
from mlp_core.runs import load_run
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--val-split", "100", "--batch-size", "64"]


def _dirs(runs_dir: Path, data_dir: Path) -> list[str]:
    return ["--runs-dir", str(runs_dir), "--data-dir", str(data_dir)]


def _one_search_dir(runs_dir: Path) -> Path:
    (found,) = list((runs_dir / "sweeps").iterdir())
    return found


def test_search_prints_trials_best_and_importance(tmp_path, tiny_data_dir, capsys) -> None:
    status = main(["search", *TINY, "--lr", "0.1,0.05,0.00001", "--hidden", "8..32:log",
                   "--epochs", "2", "--trials", "4", "--prune-after", "2",
                   *_dirs(tmp_path, tiny_data_dir)])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0] == ("search: 4 trials (0 done) over hidden 8..32 (log), "
                      "lr in {0.1, 0.05, 1e-05}; median pruning")
    trial_lines = [line for line in out if line.startswith("trial ")]
    assert [line.split()[:3] for line in trial_lines[:3]] == [
        ["trial", "0", "complete"], ["trial", "1", "complete"], ["trial", "2", "pruned"]]
    assert any(line.startswith("best: trial ") for line in out)
    assert out[-2].startswith("importance: ")
    search_dir = _one_search_dir(tmp_path)
    with (search_dir / "results.csv").open(newline="") as handle:
        assert [r["state"] for r in csv.DictReader(handle)][:3] == [
            "complete", "complete", "pruned"]
    listing = subprocess.run(
        [sys.executable, "-m", "tui.cli", "runs", "--runs-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    ).stdout
    assert "pruned" in listing


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--lr", "0.3..0.1"], "LOW must be smaller"),
        (["--epochs", "3"], "nothing to search"),
        (["--lr", "0.01..0.1", "--trials", "0"], "--trials must be at least 1"),
    ],
)
def test_bad_search_options_are_one_error_line(tmp_path, options, message, capsys) -> None:
    assert main(["search", *options, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mnist-tui: error: ") and message in err[0]


@pytest.mark.parametrize("command", ["sweep", "search"])
def test_ray_option_without_ray_names_the_extra(tmp_path, monkeypatch, capsys, command) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    grid = ["--lr", "0.01..0.1"] if command == "search" else ["--lr", "0.01,0.1"]
    assert main([command, *grid, "--ray", "local", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mnist-tui: error: --ray needs Ray, which is not installed: "
                   "pip install 'mnist-tui[ray]'"]


def test_search_without_optuna_names_the_extra(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["search", "--lr", "0.01..0.1", "--runs-dir", str(tmp_path)]) == 2
    assert "pip install 'mnist-tui[optuna]'" in capsys.readouterr().err


def test_killed_controller_resumes_the_same_study(tmp_path, tiny_data_dir, capsys) -> None:
    """kill -9 the controller while its second trial trains; --resume goes on from there."""
    command = [sys.executable, "-m", "tui.cli", "search", *TINY, "--lr", "0.02..0.1:log",
               "--epochs", "40", "--trials", "3", *_dirs(tmp_path, tiny_data_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        for line in process.stderr:
            if line.startswith("  trial 1 epoch 2:") or time.monotonic() > deadline:
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    search_dir = _one_search_dir(tmp_path)
    storage = f"sqlite:///{search_dir / 'study.db'}"
    before = optuna.load_study(study_name=search_dir.name, storage=storage).trials
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]
    killed_run = tmp_path / before[1].user_attrs["run"]
    assert load_run(killed_run).status == "interrupted"

    assert main(["search", "--resume", str(search_dir), "--data-dir", str(tiny_data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("resuming: 3 trials (2 done)")
    after = optuna.load_study(study_name=search_dir.name, storage=storage).trials
    assert [t.state.name for t in after] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert after[0].params == before[0].params  # the same study, grown
    assert after[1].user_attrs["error"] == "controller died"


def test_detached_controller_runs_the_search_to_its_end(tmp_path, tiny_data_dir) -> None:
    """--detach returns at once; the controller (its own session) finishes the study and
    exits, leaving no process behind."""
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "search", *TINY, "--lr", "0.02..0.1", "--epochs", "1",
         "--trials", "2", "--detach", *_dirs(tmp_path, tiny_data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    assert "controller detached" in result.stdout
    search_dir = _one_search_dir(tmp_path)
    lock = search_dir / "controller.lock"
    storage = f"sqlite:///{search_dir / 'study.db'}"

    def finished() -> int:
        trials = optuna.load_study(study_name=search_dir.name, storage=storage).trials
        return sum(t.state.is_finished() for t in trials)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (finished() < 2 or file_locked(lock)):
        time.sleep(0.2)
    pid = int(lock.read_text().strip())
    while time.monotonic() < deadline and _alive(pid):  # the lock goes just before exit
        time.sleep(0.1)
    try:
        assert not file_locked(lock), "the controller did not finish"
        assert not _alive(pid), "the controller is still there"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    study = optuna.load_study(study_name=search_dir.name, storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert "done in" in (search_dir / "controller.log").read_text()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize(
    ("address", "message"),
    [("127.0.0.1:1", "cannot reach a Ray cluster at 127.0.0.1:1"),
     ("nohost", "expected local, auto or HOST:PORT")],
)
@pytest.mark.parametrize("command", ["sweep", "search"])
def test_unreachable_ray_address_is_one_error_before_anything_is_queued(
    tmp_path, capsys, command, address, message
) -> None:
    grid = ["--lr", "0.01..0.1"] if command == "search" else ["--lr", "0.01,0.1"]
    assert main([command, *grid, "--ray", address, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "queue").exists() and not (tmp_path / "sweeps").exists()


def test_device_after_the_command_reaches_the_trials(tmp_path, tiny_data_dir, capsys) -> None:
    """`search ... --device cpu` (or before `search`): the base config's device, each trial's."""
    status = main(["search", *TINY, "--lr", "0.02..0.1", "--epochs", "1", "--trials", "1",
                   *_dirs(tmp_path, tiny_data_dir), "--device", "cpu"])
    assert status == 0, capsys.readouterr().err
    search_dir = _one_search_dir(tmp_path)
    study = optuna.load_study(study_name=search_dir.name,
                              storage=f"sqlite:///{search_dir / 'study.db'}")
    (trial,) = study.trials
    assert load_run(tmp_path / trial.user_attrs["run"]).config.device == "cpu"
    capsys.readouterr()
    again = ["search", "--resume", str(search_dir), "--data-dir", str(tiny_data_dir)]
    assert main([*again, "--device", "cpu"]) == 2
    assert "drop the space options and --device" in capsys.readouterr().err
