"""Sweeps: a grid of configs, a queue of jobs, and a runner that trains them one after another.

    configs = expand_grid(preset("default"), {"hidden": "128,256", "lr": "0.01,0.1"})
    sweep = Sweep(JobQueue(configs), runs_dir=Path("runs"), devices=["cuda:0", "cuda:1"])
    for event in sweep.run():
        ...

Each job is an ordinary `train()` run in `runs_dir`, so it shows in `mnist-tui runs` and in the
app's checkpoint panel. Like `train()`, a sweep is a generator of small frozen events (plain
values, safe across threads) and prints nothing. A job that raises is marked failed, one whose
loss blows up is marked diverged, and the sweep goes on. The sweep writes its table to
`runs_dir/sweeps/<time-name>/results.{csv,md}` after every job, so a crash keeps what was done.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from data.mnist import Dataset, load_dataset
from mlp_core.checkpoint import atomic_write
from mlp_core.config import TrainConfig
from mlp_core.device import resolve_device
from mlp_core.events import Diverged, EpochEnd, Event, Finished, RunStarted
from mlp_core.grid import (  # noqa: F401  (re-exported: a sweep's grid is part of its API)
    MAX_GRID,
    expand_grid,
    grid_size,
    parse_grid,
    parse_values,
    varying_fields,
)
from mlp_core.runs import RunError, load_run, save_run_info
from mlp_core.trainer import train

JOB_STATES = ("waiting", "running", "done", "failed", "diverged", "cancelled")
#: States a job never leaves.
FINAL_STATES = ("done", "failed", "diverged", "cancelled")
SWEEPS_DIR = "sweeps"

# -- the queue --------------------------------------------------------------------------------


class QueueError(Exception):
    """A queue operation that does not apply to the job's state (e.g. removing a running job)."""


@dataclass
class Job:
    """One config to train and what became of it. `JobQueue.jobs()` hands out copies."""

    id: int
    config: TrainConfig
    state: str = "waiting"
    device: str = ""
    run_name: str = ""
    run_dir: str = ""
    epoch: int = 0
    epochs_done: int = 0
    best_val_accuracy: float | None = None
    test_accuracy_at_best: float | None = None
    final_test_accuracy: float | None = None
    seconds: float = 0.0
    error: str = ""
    cancel_requested: bool = False


