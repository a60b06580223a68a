"""Messages that carry a run's events from the app's follow worker to the app.

Each message wraps one `mlp_core.events` dataclass, which holds only plain Python values, as
`RunFollower.poll()` reads them back from a run folder written by the run's own process.
Progress messages replace one another when the UI falls behind (toolong's ScanProgress); epoch,
checkpoint and end messages never do. Any iterator of events can be turned into these messages
(`message_for`), so a replayed run and a live one feed the same screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from mlp_core.events import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunClosed,
    RunStarted,
)


class TrainingMessage(Message):
    """One engine event, posted by the training worker."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event: Any = event


class RunBegan(TrainingMessage):
    """A run started or resumed (`event` is a RunStarted)."""

    event: RunStarted


class EpochProgress(TrainingMessage):
    """Within an epoch (`event` is a Progress); only the newest one matters."""

    event: Progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EpochProgress)


class EpochCompleted(TrainingMessage):
    """An epoch ended (`event` is an EpochEnd): one table row, one more point per curve."""

    event: EpochEnd


class CheckpointWritten(TrainingMessage):
    """A checkpoint file was written whole (`event` is a CheckpointSaved)."""

    event: CheckpointSaved


class RunEnded(TrainingMessage):
    """The run finished or was stopped (`event` is a Finished)."""

    event: Finished


class RunDiverged(TrainingMessage):
    """The loss became NaN or infinite (`event` is a Diverged)."""

    event: Diverged


class RunGone(TrainingMessage):
    """The run process ended without a clean end (`event` is the follower's RunClosed: status
    failed, interrupted or lost, and the reason)."""


class RunFailed(Message):
    """A run could not start: `kind` names the trouble (launch...), `text` the reason."""

    def __init__(self, kind: str, text: str, run_dir: str | None) -> None:
        super().__init__()
        self.kind = kind
        self.text = text
        self.run_dir = run_dir


class BackendLoaded(Message):
    """The loading thread is done: `backend` holds the data set and device, or why not."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.backend = backend


class Launched(Message):
    """A run process holds its folder `run_path` (launched by this app): follow it."""

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = run_path


class Stopped(Message):
    """`stop_run` returned for `run_path`: `status` is the run's status afterwards."""

    def __init__(self, run_path: Path, status: str) -> None:
        super().__init__()
        self.run_path = run_path
        self.status = status


_MESSAGE_FOR_EVENT: dict[type[Event], type[TrainingMessage]] = {
    RunStarted: RunBegan,
    RunClosed: RunGone,
    Progress: EpochProgress,
    EpochEnd: EpochCompleted,
    CheckpointSaved: CheckpointWritten,
    Finished: RunEnded,
    Diverged: RunDiverged,
}


def message_for(event: Event) -> TrainingMessage:
    """The message that carries `event` (a plain TrainingMessage for an unknown event)."""
    return _MESSAGE_FOR_EVENT.get(type(event), TrainingMessage)(event)
