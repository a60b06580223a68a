"""The queue that outlives the app: one file per job under <runs_dir>/queue/, a runner process.

Skeleton: the bodies are being filled in (issue 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.config import TrainConfig

#: Job states; a job's state is the middle part of its file name (<id>.<state>.json).
JOB_STATES = ("waiting", "running", "done", "failed", "diverged", "cancelled", "interrupted")
FINAL_STATES = ("done", "failed", "diverged", "cancelled", "interrupted")


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


def enqueue(runs_dir: Path, configs: list[TrainConfig], *, sweep: str | None = None) -> list[Job]:
    """Add one waiting job file per config (in order); returns the jobs."""
    raise NotImplementedError


def list_jobs(runs_dir: Path) -> list[Job]:
    """Every job, oldest first: waiting, running, done, failed, diverged, cancelled..."""
    raise NotImplementedError


def cancel_job(runs_dir: Path, job_id: str) -> None:
    """waiting -> cancelled (atomic rename, so it never races a claim); running -> stop_run."""
    raise NotImplementedError


def remove_job(runs_dir: Path, job_id: str) -> None:
    """Delete a job file that is not running (QueueError for a running job)."""
    raise NotImplementedError


def clear_ended(runs_dir: Path) -> int:
    """Delete the files of every ended job; returns how many."""
    raise NotImplementedError


def ensure_runner(
    runs_dir: Path, devices: list[str], *, data_dir: Path | None = None
) -> int | None:
    """Spawn the detached queue runner if jobs wait and no runner holds queue/runner.lock;
    returns its pid or None. The runner launches each job with launch_run, one per device
    (a device lock each), and exits when the queue is empty."""
    raise NotImplementedError
