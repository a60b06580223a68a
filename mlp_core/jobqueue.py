"""The queue that outlives the app: one file per job under <runs_dir>/queue/, a runner process.

    <runs_dir>/queue/
        <id>.waiting.json     a job: its config, sweep, device, run folder, error
        <id>.running.json     the state is the file's name, changed by os.rename (atomic): a
        <id>.done.json        claim and a cancel can race, only one of them wins
        runner.lock           flock held by the one runner process
        device-<d>.lock       flock held by the RUN training on device d (not by the runner)
        STOP                  `stop_queue`: the runner launches nothing more
        runner.log            the runner's output

    ensure_runner ──spawn (setsid, as a run)──> runner ──launch_run──> run process per device

The runner (`python -m mlp_core.jobqueue`) is spawned on demand, launches each waiting job as
its own run process, one per device, and exits once nothing waits or runs. The runs never
depend on it: killed, its running jobs train on (they hold their device locks, so a restarted
runner knows those devices are taken) and the next runner picks up the waiting ones. A job's
end is read from its run folder (`runs.load_run`, judged), so anyone listing sees it; the runner
records it in the job's file and rewrites the sweep's results table.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.liveness import LockBusy, file_locked, identity, try_lock

QUEUE_DIR = "queue"
RUNNER_LOCK = "runner.lock"
RUNNER_FILE = "runner.json"
STOP_FILE = "STOP"
#: Job states; a job's state is the middle part of its file name (<id>.<state>.json).
JOB_STATES = ("waiting", "running", "done", "failed", "diverged", "cancelled", "interrupted")
FINAL_STATES = ("done", "failed", "diverged", "cancelled", "interrupted")
#: A run's (judged) status -> the state of the job that launched it.
RUN_TO_JOB = {
    "finished": "done",
    "stopped": "cancelled",
    "diverged": "diverged",
    "failed": "failed",
    "interrupted": "interrupted",
}
_TICK = 0.25


class QueueError(Exception):
    """A queue operation that does not apply to the job's state (e.g. removing a running job)."""


@dataclass
class Job:
    """One queued config and what became of it, as its file says."""

    id: str
    path: Path
    config: TrainConfig
    state: str
    sweep: str | None = None
    device: str | None = None
    run_dir: Path | None = None
    error: str = ""
    created: str = field(default="")
    cancel: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "config": json.loads(self.config.to_json()),
            "sweep": self.sweep,
            "device": self.device,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "error": self.error,
            "created": self.created,
            "cancel": self.cancel,
        }


def queue_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / QUEUE_DIR


def _file(folder: Path, job_id: str, state: str) -> Path:
    return folder / f"{job_id}.{state}.json"


