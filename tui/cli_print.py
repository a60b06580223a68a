"""How `train` and `attach` print a run's events: epoch lines and a progress bar. No torch.

Apart from cli_commands (which imports torch) so that `attach` starts at once.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from mlp_core.events import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunStarted,
)


def _percent(value: float | None) -> str:
    return "   -   " if value is None else f"{100 * value:6.2f}%"


def format_epoch(event: EpochEnd, epochs: int) -> str:
    """One readable line per epoch."""
    val = ""
    if event.val_accuracy is not None:
        val = f"  val loss {event.val_loss:.4f} acc {_percent(event.val_accuracy)}"
    return (
        f"epoch {event.epoch:>3}/{epochs}  train loss {event.train_loss:.4f}{val}"
        f"  test loss {event.test_loss:.4f} acc {_percent(event.test_accuracy)}"
        f"  lr {event.lr:.3g}  {event.seconds:.1f}s  {event.samples_per_second / 1000:.1f}k/s"
        + ("  *best" if event.is_best else "")
    )


class ProgressLine:
    """A one-line progress bar redrawn in place, only when stdout is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = False

    def show(self, event: Progress, epochs: int) -> None:
        if not self.enabled:
            return
        width = max(10, min(40, shutil.get_terminal_size().columns - 60))
        filled = int(width * event.step / event.steps)
        bar = "█" * filled + "·" * (width - filled)
        self.stream.write(
            f"\repoch {event.epoch:>3}/{epochs} {bar} {event.step}/{event.steps}"
            f"  loss {event.train_loss:.4f}  {event.samples_per_second / 1000:.1f}k/s"
            f"  {event.eta_seconds:4.0f}s left "
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.shown = False


def print_event(event: Event, epochs: int, progress: ProgressLine) -> None:
    """One event as `train` shows it (shared with `attach`)."""
    if isinstance(event, RunStarted):
        resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
        print(f"run {event.run_name} on {event.device}{resumed}")
        print(
            f"data {event.dataset}: {event.train_size} train, {event.val_size} validation, "
            f"{event.test_size} test; {event.steps_per_epoch} batches per epoch"
        )
        if event.note:
            print(f"note: {event.note}")
    elif isinstance(event, Progress):
        progress.show(event, epochs)
    elif isinstance(event, EpochEnd):
        print(format_epoch(event, epochs), flush=True)
    elif isinstance(event, CheckpointSaved):
        pass  # one line per epoch is enough; --json lists every file written
    elif isinstance(event, Diverged):
        kept = event.last_good_checkpoint or "none (no epoch finished)"
        print(f"diverged: {event.reason}; last good checkpoint: {kept}", file=sys.stderr)
    elif isinstance(event, Finished):
        best = ""
        if event.best_epoch is not None:
            val = f"val {_percent(event.best_val_accuracy)}, " if event.best_val_accuracy else ""
            test = _percent(event.test_accuracy_at_best)
            best = f"; best epoch {event.best_epoch} ({val}test {test})"
        print(f"{event.status} after {event.epochs_done} epochs in {event.seconds:.1f}s{best}")
        print(f"saved in {event.run_dir}")
