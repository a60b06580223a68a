"""Messages that carry the engine's events from the training worker to the app.

Each message wraps one `mlp_core.events` dataclass, which holds only plain Python values (no
tensors), so it can cross from the worker thread to the UI thread. Progress messages replace one
another when the UI falls behind (toolong's ScanProgress); epoch, checkpoint and end messages
never do. Any iterator of events, not only `train()`, can be turned into these messages
(`message_for`), so another source (a run in another process, read from its log) can feed the
same screen.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from mlp_core.events import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
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


class RunFailed(Message):
    """The event source raised: `kind` names the trouble (data, device, out of memory...)."""

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


class JobUpdate(Message):
    """An event of a sweep (`mlp_core.sweep`: SweepStarted, JobStarted, JobEvent, JobFinished,
    SweepFinished), for the queue view. Progress inside a job replaces the previous one."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, JobUpdate)
            and _is_progress(message.event)
            and _is_progress(self.event)
            and message.event.job_id == self.event.job_id
        )


def _is_progress(event: Any) -> bool:
    return type(getattr(event, "event", None)) is Progress


_MESSAGE_FOR_EVENT: dict[type[Event], type[TrainingMessage]] = {
    RunStarted: RunBegan,
    Progress: EpochProgress,
    EpochEnd: EpochCompleted,
    CheckpointSaved: CheckpointWritten,
    Finished: RunEnded,
    Diverged: RunDiverged,
}


def message_for(event: Event) -> TrainingMessage:
    """The message that carries `event` (a plain TrainingMessage for an unknown event)."""
    return _MESSAGE_FOR_EVENT.get(type(event), TrainingMessage)(event)