def _write(path: Path, job: Job) -> None:
    tmp = path.with_name(f".{job.id}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(job.to_json(), indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read(path: Path) -> Job | None:
    """A job file, or None when it is not one (or vanished: renamed meanwhile)."""
    job_id, _, state = path.name.removesuffix(".json").rpartition(".")
    if state not in JOB_STATES:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(raw["config"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError):
        return None
    return Job(
        id=job_id,
        path=path,
        config=config,
        state=state,
        sweep=raw.get("sweep"),
        device=raw.get("device"),
        run_dir=Path(raw["run_dir"]) if raw.get("run_dir") else None,
        error=str(raw.get("error") or ""),
        created=str(raw.get("created") or ""),
        cancel=bool(raw.get("cancel")),
    )


def enqueue(runs_dir: Path, configs: list[TrainConfig], *, sweep: str | None = None) -> list[Job]:
    """Add one waiting job file per config (in order); returns the jobs."""
    folder = queue_dir(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now()
    jobs = []
    for index, config in enumerate(configs):
        job_id = f"{now:%Y%m%d-%H%M%S%f}-{index:04d}"
        job = Job(job_id, _file(folder, job_id, "waiting"), config, "waiting", sweep=sweep)
        job.created = now.isoformat(timespec="seconds")
        _write(job.path, job)
        jobs.append(job)
    return jobs


def _on_disk(runs_dir: Path) -> list[Job]:
    folder = queue_dir(runs_dir)
    if not folder.is_dir():
        return []
    found: dict[str, Job] = {}
    for path in sorted(folder.glob("*.*.json")):
        job = _read(path)
        if job is not None and (job.id not in found or job.state in FINAL_STATES):
            found[job.id] = job  # mid-move a job may show twice: its later state wins
    return sorted(found.values(), key=lambda j: j.id)


def list_jobs(runs_dir: Path) -> list[Job]:
    """Every job, oldest first: waiting, running, done, failed, diverged, cancelled...

    A running job whose run has ended is shown in its end state at once (read from the run
    folder), before the runner, or whoever calls `reconcile`, records it in the job's file.
    """
    return [_judged(job) for job in _on_disk(runs_dir)]


def _judged(job: Job) -> Job:
    if job.state != "running" or job.run_dir is None:
        return job
    status, error = _run_end(job.run_dir)
    if status is None:
        return job
    return replace(job, state=status, error=job.error or error)


def _run_end(run_dir: Path) -> tuple[str | None, str]:
    """The job state a run's end maps to, or None while it runs (or is lost: it may return)."""
    from mlp_core.runs import RunError, load_run

    try:
        info = load_run(run_dir)
    except RunError as exc:
        return "failed", str(exc)
    return RUN_TO_JOB.get(info.status), info.error


def _move(job: Job, state: str, **changes: Any) -> Job:
    """Rename the job's file to `state` (QueueError if it moved meanwhile), then record
    `changes` in it."""
    target = _file(job.path.parent, job.id, state)
    try:
        os.rename(job.path, target)
    except FileNotFoundError:
        raise QueueError(f"job {job.id} changed state meanwhile") from None
    moved = replace(job, path=target, state=state, **changes)
    if changes:
        _write(target, moved)
    return moved


def _find(runs_dir: Path, job_id: str) -> Job:
    for job in _on_disk(runs_dir):
        if job.id == job_id:
            return job
    raise QueueError(f"no job {job_id} in the queue")


def cancel_job(runs_dir: Path, job_id: str) -> None:
    """waiting -> cancelled (atomic rename, so it never races a claim); running -> stop_run."""
    job = _find(runs_dir, job_id)
    if job.state == "waiting":
        try:
            _move(job, "cancelled")
            return
        except QueueError:
            job = _find(runs_dir, job_id)  # claimed meanwhile: stop it as a running one
    if job.state != "running":
        raise QueueError(f"job {job_id} is {job.state}; only waiting or running jobs stop")
    job.cancel = True
    if job.path.exists():  # a job still launching is stopped once its run exists
        _write(job.path, job)
    if job.run_dir is not None:
        from mlp_core.runproc import stop_run

        stop_run(job.run_dir, wait=False)


def remove_job(runs_dir: Path, job_id: str) -> None:
    """Delete a job file that is not running (QueueError for a running job)."""
    job = _judged(_find(runs_dir, job_id))
    if job.state == "running":
        raise QueueError(f"job {job_id} is running; cancel it first")
    job.path.unlink(missing_ok=True)


def clear_ended(runs_dir: Path) -> int:
    """Delete the files of every ended job; returns how many."""
    ended = [job for job in list_jobs(runs_dir) if job.state in FINAL_STATES]
    for job in ended:
        job.path.unlink(missing_ok=True)
    return len(ended)


def stop_queue(runs_dir: Path) -> list[Path]:
    """Launch nothing more (queue/STOP, read by the runner) and ask every running job's run
    to stop; waiting jobs stay waiting. Returns the run folders asked. `ensure_runner` starts
    the queue again."""
    from mlp_core.runproc import stop_run

    folder = queue_dir(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STOP_FILE).write_text("", encoding="utf-8")
    asked = []
    for job in list_jobs(runs_dir):
        if job.state == "running" and job.run_dir is not None:
            stop_run(job.run_dir, wait=False)
            asked.append(job.run_dir)
        elif job.state == "running" and job.path.exists():  # launching: stopped once it runs
            job.cancel = True
            _write(job.path, job)
    return asked


def reconcile(runs_dir: Path) -> list[Job]:
    """Record in each running job's file the end its run reached; returns the jobs that ended.
    (The runner does this every tick; `mnist-tui sweep` too, so results never wait on it.)"""
    ended = []
    for job in _on_disk(runs_dir):
        judged = _judged(job)
        if judged.state != job.state:
            with contextlib.suppress(QueueError):
                ended.append(_move(job, judged.state, error=judged.error))
    for sweep in {job.sweep for job in ended if job.sweep}:
        from mlp_core.sweep import write_sweep_results

        write_sweep_results(runs_dir, sweep)
    return ended


def runner_alive(runs_dir: Path) -> bool:
    return file_locked(queue_dir(runs_dir) / RUNNER_LOCK)


def ensure_runner(
    runs_dir: Path,
    devices: list[str],
    *,
    data_dir: Path | None = None,
    executor: str | None = None,
) -> int | None:
    """Spawn the detached queue runner if jobs wait and no runner holds queue/runner.lock;
    returns its pid or None. The runner launches each job with launch_run, one per device
    (a device lock each), and exits when the queue is empty. A queue stopped by `stop_queue`
    starts again."""
    from mlp_core.runproc import spawn_detached

    folder = queue_dir(runs_dir)
    if not any(job.state == "waiting" for job in _on_disk(runs_dir)):
        return None
    (folder / STOP_FILE).unlink(missing_ok=True)
    if runner_alive(runs_dir):
        return None
    pid_file = folder / "runner.pid"
    pid_file.unlink(missing_ok=True)
    argv = ["mlp_core.jobqueue", "--runs-dir", str(Path(runs_dir).absolute())]
    argv += ["--pid-file", str(pid_file.absolute()), "--devices", ",".join(devices)]
    if data_dir is not None:
        argv += ["--data-dir", str(Path(data_dir).expanduser().absolute())]
    if executor:  # issue 9 hook: "ray:ADDRESS"
        argv += ["--executor", executor]
    if spawn_detached(argv, folder / "runner.log") != 0:
        return None
    try:
        return int(json.loads(pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


# -- the runner process -----------------------------------------------------------------------


def _slots(devices: list[str]) -> list[str | None]:
    """One slot per physical device (`cpu` and `auto` on a CPU machine are one: two jobs on
    one device only slow each other); None: one job at a time on each job's own device."""
    if not devices:
        return [None]
    from mlp_core.device import resolve_device

    distinct: dict[str, str] = {}
    for device in devices:
        distinct.setdefault(str(resolve_device(device)), device)
    return list(distinct.values())


def _device_lock(folder: Path, slot: str | None) -> Path:
    name = (slot or "default").replace(":", "-").replace("/", "-")
    return folder / f"device-{name}.lock"


class Runner:
    """The loop of the runner process; see the module docstring."""

    def __init__(
        self,
        runs_dir: Path,
        devices: list[str],
        data_dir: Path | None,
        executor: str | None = None,
    ) -> None:
        # Absolute: job files name run folders that any process, in any cwd, must find.
        self.runs_dir, self.data_dir = Path(runs_dir).absolute(), data_dir
        self.folder = queue_dir(self.runs_dir)
        self.remote: Any = None
        if executor:  # issue 9 hook: jobs as Ray tasks, this runner their driver
            from mlp_core.ray_runner import ExecutorSlots

            self.remote = ExecutorSlots(executor, data_dir)
        self.slots = self.remote.slots() if self.remote else _slots(devices)

    def run(self) -> None:
        self._requeue_orphans()
        while True:
            reconcile(self.runs_dir)
            self._follow_cancels()
            if not (self.folder / STOP_FILE).exists():
                self._launch_free_slots()
            jobs = list_jobs(self.runs_dir)
            running = any(j.state == "running" for j in jobs)
            waiting = any(j.state == "waiting" for j in jobs)
            stopped = (self.folder / STOP_FILE).exists()
            if not running and (not waiting or stopped):
                break
            time.sleep(_TICK)
        # The loop ends when list_jobs judges the last run ended, which can be after this
        # tick's reconcile: record those ends (and the sweep's table) before exiting.
        reconcile(self.runs_dir)
        (self.folder / STOP_FILE).unlink(missing_ok=True)
        if self.remote is not None:  # issue 9 hook
            self.remote.close()

    def _requeue_orphans(self) -> None:
        """A job claimed by a runner that died before its run existed waits again."""
        for job in _on_disk(self.runs_dir):
            if job.state == "running" and job.run_dir is None:
                with contextlib.suppress(QueueError):
                    _move(job, "waiting")

    def _follow_cancels(self) -> None:
        from mlp_core.runproc import stop_run

        for job in _on_disk(self.runs_dir):
            if job.state == "running" and job.cancel and job.run_dir is not None:
                stop_run(job.run_dir, wait=False)

    def _launch_free_slots(self) -> None:
        for slot in self.slots:
            lock = _device_lock(self.folder, slot)
            if file_locked(lock):
                continue  # a run (maybe a previous runner's) trains there
            job = self._claim()
            if job is None:
                return
            self._launch(job, slot, lock)

    def _claim(self) -> Job | None:
        for job in _on_disk(self.runs_dir):
            if job.state == "waiting":
                with contextlib.suppress(QueueError):
                    return _move(job, "running")
        return None

    def _launch(self, job: Job, slot: str | None, lock: Path) -> None:
        from mlp_core.runproc import LaunchError, launch_run

        config = replace(job.config, device=slot) if slot and not self.remote else job.config
        try:
            if self.remote is not None:  # issue 9 hook: a Ray task; Ray places it
                run_dir = self.remote.launch(self.runs_dir, config, lock)
            else:
                run_dir = launch_run(
                    self.runs_dir, config, data_dir=self.data_dir, device_lock=lock
                )
        except LaunchError as exc:
            with contextlib.suppress(QueueError):
                failed = _move(job, "failed", error=str(exc), device=config.device)
                if failed.sweep:
                    from mlp_core.sweep import write_sweep_results

                    write_sweep_results(self.runs_dir, failed.sweep)
            return
        latest = _read(job.path) or job  # a cancel may have been written meanwhile
        latest.device, latest.run_dir = config.device, run_dir
        _write(job.path, latest)
        if latest.sweep:
            from mlp_core.sweep import write_sweep_results

            write_sweep_results(self.runs_dir, latest.sweep)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mlp_core.jobqueue")
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--devices", default="")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--pid-file", type=Path, default=None)
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("--executor", default=None)  # issue 9 hook: ray:ADDRESS
    args = parser.parse_args(argv)
    if args.daemonize:
        pid = os.fork()
        if pid:
            if args.pid_file is not None:
                args.pid_file.write_text(json.dumps({"pid": pid}))
            os._exit(0)
    folder = queue_dir(args.runs_dir)
    try:
        lock_fd = try_lock(folder / RUNNER_LOCK)
    except LockBusy:
        return 0  # another runner has the queue
    # issue 9 hook: the app's queue view can name the executor and its address
    (folder / RUNNER_FILE).write_text(json.dumps({**identity(), "executor": args.executor}))
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    try:
        try:
            runner = Runner(args.runs_dir, devices, args.data_dir, args.executor)
        except Exception as exc:  # issue 9 hook: e.g. no Ray cluster at that address
            from mlp_core.ray_runner import fail_waiting

            fail_waiting(args.runs_dir, exc)  # or every ensure_runner would spawn us again
            raise
        runner.run()
    finally:
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