class JobQueue:
    """Jobs in order, safe to use from the UI thread while a runner thread takes from it."""

    def __init__(self, configs: Iterable[TrainConfig] = ()) -> None:
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._next_id = 1
        self.add_many(configs)

    def add(self, config: TrainConfig) -> int:
        """Queue one config; returns its job id (ids are never reused)."""
        with self._lock:
            job = Job(self._next_id, config)
            self._next_id += 1
            self._jobs.append(job)
            return job.id

    def add_many(self, configs: Iterable[TrainConfig]) -> list[int]:
        return [self.add(config) for config in configs]

    def jobs(self) -> list[Job]:
        """A snapshot: copies, so a reader never sees a job change under it."""
        with self._lock:
            return [replace(job) for job in self._jobs]

    def get(self, job_id: int) -> Job:
        with self._lock:
            return replace(self._find(job_id))

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self._lock:
            return {state: sum(j.state == state for j in self._jobs) for state in JOB_STATES}

    def cancel(self, job_id: int) -> None:
        """A waiting job is cancelled now; a running one is asked to stop after its batch."""
        with self._lock:
            job = self._find(job_id)
            if job.state == "waiting":
                job.state = "cancelled"
            elif job.state == "running":
                job.cancel_requested = True
            else:
                raise QueueError(f"job {job_id} is {job.state}; only waiting or running jobs stop")

    def remove(self, job_id: int) -> None:
        """Take a job off the list; a running job must be cancelled first."""
        with self._lock:
            job = self._find(job_id)
            if job.state == "running":
                raise QueueError(f"job {job_id} is running; cancel it first")
            self._jobs.remove(job)

    def _find(self, job_id: int) -> Job:
        for job in self._jobs:
            if job.id == job_id:
                return job
        raise QueueError(f"no job {job_id} in the queue")

    def _claim(self, device: str | None) -> Job | None:
        """Mark the first waiting job running and return a copy of it (None when none wait)."""
        with self._lock:
            for job in self._jobs:
                if job.state == "waiting":
                    job.state, job.device = "running", device or job.config.device
                    return replace(job)
            return None

    def _update(self, job_id: int, **values: Any) -> None:
        with self._lock:
            try:
                job = self._find(job_id)
            except QueueError:
                return  # removed meanwhile (only possible once it stopped running)
            for name, value in values.items():
                setattr(job, name, value)

    def _cancel_requested(self, job_id: int) -> bool:
        with self._lock:
            return any(j.id == job_id and j.cancel_requested for j in self._jobs)


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepEvent:
    """Base of what `Sweep.run()` yields."""

    def to_dict(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class SweepStarted(SweepEvent):
    """The sweep began: `total` jobs waiting, results to be written in `sweep_dir`."""

    sweep_dir: str
    total: int
    devices: list[str]
    varying: list[str]


@dataclass(frozen=True)
class JobStarted(SweepEvent):
    job_id: int
    config: dict[str, Any]
    device: str


@dataclass(frozen=True)
class JobEvent(SweepEvent):
    """A training event of one job (RunStarted, Progress, EpochEnd, ...)."""

    job_id: int
    event: Event

    def to_dict(self) -> dict[str, Any]:
        return {"event": "JobEvent", "job_id": self.job_id, "inner": self.event.to_dict()}


@dataclass(frozen=True)
class JobFinished(SweepEvent):
    """A job ended: status is done, failed, diverged or cancelled."""

    job_id: int
    status: str
    run_name: str
    run_dir: str
    device: str
    epochs_done: int
    best_val_accuracy: float | None
    test_accuracy_at_best: float | None
    final_test_accuracy: float | None
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class SweepFinished(SweepEvent):
    """Every job ended (or the sweep was stopped); `counts` is jobs per state."""

    sweep_dir: str
    results_csv: str
    results_md: str
    counts: dict[str, int]
    seconds: float
    stopped: bool


# -- the runner -------------------------------------------------------------------------------


_WORKER_DONE = object()


@dataclass(frozen=True)
class _WorkerError:
    """An exception a side-by-side worker raised, handed to the thread iterating the sweep."""

    error: BaseException


@dataclass
class _Outcome:
    """What one job's events add up to, kept by the runner as they pass."""

    job: Job
    started: float = field(default_factory=time.perf_counter)
    best: EpochEnd | None = None
    last: EpochEnd | None = None


class Sweep:
    """Run a queue's jobs one after another (one per device side by side), as events.

    devices: None keeps each job's own `config.device` and runs one job at a time; a list
    (``["cuda:0", "cuda:1"]``) runs one job per device at once, each job's device replaced.
    dataset: loaded once from `data_dir` (the bundled MNIST when None) if not given.
    """

    def __init__(
        self,
        jobs: JobQueue | Iterable[TrainConfig],
        *,
        runs_dir: Path | str = Path("runs"),
        dataset: Dataset | None = None,
        data_dir: Path | str | None = None,
        devices: Sequence[str] | None = None,
        name: str | None = None,
        progress_interval: float = 0.25,
        executor: Any = None,
    ) -> None:
        # issue 9 hook: an executor (mlp_core.executors) trains the jobs instead of train()
        # in this process; with no devices given, it runs executor.slots() jobs side by side.
        self.executor = executor
        self.queue = jobs if isinstance(jobs, JobQueue) else JobQueue(jobs)
        self.runs_dir = Path(runs_dir)
        self.dataset = dataset
        self.data_dir = data_dir
        self.devices = list(dict.fromkeys(devices)) if devices else None
        for device in self.devices or []:
            replace(TrainConfig(), device=device)  # ConfigError for a malformed name
        self.name = name
        self.progress_interval = progress_interval
        self.sweep_dir: Path | None = None
        self._stop = threading.Event()
        self._write_lock = threading.Lock()  # side-by-side workers finish jobs concurrently

    def stop(self) -> None:
        """Ask the running jobs to stop after their batch (they end cancelled); start no more."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Iterator[SweepEvent]:
        """Train every waiting job; see the class docstring. Closing the generator stops it.

        A `stop()` that comes before the first job is kept; once the sweep has ended, the stop
        is cleared, so the queue's waiting jobs can run again in a new `run()`.
        """
        try:
            yield from self._run()
        finally:
            self._stop.clear()

    def _distinct_devices(self) -> list[str] | None:
        """The devices, each physical one once (`cpu` and `auto` on a CPU machine are one):
        two workers on one device would only slow each other down."""
        if not self.devices:
            return None
        distinct: dict[Any, str] = {}
        for device in self.devices:
            # A missing GPU is the sweep's error, raised here, not every job's.
            distinct.setdefault(resolve_device(device), device)
        return list(distinct.values())

    def _run(self) -> Iterator[SweepEvent]:
        devices = self._distinct_devices()
        if self.dataset is None:
            self.dataset = load_dataset(self.data_dir)
        started = time.perf_counter()
        self.sweep_dir = _new_sweep_dir(self.runs_dir, self.name or self._default_name())
        varying = varying_fields(job.config for job in self.queue.jobs())
        total = self.queue.counts()["waiting"]
        self.write_results()
        yield SweepStarted(str(self.sweep_dir), total, devices or [], varying)
        completed = False
        try:
            if self.executor is not None and devices is None:  # issue 9 hook
                yield from self._run_threaded([None] * self.executor.slots())  # type: ignore[list-item]
            elif devices is None or len(devices) == 1:
                device = devices[0] if devices else None
                while not self.stopping and (job := self.queue._claim(device)) is not None:
                    yield from self._run_job(job, device)
            else:
                yield from self._run_threaded(devices)
            completed = True
        finally:
            if not completed:
                self.stop()
            self.write_results()
        csv_path, md_path = self.results_paths()
        yield SweepFinished(
            str(self.sweep_dir),
            str(csv_path),
            str(md_path),
            self.queue.counts(),
            time.perf_counter() - started,
            self.stopping,
        )

    def _default_name(self) -> str:
        varying = varying_fields(job.config for job in self.queue.jobs())
        return "-".join(varying[:4]) or "sweep"

    def _run_threaded(self, devices: list[str]) -> Iterator[SweepEvent]:
        """One thread per device, each taking jobs from the queue; their events merged here."""
        merged: queue.Queue[Any] = queue.Queue()

        def worker(device: str) -> None:
            try:
                while not self.stopping and (job := self.queue._claim(device)) is not None:
                    for event in self._run_job(job, device):
                        merged.put(event)
            except BaseException as exc:  # e.g. results that cannot be written: the caller's
                merged.put(_WorkerError(exc))
            finally:
                merged.put(_WORKER_DONE)

        threads = [
            threading.Thread(target=worker, args=(d,), name=f"sweep-{d}", daemon=True)
            for d in devices
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                try:
                    item = merged.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _WORKER_DONE:
                    running -= 1
                elif isinstance(item, _WorkerError):
                    raise item.error
                else:
                    yield item
        finally:
            if running:
                self.stop()
            for thread in threads:
                thread.join()

    def _run_job(self, job: Job, device: str | None) -> Iterator[SweepEvent]:
        """One job as events; never raises for the job's own failure (it is marked failed)."""
        config = replace(job.config, device=device) if device else job.config
        outcome = _Outcome(job)
        status, error = "cancelled", ""
        try:
            yield JobStarted(job.id, asdict(config), job.device)
            should_stop = lambda: self.stopping or self.queue._cancel_requested(job.id)  # noqa: E731
            if self.executor is not None:  # issue 9 hook
                events = self.executor.run(
                    config,
                    runs_dir=self.runs_dir,
                    dataset=self.dataset,
                    should_stop=should_stop,
                    progress_interval=self.progress_interval,
                )
            else:
                events = train(
                    config,
                    self.dataset,
                    runs_dir=self.runs_dir,
                    should_stop=should_stop,
                    progress_interval=self.progress_interval,
                )
            with contextlib.closing(events):  # the run records its end even if we stop early
                for event in events:
                    self._record(outcome, event)
                    yield JobEvent(job.id, event)
                    if isinstance(event, Finished):
                        status = "done" if event.status == "finished" else "cancelled"
                    elif isinstance(event, Diverged):
                        status, error = "diverged", event.reason
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            _mark_run_failed(outcome.job.run_dir, error)
        finally:
            finished = self._finish(outcome, status, error)
        yield finished

    def _record(self, outcome: _Outcome, event: Event) -> None:
        job = outcome.job
        if isinstance(event, RunStarted):
            job.run_name, job.run_dir, job.device = event.run_name, event.run_dir, event.device
            self.queue._update(
                job.id, run_name=job.run_name, run_dir=job.run_dir, device=job.device
            )
        elif isinstance(event, EpochEnd):
            outcome.last = event
            if event.is_best:
                outcome.best = event
            self.queue._update(job.id, epoch=event.epoch, epochs_done=event.epoch)

    def _finish(self, outcome: _Outcome, status: str, error: str) -> JobFinished:
        job, best, last = outcome.job, outcome.best, outcome.last
        result = JobFinished(
            job_id=job.id,
            status=status,
            run_name=job.run_name,
            run_dir=job.run_dir,
            device=job.device,
            epochs_done=last.epoch if last else 0,
            best_val_accuracy=best.val_accuracy if best else None,
            test_accuracy_at_best=best.test_accuracy if best else None,
            final_test_accuracy=last.test_accuracy if last else None,
            seconds=time.perf_counter() - outcome.started,
            error=error,
        )
        self.queue._update(
            job.id,
            state=status,
            **{k: getattr(result, k) for k in _RESULT_FIELDS},
            cancel_requested=False,
        )
        if self.sweep_dir is not None:
            self.write_results()
        return result

    # -- results ------------------------------------------------------------------------------

    def results_paths(self) -> tuple[Path, Path]:
        if self.sweep_dir is None:
            raise QueueError("the sweep has not started; it has no folder yet")
        return self.sweep_dir / "results.csv", self.sweep_dir / "results.md"

    def write_results(self) -> None:
        """Write `results.csv` and `results.md` (atomically) from the queue as it stands."""
        csv_path, md_path = self.results_paths()
        with self._write_lock:  # the newest snapshot is written last
            jobs = self.queue.jobs()
            atomic_write(csv_path, results_csv(jobs).encode())
            atomic_write(md_path, results_markdown(jobs, title=csv_path.parent.name).encode())


_RESULT_FIELDS = (
    "epochs_done",
    "best_val_accuracy",
    "test_accuracy_at_best",
    "final_test_accuracy",
    "seconds",
    "error",
)


def _mark_run_failed(run_dir: str, error: str) -> None:
    """Record in run.json that the run failed (train() itself would leave it "stopped")."""
    if not run_dir:
        return
    try:
        info = load_run(Path(run_dir))
    except RunError:
        return
    info.status, info.error = "failed", error
    save_run_info(info)


def _new_sweep_dir(runs_dir: Path, label: str) -> Path:
    parent = runs_dir / SWEEPS_DIR
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{datetime.now():%Y%m%d-%H%M%S}-{label}"
    for suffix in itertools.count(1):
        path = parent / (base if suffix == 1 else f"{base}-{suffix}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


# -- the results table ------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


#: Result columns after the varying config fields: (header, how to show a job).
RESULT_COLUMNS: tuple[tuple[str, Callable[[Job], str]], ...] = (
    ("status", lambda j: j.state),
    ("epochs", lambda j: str(j.epochs_done)),
    ("best_val_acc_%", lambda j: _percent(j.best_val_accuracy)),
    ("test_acc_at_best_%", lambda j: _percent(j.test_accuracy_at_best)),
    ("final_test_acc_%", lambda j: _percent(j.final_test_accuracy)),
    ("seconds", lambda j: f"{j.seconds:.2f}" if j.state in FINAL_STATES else ""),
    ("run", lambda j: j.run_name),
    ("device", lambda j: j.device),
    ("error", lambda j: j.error),
)


def table_columns(jobs: Sequence[Job]) -> list[str]:
    """Config columns shown: the fields that vary, or the usual four when nothing varies."""
    return varying_fields(j.config for j in jobs) or ["hidden", "lr", "batch_size", "epochs"]


def result_row(job: Job, config_columns: Sequence[str]) -> list[str]:
    """One job as table cells: job id, its config columns, then RESULT_COLUMNS."""
    values = asdict(job.config)
    return (
        [str(job.id)]
        + [
            f"{values[name]:g}" if isinstance(values[name], float) else str(values[name])
            for name in config_columns
        ]
        + [show(job) for _, show in RESULT_COLUMNS]
    )


def table_header(config_columns: Sequence[str]) -> list[str]:
    return ["job", *config_columns, *(header for header, _ in RESULT_COLUMNS)]


def results_csv(jobs: Sequence[Job]) -> str:
    columns = table_columns(jobs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table_header(columns))
    writer.writerows(result_row(job, columns) for job in jobs)
    return buffer.getvalue()


def results_markdown(jobs: Sequence[Job], title: str = "sweep") -> str:
    columns = table_columns(jobs)
    header = table_header(columns)
    lines = [
        f"# Sweep {title}",
        "",
        f"{len(jobs)} jobs; accuracies in %, time in seconds.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for job in jobs:
        cells = [cell.replace("|", "\\|") for cell in result_row(job, columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
