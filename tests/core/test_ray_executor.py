"""Jobs on a local Ray instance with two fake GPUs, mirrored into a local runs folder.

One Ray instance for the module (starting one takes seconds on the 2-core CI machine); its
processes are checked gone at the end. The jobs train on the CPU with the tiny data set: the
fake GPUs only give Ray something to place, and each task sees the CUDA_VISIBLE_DEVICES it got.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import ray

from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import preset
from mlp_core.events import EpochEnd, Finished, RunStarted
from mlp_core.jobqueue import Runner, cancel_job, enqueue, list_jobs
from mlp_core.liveness import read_raw, same_process
from mlp_core.ray_executor import JobFailed, RayExecutor
from mlp_core.runs import load_run, read_metrics
from tests.conftest import make_tiny_dataset

RAY_DAEMONS = ("raylet", "gcs_server")


def _descendants() -> dict[int, str]:
    """pid -> command name of every process below this one (Ray's daemons and workers)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        pid, ppid = int(stat.parent.name), int(text[text.rindex(")") + 2 :].split()[1])
        parents[pid], names[pid] = ppid, name
    found, frontier = {}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = names[pid]
                frontier.append(pid)
    return found


def _alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
        except (OSError, IndexError):
            continue
    return alive


@pytest.fixture(scope="module")
def executor():
    """A local Ray instance (2 CPUs, 2 fake GPUs) shared by the module, then shut down."""
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
             log_to_driver=False)
    started = _descendants()
    assert all(d in " ".join(started.values()) for d in RAY_DAEMONS), started
    yield RayExecutor("local", stop_grace=5.0)
    ray.shutdown()
    deadline = time.monotonic() + 20
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(started)
    for pid in alive:  # never leave one behind, even when the check below fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"Ray processes left after shutdown: {[started[p] for p in alive]}"


def _config(epochs: int = 2, **values):
    values = {"hidden": 32, "batch_size": 64, "val_split": 100, "device": "cpu", **values}
    return replace(preset("default"), epochs=epochs, **values)


