"""The file queue and its runner process: claims by rename, device locks, a runner that dies.

Every process spawned here is killed by pid at teardown (`tests/spawned.py`).
"""

from __future__ import annotations

import csv
import fcntl
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from spawned import kill_spawned, spawned_pids

from mlp_core import jobqueue
from mlp_core.config import preset
from mlp_core.grid import expand_grid
from mlp_core.jobqueue import (
    QueueError,
    cancel_job,
    clear_ended,
    enqueue,
    ensure_runner,
    list_jobs,
    remove_job,
    stop_queue,
)
from mlp_core.liveness import file_locked, process_start_time
from mlp_core.runs import load_run, read_metrics
from mlp_core.sweep import new_sweep, results_paths

BASE = preset("default", hidden=16, epochs=1, val_split=100, batch_size=32, device="cpu")


@pytest.fixture(autouse=True)
def reap(tmp_path: Path) -> Iterator[None]:
    yield
    kill_spawned(tmp_path)
    assert not spawned_pids(tmp_path)


def wait_for(check: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def states(runs: Path) -> list[str]:
    return [job.state for job in list_jobs(runs)]


def test_jobs_are_files_and_states_are_their_names(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    jobs = enqueue(runs, [BASE, BASE, BASE], sweep="s")
    assert [job.path.name for job in jobs] == [f"{job.id}.waiting.json" for job in jobs]
    assert [job.id for job in list_jobs(runs)] == sorted(job.id for job in jobs)
    cancel_job(runs, jobs[1].id)
    assert states(runs) == ["waiting", "cancelled", "waiting"]
    with pytest.raises(QueueError, match="only waiting or running"):
        cancel_job(runs, jobs[1].id)
    os.rename(jobs[0].path, jobs[0].path.with_name(f"{jobs[0].id}.running.json"))  # a claim
    with pytest.raises(QueueError, match="cancel it first"):
        remove_job(runs, jobs[0].id)
    remove_job(runs, jobs[2].id)
    assert states(runs) == ["running", "cancelled"]
    assert clear_ended(runs) == 1 and states(runs) == ["running"]
    with pytest.raises(QueueError, match="no job"):
        remove_job(runs, "nope")
    assert list_jobs(runs)[0].config == BASE and list_jobs(runs)[0].sweep == "s"


def test_a_cancel_and_a_claim_never_both_win(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (job,) = enqueue(runs, [BASE])
    os.rename(job.path, job.path.with_name(f"{job.id}.running.json"))  # the runner won
    cancel_job(runs, job.id)  # so the cancel asks the running job to stop instead
    (now,) = list_jobs(runs)
    assert now.state == "running" and now.cancel


def test_no_runner_without_waiting_jobs(tmp_path: Path) -> None:
    assert ensure_runner(tmp_path / "runs", ["cpu"]) is None
    assert not spawned_pids(tmp_path)


def test_a_grid_survives_its_runner_being_killed(tmp_path: Path, tiny_data_dir: Path) -> None:
    runs = tmp_path / "runs"
    slow = preset("default", hidden=16, epochs=40, val_split=100, batch_size=32, device="cpu")
    configs = expand_grid(slow, {"hidden": "16,24", "lr": "0.05,0.1"})  # a 2x2 grid
    sweep = new_sweep(runs, configs).name
    first_runner = ensure_runner(runs, ["cpu"], data_dir=tiny_data_dir)
    assert first_runner is not None
    assert ensure_runner(runs, ["cpu"], data_dir=tiny_data_dir) is None  # one runner only
    running = wait_for(
        lambda: [j for j in list_jobs(runs) if j.state == "running" and j.run_dir], 60, "a job"
    )[0]
    wait_for(lambda: read_metrics(running.run_dir), 60, "its first epoch")
    os.kill(first_runner, signal.SIGKILL)  # the runner dies mid-queue
    wait_for(lambda: not jobqueue.runner_alive(runs), 5, "the runner lock to be free")
    assert file_locked(runs / "queue" / "device-cpu.lock")  # held by the run, not the runner
    wait_for(lambda: load_run(running.run_dir).status == "finished", 120, "the job to finish")
    lock = runs / "queue" / "device-cpu.lock"
    wait_for(lambda: not file_locked(lock), 30, "the run's exit to free its device")
    time.sleep(0.5)  # no runner: nothing else starts
    assert states(runs) == ["done", "waiting", "waiting", "waiting"]
    second_runner = ensure_runner(runs, ["cpu", "auto"], data_dir=tiny_data_dir)  # one device
    assert second_runner is not None and second_runner != first_runner
    wait_for(lambda: list_jobs(runs)[1].run_dir, 60, "a waiting job to start")
    stop_queue(runs)  # to keep the test short: that job stops, the rest stay waiting
    wait_for(lambda: process_start_time(second_runner) is None, 120, "the runner to exit")
    final = states(runs)
    assert final == ["done", "cancelled", "waiting", "waiting"]
    with results_paths(runs, sweep)[0].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == final
    assert [(row["hidden"], row["lr"]) for row in rows] == [
        ("16", "0.05"), ("16", "0.1"), ("24", "0.05"), ("24", "0.1"),
    ]  # fmt: skip
    assert rows[0]["epochs"] == "40" and rows[0]["run"] == running.run_dir.name


def test_the_runner_runs_the_queue_and_exits(tmp_path: Path, tiny_data_dir: Path) -> None:
    runs = tmp_path / "runs"
    bad = preset("default", hidden=16, epochs=1, val_split=10_000, device="cpu")  # too big
    sweep = new_sweep(runs, [BASE, bad, replace(BASE, seed=1)]).name
    runner = ensure_runner(runs, [], data_dir=tiny_data_dir)
    assert runner is not None
    wait_for(lambda: process_start_time(runner) is None, 120, "the runner to exit")
    jobs = list_jobs(runs)
    assert [job.state for job in jobs] == ["done", "failed", "done"]
    assert "val_split" in jobs[1].error
    assert all(load_run(job.run_dir).status == "finished" for job in (jobs[0], jobs[2]))
    markdown = results_paths(runs, sweep)[1].read_text()
    assert markdown.count("| done |") == 2 and "| failed |" in markdown


def test_device_locks_keep_one_job_per_device(tmp_path: Path, tiny_data_dir: Path) -> None:
    runs = tmp_path / "runs"
    lock = runs / "queue" / "device-cpu.lock"
    lock.parent.mkdir(parents=True)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)  # as a run on that device would hold it
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        enqueue(runs, [BASE])
        runner = ensure_runner(runs, ["cpu"], data_dir=tiny_data_dir)
        assert runner is not None
        time.sleep(1.5)
        assert states(runs) == ["waiting"]  # the device is taken: nothing launched
    finally:
        os.close(holder)
    wait_for(lambda: states(runs) == ["done"], 120, "the job once the device is free")
    wait_for(lambda: process_start_time(runner) is None, 30, "the runner to exit")
