"""The liveness judgement without spawning a run, RunFollower, and the logind hint."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from spawned import kill_spawned

from data.mnist import Dataset
from mlp_core.config import preset
from mlp_core.events import CheckpointSaved, EpochEnd, Finished, Progress, RunClosed, RunStarted
from mlp_core.liveness import HEARTBEAT_GRACE, identity, process_start_time
from mlp_core.runproc import RunControl, RunFollower, logind_warning, stop_run
from mlp_core.runs import create_run, load_run, update_run_json
from mlp_core.trainer import train

CONFIG = preset("default", hidden=16, epochs=2, val_split=100, batch_size=32, device="cpu")


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process whose pid a dead run's record will name."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()
    kill_spawned(tmp_path)


def dead_run(tmp_path: Path) -> Path:
    """A run folder recorded "running" whose process (this one) has let go of its lock."""
    info = create_run(tmp_path / "runs", CONFIG)
    info.release()
    return info.path


def test_a_reused_pid_is_never_running(tmp_path: Path, sleeper: subprocess.Popen[bytes]):
    run = dead_run(tmp_path)
    start = process_start_time(sleeper.pid)
    assert start is not None
    update_run_json(run, pid=sleeper.pid, start_time=start + 12345)  # pid reused by `sleep`
    assert load_run(run).status == "interrupted"
    assert stop_run(run, grace=0.2) == "interrupted"
    assert sleeper.poll() is None  # the unrelated process was never signalled
    update_run_json(run, status="running", start_time=start)  # even its true start time:
    assert load_run(run).status == "interrupted"  # the free lock decides


@pytest.mark.parametrize("field", ["hostname", "boot_id"])
def test_another_host_or_boot_is_judged_by_its_heartbeat(tmp_path: Path, field: str):
    run = dead_run(tmp_path)
    update_run_json(run, **{field: "elsewhere"}, heartbeat=time.time())
    assert load_run(run).status == "running"  # the lock proves nothing there
    update_run_json(run, heartbeat=time.time() - HEARTBEAT_GRACE - 5)
    assert load_run(run).status == "lost"
    update_run_json(run, heartbeat=time.time())  # the heartbeat resumed
    assert load_run(run).status == "running"
    update_run_json(run, status="finished")
    assert load_run(run).status == "finished"


def test_the_heartbeat_is_refreshed_while_the_run_lives(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("mlp_core.liveness.HEARTBEAT_SECONDS", 0.05)
    info = create_run(tmp_path / "runs", CONFIG)
    first = json.loads((info.path / "run.json").read_text())["heartbeat"]
    deadline = time.monotonic() + 5
    while json.loads((info.path / "run.json").read_text())["heartbeat"] == first:
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.02)
    update_run_json(info.path, label="kept")  # a note written meanwhile survives the beats
    time.sleep(0.2)
    assert load_run(info.path).label == "kept"
    info.release()


def test_identity_names_this_process() -> None:
    mine = identity()
    assert mine["start_time"] == process_start_time(mine["pid"])
    assert process_start_time(2**22 + 12345) is None


def trained(tiny_dataset: Dataset, tmp_path: Path, epochs: int = 2) -> Path:
    control = RunControl()
    events = train(
        replace(CONFIG, epochs=epochs),
        tiny_dataset,
        runs_dir=tmp_path / "runs",
        progress_interval=0.0,
        should_stop=control.should_stop,
    )
    first = next(events)
    control.started(first, redirect=False)
    for event in events:
        control.observe(event)
    control.close()
    return Path(first.run_dir)


def test_follower_replays_a_finished_run(tiny_dataset: Dataset, tmp_path: Path):
    run = trained(tiny_dataset, tmp_path)
    follower = RunFollower(run)
    events = follower.poll()
    assert follower.done and follower.poll() == []
    assert isinstance(events[0], RunStarted) and events[0].steps_per_epoch == 16
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    assert {e.kind for e in events if isinstance(e, CheckpointSaved)} >= {"last"}
    assert [e.epoch for e in events if isinstance(e, CheckpointSaved) and e.kind == "last"] == [2]
    assert isinstance(events[-1], Finished) and events[-1].status == "finished"
    assert events[-1].epochs_done == 2


def test_follower_follows_a_live_run_and_ignores_a_partial_line(
    tiny_dataset: Dataset, tmp_path: Path
):
    events = train(CONFIG, tiny_dataset, runs_dir=tmp_path / "runs", progress_interval=1e9)
    control = RunControl()
    started = next(events)
    control.started(started, redirect=False)
    run = Path(started.run_dir)
    first, second = RunFollower(run), RunFollower(run)
    assert isinstance(first.poll()[0], RunStarted)
    control.observe(Progress(1, 3, 16, 2.0, 100.0, 1.0))
    assert [type(e) for e in first.poll()] == [Progress]
    assert first.poll() == []  # unchanged progress is not repeated
    next(events)  # epoch 1 ends
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 9, "train_lo')  # a torn line, as a reader may catch it
    polled = first.poll()
    assert [e.epoch for e in polled if isinstance(e, EpochEnd)] == [1]
    assert not first.done and first.status == "running"
    (run / "metrics.jsonl").write_text(
        (run / "metrics.jsonl").read_text().rsplit("\n", 1)[0] + "\n"
    )  # mend the torn line, as the trainer's writer would
    events.close()
    assert load_run(run).status == "stopped"
    end = first.poll()
    assert isinstance(end[-1], Finished) and end[-1].status == "stopped" and first.done
    rest = second.poll()  # a second follower, from the start: replay and end at once
    assert isinstance(rest[0], RunStarted)
    assert [e.epoch for e in rest if isinstance(e, EpochEnd)] == [1]
    assert isinstance(rest[-1], Finished) and second.done
    control.close()


def test_follower_ends_with_run_closed_for_a_dead_run(tmp_path: Path):
    run = dead_run(tmp_path)
    events = RunFollower(run).poll()
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], RunClosed) and events[-1].status == "interrupted"
    assert events[-1].run_dir == str(run)


def test_logind_hint(tmp_path: Path):
    conf = tmp_path / "logind.conf"
    conf.write_text("[Login]\n#KillUserProcesses=no\nKillUserProcesses=yes\n")
    dropins = tmp_path / "logind.conf.d"
    dropins.mkdir()
    no_loginctl = ["/nonexistent/loginctl"]
    hint = logind_warning(confs=(conf, dropins), loginctl=no_loginctl)
    assert hint is not None and "enable-linger" in hint and "systemd-run --user --scope" in hint
    (dropins / "50-keep.conf").write_text("[Login]\nKillUserProcesses=no\n")
    assert logind_warning(confs=(conf, dropins), loginctl=no_loginctl) is None
    says_yes = [sys.executable, "-c", "print('KillUserProcesses=yes')"]
    assert logind_warning(confs=(), loginctl=says_yes) == hint
    says_no = [sys.executable, "-c", "print('KillUserProcesses=no')"]
    assert logind_warning(confs=(conf,), loginctl=says_no) is None