def _record(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def test_two_jobs_run_side_by_side_each_on_its_own_gpu(executor, tmp_path):
    """Each job trains until both have trained an epoch: one at a time, neither would stop
    (the deadline turns that into a failure, not a hang)."""
    dataset = make_tiny_dataset()
    assert executor.slots() == 2
    seen: dict[int, list] = {0: [], 1: []}
    deadline = time.monotonic() + 120

    def both_trained() -> bool:
        epochs = [any(isinstance(e, EpochEnd) for e in seen[i]) for i in seen]
        return all(epochs) or time.monotonic() > deadline

    def job(index: int) -> None:
        config = _config(epochs=500, seed=index)
        events = executor.run(config, runs_dir=tmp_path, dataset=dataset,
                              should_stop=both_trained)
        seen[index].extend(events)

    threads = [threading.Thread(target=job, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert time.monotonic() < deadline, "the two jobs did not train at the same time"
    devices = set()
    for index in (0, 1):
        started = next(e for e in seen[index] if isinstance(e, RunStarted))
        end = seen[index][-1]
        assert isinstance(end, Finished) and end.status == "stopped"
        run = Path(started.run_dir)
        record = _record(started.run_dir)
        assert record["status"] == "stopped" and record["executor"]["name"] == "ray"
        devices.add(record["executor"]["cuda_visible_devices"])
        assert load_run(run).status == "stopped"
        epochs = [e for e in seen[index] if isinstance(e, EpochEnd)]
        assert [m["epoch"] for m in read_metrics(run)] == [e.epoch for e in epochs]
        best = load_checkpoint(run / "checkpoints" / "best.safetensors")
        assert best.metrics["val_accuracy"] == max(e.val_accuracy for e in epochs)
        assert load_checkpoint(run / "checkpoints" / "last.safetensors").epoch == epochs[-1].epoch
    assert devices == {"0", "1"}


def test_cancelled_job_ends_stopped_with_whole_checkpoints(executor, tmp_path):
    events = list(_stop_after_first_epoch(executor, tmp_path))
    end = events[-1]
    assert isinstance(end, Finished) and end.status == "stopped"
    assert 1 <= end.epochs_done < 200
    record = _record(end.run_dir)
    assert record["status"] == "stopped"
    metrics = read_metrics(Path(end.run_dir))
    last = load_checkpoint(Path(end.run_dir) / "checkpoints" / "last.safetensors")
    assert last.epoch == metrics[-1]["epoch"] == end.epochs_done
    assert load_run(Path(end.run_dir)).status == "stopped"
    # The driver runs every job: stop_run must never signal it for one run (it signals only
    # the process run.json names, checked by its start time).
    assert not same_process(read_raw(Path(end.run_dir)))


def _stop_after_first_epoch(executor, runs_dir):
    """Run a long job, asking it to stop once its first epoch has come back."""
    epochs_seen: list[int] = []
    for event in executor.run(
        _config(epochs=200),
        runs_dir=runs_dir,
        dataset=make_tiny_dataset(),
        should_stop=lambda: bool(epochs_seen),
    ):
        if isinstance(event, EpochEnd):
            epochs_seen.append(event.epoch)
        yield event


def test_job_whose_worker_dies_is_failed_and_not_retried(executor, tmp_path):
    events = executor.run(_config(epochs=200), runs_dir=tmp_path, dataset=make_tiny_dataset())
    started = next(e for e in events if isinstance(e, RunStarted))
    worker_pid = _record(started.run_dir)["executor"]["worker_pid"]
    assert worker_pid != os.getpid()
    next(e for e in events if isinstance(e, EpochEnd))
    os.kill(worker_pid, signal.SIGKILL)
    with pytest.raises(JobFailed) as failure:
        for _ in events:
            pass
    assert "died" in str(failure.value)
    record = _record(started.run_dir)
    assert record["status"] == "failed" and "died" in record["error"]
    # max_retries=0: the stream ended with the error instead of a second attempt training on.
    assert len(read_metrics(Path(started.run_dir))) < 200
    assert load_run(Path(started.run_dir)).status == "failed"


def test_queue_runner_drives_jobs_on_ray_and_a_cancel_stops_one(executor, tmp_path):
    """Issue 8's runner with the Ray executor: every job's run is mirrored here; a cancel
    (a STOP file in the run folder, as the app and `mnist-tui stop` write it) stops a job."""
    quick = [_config(epochs=1, hidden=h) for h in (16, 24)]
    jobs = enqueue(tmp_path, [_config(epochs=500), *quick])
    runner = Runner(tmp_path, [], None, executor="ray:local")
    assert runner.slots == ["ray-0", "ray-1"]
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        long_job = jobs[0].id
        while time.monotonic() < deadline:
            job = next(j for j in list_jobs(tmp_path) if j.id == long_job)
            if job.run_dir is not None and read_metrics(job.run_dir):
                break
            time.sleep(0.1)
        cancel_job(tmp_path, long_job)
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    states = {j.id: j.state for j in list_jobs(tmp_path)}
    assert states == {jobs[0].id: "cancelled", jobs[1].id: "done", jobs[2].id: "done"}
    for job in list_jobs(tmp_path):
        record = _record(str(job.run_dir))
        assert record["executor"]["cuda_visible_devices"] in ("0", "1")
        assert load_run(job.run_dir).status in ("finished", "stopped")
        assert not (job.run_dir / "STOP").exists()
    stopped = next(j for j in list_jobs(tmp_path) if j.id == jobs[0].id)
    last = load_checkpoint(stopped.run_dir / "checkpoints" / "last.safetensors")
    assert last.epoch == read_metrics(stopped.run_dir)[-1]["epoch"] < 500


def test_search_trials_run_on_ray(executor, tmp_path):
    """The search controller with the Ray executor: two slots, every trial mirrored here."""
    from mlp_core.search import Search, SearchSpec, TrialFinished
    from mlp_core.search_space import parse_space

    base = _config(epochs=1)
    spec = SearchSpec(base, parse_space({"lr": "0.02..0.1:log"}, base), trials=3, prune=False)
    search = Search(spec, runs_dir=tmp_path, dataset=make_tiny_dataset(), executor=executor)
    try:
        ended = [e for e in search.run() if isinstance(e, TrialFinished)]
    finally:
        search.close()
    assert sorted(e.number for e in ended) == [0, 1, 2]
    assert all(e.state == "complete" for e in ended)
    for trial in ended:
        assert _record(str(tmp_path / trial.run_name))["executor"]["name"] == "ray"


def test_a_runner_that_cannot_make_its_executor_fails_the_waiting_jobs(tmp_path):
    from mlp_core.ray_runner import fail_waiting

    jobs = enqueue(tmp_path, [_config(epochs=1)])
    assert fail_waiting(tmp_path, ConnectionError("no cluster\nmore")) == 1
    (job,) = list_jobs(tmp_path)
    assert job.id == jobs[0].id and job.state == "failed"
    assert job.error == "ConnectionError: no cluster"


def test_a_cancelled_stream_that_ends_cleanly_still_ends_the_run_stopped(tmp_path):
    """Cancelled while it wrote an epoch, the task may end its stream without an end event
    of its own (it held the KeyboardInterrupt until the epoch was sent): the driver records
    a stop and yields the Finished event the task could not send."""
    from mlp_core.ray_executor import RunMirror, _Canceller

    class FakeRay:
        def __init__(self):
            self.cancelled: list[bool] = []

        def cancel(self, stream, force=False):
            self.cancelled.append(force)

        def get(self, ref):
            return ref

    fake = FakeRay()
    mirror = RunMirror(tmp_path, _config(epochs=5), "local")
    canceller = _Canceller(fake, stream=None, should_stop=lambda: True, grace=60)
    canceller.requested.wait(5)
    stream = [("worker", {"hostname": "node"})]  # then the stream ends: no end event
    events = list(mirror.follow(iter(stream), canceller))
    assert isinstance(events[-1], Finished) and events[-1].status == "stopped"
    assert _record(str(mirror.path))["status"] == "stopped"
    assert fake.cancelled == [False]
