"""Runs as processes: spawn a detached run, judge its liveness, stop it, follow its folder.

UI-free (no textual, no tui): the CLI, the app and the queue runner all use only this.
Skeleton: the bodies are being filled in (issue 8).
"""

from __future__ import annotations

from pathlib import Path

from mlp_core.config import TrainConfig
from mlp_core.events import Event


class LaunchError(Exception):
    """A run could not start (bad config, checkpoint, data set or device): the child's reason,
    one line."""


def launch_run(
    runs_dir: Path,
    config: TrainConfig,
    *,
    data_dir: Path | None = None,
    start: Path | None = None,
    timeout: float = 60.0,
    device_lock: Path | None = None,
) -> Path:
    """Spawn a detached run process (double fork + setsid, stdin /dev/null, output appended to
    <run>/stdout.log, intermediate child reaped). Blocks until the child has made (or, resuming
    in place, taken) its run folder, holds <run>/lock and wrote run.json; returns the folder.
    A failure before training (config, checkpoint, dataset, device) raises LaunchError with the
    child's reason. `start` is a checkpoint file to resume or fork from; `device_lock` a file the
    run flocks for its whole life (the queue's mark that a device is busy)."""
    raise NotImplementedError


def stop_run(run_path: Path, *, grace: float = 10.0, wait: bool = True) -> str:
    """Write <run>/STOP (checked every batch). With wait: wait up to `grace`, then SIGTERM
    (only after checking the pid's start time in /proc), then SIGKILL. A run already dead is
    marked interrupted. Returns the status afterwards."""
    raise NotImplementedError


def judge_status(run_path: Path, raw: dict) -> str:
    """THE liveness decision (lock held -> running; lock free + 'running' -> 'interrupted';
    other host/boot -> heartbeat: stale -> 'lost'). runs.load_run uses it, so RunInfo.status is
    always judged; every front-end reads status through load_run/list_runs."""
    raise NotImplementedError


class RunFollower:
    """Follows one run folder: tail metrics.jsonl by byte offset (partial last line ignored),
    read the progress file, watch run.json. Works for a live run or a finished one (replay)."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)

    def poll(self) -> list[Event]:
        """Events since the last poll, as the engine's own Event classes: RunStarted first
        (built from run.json), EpochEnd per new metrics line, Progress when the progress file
        changed, CheckpointSaved for new checkpoint files, then one end event when the run is
        no longer running: Finished (finished/stopped), Diverged, or RunClosed(status, reason)
        (events.py) for failed/interrupted/lost."""
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """True once the end event has been returned by poll()."""
        raise NotImplementedError


def logind_warning() -> str | None:
    """A one-line hint when logind kills user processes at logout (KillUserProcesses=yes)."""
    raise NotImplementedError
