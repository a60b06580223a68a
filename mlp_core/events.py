"""What `train()` yields: small frozen dataclasses of plain Python values.

Front-ends print them (CLI), serialise them (`--json`) or post them as messages (the app). They
hold no tensors, so they can cross threads and processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base of every training event."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the event's name under "event"."""
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class RunStarted(Event):
    """A run began (or resumed) in `run_dir`."""

    run_name: str
    run_dir: str
    config: dict[str, Any]
    device: str
    dataset: str
    start_epoch: int
    epochs: int
    steps_per_epoch: int
    train_size: int
    val_size: int
    test_size: int
    note: str | None = None


@dataclass(frozen=True)
class Progress(Event):
    """Within an epoch, throttled (a few per second): one GPU sync each, for the loss."""

    epoch: int
    step: int
    steps: int
    train_loss: float
    samples_per_second: float
    eta_seconds: float


@dataclass(frozen=True)
class EpochEnd(Event):
    """An epoch finished; losses are mean cross-entropy, accuracies fractions in [0, 1]."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float
    test_accuracy: float
    lr: float
    seconds: float
    samples_per_second: float
    is_best: bool


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A checkpoint file was written whole (kind: last, best or epoch)."""

    path: str
    kind: str
    epoch: int


@dataclass(frozen=True)
class Finished(Event):
    """The run ended: status "finished" (all epochs) or "stopped" (asked to stop)."""

    status: str
    epochs_done: int
    best_epoch: int | None
    best_val_accuracy: float | None
    test_accuracy_at_best: float | None
    seconds: float
    run_dir: str


@dataclass(frozen=True)
class Diverged(Event):
    """The loss became NaN or infinite; the run stopped and the last good checkpoint stays."""

    epoch: int
    step: int
    reason: str
    last_good_checkpoint: str | None
    run_dir: str = field(default="")


@dataclass(frozen=True)
class RunClosed(Event):
    """A followed run ended without a Finished or Diverged event: status "failed",
    "interrupted" (its process died) or "lost" (another host's run whose heartbeat went stale).
    Named apart from the app's own `RunEnded` message."""

    status: str
    reason: str
    run_dir: str
