"""Runs as processes: a detached run outlives its parent, dies visibly, stops when asked.

Every process spawned here is killed by pid at teardown (`tests/spawned.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from spawned import kill_spawned, spawned_pids

from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import TrainConfig, preset
from mlp_core.liveness import process_start_time
from mlp_core.runproc import LaunchError, launch_run, stop_run
from mlp_core.runs import load_run, read_metrics

ROOT = Path(__file__).resolve().parents[2]


def tiny(**overrides: object) -> TrainConfig:
    values = {"hidden": 16, "epochs": 3, "val_split": 100, "batch_size": 32, "device": "cpu"}
    return preset("default", **{**values, **overrides})


@pytest.fixture(autouse=True)
def reap(tmp_path: Path) -> Iterator[None]:
    yield
    kill_spawned(tmp_path)
    assert not spawned_pids(tmp_path)


def wait_for(check: Callable[[], object], seconds: float, what: str) -> object:
    """Poll `check` until it returns something truthy; fail after `seconds` (a deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {what}")


def raw(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def long_run(tmp_path: Path, data: Path) -> Path:
    """A run that trains until stopped, once its first epoch is on disk."""
    run = launch_run(tmp_path / "runs", tiny(epochs=100000), data_dir=data)
    wait_for(lambda: read_metrics(run), 60, "a first epoch")
    return run


def test_a_detached_run_finishes_after_its_parent_is_gone(tmp_path: Path, tiny_data_dir: Path):
    script = (
        "import sys; from pathlib import Path; from mlp_core.config import preset; "
        "from mlp_core.runproc import launch_run; "
        "c = preset('default', hidden=16, epochs=6, val_split=100, batch_size=32, device='cpu'); "
        "print(launch_run(Path(sys.argv[1]), c, data_dir=Path(sys.argv[2])))"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "runs"), str(tiny_data_dir)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert parent.returncode == 0, parent.stderr
    run = Path(parent.stdout.strip())
    record = raw(run)
    assert record["pid"] != os.getpid() and record["boot_id"] and record["hostname"]
    assert isinstance(record["start_time"], int) and isinstance(record["heartbeat"], float)
    wait_for(lambda: load_run(run).status == "finished", 120, "the run to finish")
    wait_for(lambda: process_start_time(record["pid"]) is None, 30, "the process to exit")
    assert [row["epoch"] for row in read_metrics(run)] == [1, 2, 3, 4, 5, 6]
    assert "finished after 6 epochs" in (run / "stdout.log").read_text()
    assert not list((tmp_path / "runs" / ".launch").iterdir())  # the ticket is cleaned up


def test_the_run_is_detached_refuses_a_second_trainer_and_stops_on_stop_run(
    tmp_path: Path, tiny_data_dir: Path
):
    run = long_run(tmp_path, tiny_data_dir)
    pid = raw(run)["pid"]
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    session, tty = int(stat[3]), int(stat[4])
    assert session != os.getsid(0) and session != pid  # setsid, then a second fork
    assert tty == 0  # no controlling terminal
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/1") == str(run / "stdout.log")
    assert load_run(run).status == "running"
    os.kill(pid, signal.SIGSTOP)  # frozen, so that last.safetensors stays its latest epoch
    try:
        with pytest.raises(LaunchError, match="still training"):  # the lock refuses a resume
            launch_run(tmp_path / "runs", tiny(epochs=100000), data_dir=tiny_data_dir,
                       start=run / "checkpoints" / "last.safetensors")  # fmt: skip
        assert load_run(run).status == "running"  # frozen, but alive: its lock is held
    finally:
        os.kill(pid, signal.SIGCONT)
    assert stop_run(run, grace=30) == "stopped"
    assert raw(run)["status"] == "stopped"
    assert not (run / "STOP").exists() and not (run / "progress.json").exists()
    assert "stopped" in (run / "stdout.log").read_text()


def test_kill_9_reads_interrupted_within_2_s_and_resume_works(
    tmp_path: Path, tiny_data_dir: Path
):
    run = long_run(tmp_path, tiny_data_dir)
    pid = raw(run)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: load_run(run).status == "interrupted", 2.0, "interrupted after kill -9")
    wait_for(lambda: process_start_time(pid) is None, 10, "the process to be gone")
    assert raw(run)["status"] == "running"  # it could not say so itself
    assert stop_run(run) == "interrupted"  # a stop of a dead run is never a silent no-op
    assert raw(run)["status"] == "interrupted"
    last = load_checkpoint(run / "checkpoints" / "last.safetensors")
    resumed = launch_run(
        tmp_path / "runs",
        tiny(epochs=last.epoch + 2),
        data_dir=tiny_data_dir,
        start=run / "checkpoints" / "last.safetensors",
    )
    assert resumed == run  # continued in place
    wait_for(lambda: load_run(run).status == "finished", 60, "the resumed run to finish")
    assert read_metrics(run)[-1]["epoch"] == last.epoch + 2


def test_a_stop_file_alone_stops_the_run(tmp_path: Path, tiny_data_dir: Path):
    run = long_run(tmp_path, tiny_data_dir)
    (run / "STOP").write_text("")
    wait_for(lambda: load_run(run).status == "stopped", 30, "stopped by the STOP file")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_it_cleanly(tmp_path: Path, tiny_data_dir: Path, sig: int):
    run = long_run(tmp_path, tiny_data_dir)
    os.kill(raw(run)["pid"], sig)
    wait_for(lambda: load_run(run).status == "stopped", 30, f"stopped by signal {sig}")
    assert load_checkpoint(run / "checkpoints" / "last.safetensors").epoch >= 1


def test_a_run_that_ignores_stop_is_killed_after_the_grace(tmp_path: Path, tiny_data_dir: Path):
    run = long_run(tmp_path, tiny_data_dir)
    pid = raw(run)["pid"]
    os.kill(pid, signal.SIGSTOP)  # frozen: it reads neither STOP nor SIGTERM
    try:
        assert stop_run(run, grace=0.5) == "interrupted"
    finally:
        if process_start_time(pid) is not None:
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: process_start_time(pid) is None, 10, "the process to be killed")
    assert raw(run)["status"] == "interrupted"


def test_launch_errors_carry_the_childs_reason(tmp_path: Path, tiny_data_dir: Path):
    with pytest.raises(LaunchError, match="nonexistent: data directory does not exist"):
        launch_run(tmp_path / "runs", tiny(), data_dir=tmp_path / "nonexistent")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(LaunchError, match=r"bad\.safetensors"):
        launch_run(tmp_path / "runs", tiny(), data_dir=tiny_data_dir, start=bad)
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name != ".launch"]


def test_a_run_that_ends_between_the_read_and_the_lock_probe_is_not_interrupted(
    tmp_path: Path,
) -> None:
    """A reader read run.json ("running"), then the run wrote "finished" and let its lock
    go, then the reader probed the lock: free. The run is finished, not interrupted."""
    from mlp_core.liveness import identity, judge_status

    run = tmp_path / "run"
    run.mkdir()
    stale = {"status": "running", **identity()}
    (run / "run.json").write_text(json.dumps({**stale, "status": "finished"}))
    assert judge_status(run, stale) == "finished"
    (run / "run.json").write_text(json.dumps(stale))  # still "running" on disk: it died
    assert judge_status(run, stale) == "interrupted"
