"""Sweeps: a grid of configs queued as jobs (`jobqueue`), and their results table.

    configs = expand_grid(preset("default"), {"hidden": "128,256", "lr": "0.01,0.1"})
    name = new_sweep(runs_dir, configs)           # runs/sweeps/<name>/, four waiting jobs
    jobqueue.ensure_runner(runs_dir, ["cuda:0", "cuda:1"])
    write_sweep_results(runs_dir, name)           # results.csv and results.md, from the files

Each job is an ordinary run in `runs_dir` (its own process, launched by the queue runner), so
it shows in `mnist-tui runs` and in the app. The table is rebuilt from the job files and the
run folders whenever a job starts or ends (by the runner, or by `mnist-tui sweep` following it),
so a crash of anything keeps what was done. The events below are what `mnist-tui sweep --json`
prints as it follows the queue.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.events import Event
from mlp_core.files import atomic_write
from mlp_core.grid import (  # noqa: F401  (re-exported: a sweep's grid is part of its API)
    MAX_GRID,
    expand_grid,
    grid_size,
    parse_grid,
    parse_values,
    varying_fields,
)
from mlp_core.jobqueue import FINAL_STATES, Job, enqueue, list_jobs

SWEEPS_DIR = "sweeps"

# -- events (what `mnist-tui sweep` prints as it follows the queue) ---------------------------


@dataclass(frozen=True)
class SweepEvent:
    """Base of the sweep's events."""

    def to_dict(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class SweepStarted(SweepEvent):
    """The sweep began: `total` jobs queued, results to be written in `sweep_dir`."""

    sweep_dir: str
    total: int
    devices: list[str]
    varying: list[str]


@dataclass(frozen=True)
class JobStarted(SweepEvent):
    job_id: int
    config: dict[str, Any]
    device: str
    run_dir: str


@dataclass(frozen=True)
class JobEvent(SweepEvent):
    """A training event of one job (EpochEnd, ...), read from its run folder."""

    job_id: int
    event: Event

    def to_dict(self) -> dict[str, Any]:
        return {"event": "JobEvent", "job_id": self.job_id, "inner": self.event.to_dict()}


@dataclass(frozen=True)
class JobFinished(SweepEvent):
    """A job ended: status is done, failed, diverged, cancelled or interrupted."""

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


# -- a sweep's jobs and their results ----------------------------------------------------------


@dataclass
class JobResult:
    """One job of a sweep as its table row shows it: the job file plus its run's figures.
    `id` is the job's number in the sweep (1, 2, ...), in queue order."""

    id: int
    config: TrainConfig
    state: str
    device: str = ""
    run_name: str = ""
    run_dir: str = ""
    epochs_done: int = 0
    best_val_accuracy: float | None = None
    test_accuracy_at_best: float | None = None
    final_test_accuracy: float | None = None
    seconds: float = 0.0
    error: str = ""

    def finished_event(self) -> JobFinished:
        names = [f for f in JobFinished.__dataclass_fields__ if f not in ("job_id", "status")]
        return JobFinished(self.id, self.state, **{name: getattr(self, name) for name in names})


def job_result(number: int, job: Job) -> JobResult:
    """The row of `job`: its state, and what its run folder says (metrics, best epoch)."""
    from mlp_core.runs import RunError, load_run

    result = JobResult(number, job.config, job.state, job.device or "", error=job.error)
    if job.run_dir is None:
        return result
    result.run_dir, result.run_name = str(job.run_dir), job.run_dir.name
    try:
        info = load_run(job.run_dir)
    except RunError:
        return result
    own = [m for m in info.metrics if not m.get("inherited")]
    best = info.best()
    result.device = info.device or result.device
    result.epochs_done = info.epochs_done
    result.best_val_accuracy = best.get("val_accuracy") if best else None
    result.test_accuracy_at_best = best.get("test_accuracy") if best else None
    result.final_test_accuracy = own[-1].get("test_accuracy") if own else None
    result.seconds = sum(float(m.get("seconds", 0.0)) for m in own)
    result.error = result.error or info.error
    return result


def sweep_results(runs_dir: Path, sweep: str) -> list[JobResult]:
    """The sweep's jobs, numbered in queue order, as rows."""
    jobs = [job for job in list_jobs(runs_dir) if job.sweep == sweep]
    return [job_result(number, job) for number, job in enumerate(jobs, start=1)]


def new_sweep(runs_dir: Path, configs: list[TrainConfig], label: str | None = None) -> Path:
    """Make the sweep's folder (runs/sweeps/<time>-<label>), queue its jobs, write the table
    (every job waiting); returns the folder (its name is the jobs' `sweep`)."""
    label = label or "-".join(varying_fields(configs)[:4]) or "sweep"
    folder = _new_sweep_dir(Path(runs_dir), label)
    enqueue(runs_dir, configs, sweep=folder.name)
    write_sweep_results(runs_dir, folder.name)
    return folder


def results_paths(runs_dir: Path, sweep: str) -> tuple[Path, Path]:
    folder = Path(runs_dir) / SWEEPS_DIR / sweep
    return folder / "results.csv", folder / "results.md"


def write_sweep_results(runs_dir: Path, sweep: str) -> tuple[Path, Path]:
    """Rewrite `results.csv` and `results.md` (atomically) from the files as they stand."""
    csv_path, md_path = results_paths(runs_dir, sweep)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows = sweep_results(runs_dir, sweep)
    atomic_write(csv_path, results_csv(rows).encode())
    atomic_write(md_path, results_markdown(rows, title=sweep).encode())
    return csv_path, md_path


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
RESULT_COLUMNS: tuple[tuple[str, Callable[[JobResult], str]], ...] = (
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


def table_columns(jobs: Sequence[JobResult]) -> list[str]:
    """Config columns shown: the fields that vary, or the usual four when nothing varies."""
    return varying_fields(j.config for j in jobs) or ["hidden", "lr", "batch_size", "epochs"]


def result_row(job: JobResult, config_columns: Sequence[str]) -> list[str]:
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


def results_csv(jobs: Sequence[JobResult]) -> str:
    columns = table_columns(jobs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table_header(columns))
    writer.writerows(result_row(job, columns) for job in jobs)
    return buffer.getvalue()


def results_markdown(jobs: Sequence[JobResult], title: str = "sweep") -> str:
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
