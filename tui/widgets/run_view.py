"""The run on screen: the loss and accuracy charts, the epoch's progress bar and the results
table, in the middle of the app.

It draws a run from the engine's events, as the app's follower posts them for a live run
(`began`, `progress`, `epoch_completed`, `ended`), or from a finished run's metrics (`loaded`),
and keeps the run's metrics rows (`history`) that the charts and the table show. What a run's
events mean for the rest of the app (the header's state, the form's lock, toasts, the queue)
stays with the app; this widget only shows the run.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from mlp_core.events import EpochEnd, Progress, RunStarted
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.epoch_progress import EpochProgress
from tui.widgets.results import ResultsTable

#: A row the charts overlay for a compared run: (legend name, metrics rows, run name).
ComparedRun = tuple[str, list[dict[str, Any]], str]


class RunView(Vertical):
    """Charts side by side on top, the progress bar, the results table under them."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: Metrics rows of the run on screen (live or loaded from its log), oldest first.
        self.history: list[dict[str, Any]] = []
        #: The run's epochs in all (the bar's "epoch 3/10"), once known.
        self.epochs = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="charts"):
            yield LossChart(id="loss-chart")
            yield AccuracyChart(id="accuracy-chart")
        yield EpochProgress(id="progress")
        yield ResultsTable(id="results")

    def show_history(self, rows: list[dict[str, Any]]) -> None:
        """Show these metrics rows, and no per-step curve (a new run is on screen)."""
        self.history = list(rows)
        self.query_one(ResultsTable).set_history(self.history)
        loss = self.query_one(LossChart)
        loss.clear_steps()
        loss.set_history(self.history)
        self.query_one(AccuracyChart).set_history(self.history)

    def reset(self, text: str) -> None:
        """Nothing shown yet: a run is being started or read (`text` says which)."""
        self.show_history([])
        self.query_one(EpochProgress).reset(text)

    def began(self, event: RunStarted) -> None:
        """A followed run's start: its earlier epochs are replayed as epoch events next."""
        self.epochs = event.epochs
        self.show_history([])

    def progress(self, event: Progress) -> None:
        """The epoch in progress: the bar, and the loss chart's per-step curve."""
        self.query_one(EpochProgress).show(
            event.epoch,
            self.epochs,
            event.step,
            event.steps,
            event.samples_per_second,
            event.eta_seconds,
            event.train_loss,
        )
        self.query_one(LossChart).add_step(event.epoch, event.step, event.steps, event.train_loss)

    def epoch_completed(self, event: EpochEnd) -> dict[str, Any]:
        """An epoch's row: in the table and the curves; the bar says the epoch is done."""
        row = event.to_dict()
        row.pop("event", None)
        self.history.append(row)
        self.query_one(ResultsTable).add_epoch(row)
        self.query_one(LossChart).set_history(self.history)
        self.query_one(AccuracyChart).set_history(self.history)
        self.query_one(EpochProgress).epoch_done(
            event.epoch, self.epochs, event.seconds, event.samples_per_second
        )
        return row

    def row_of(self, epoch: int) -> dict[str, Any]:
        """The metrics row of `epoch` (the latest such), or {}."""
        return next((r for r in reversed(self.history) if r.get("epoch") == epoch), {})

    def ended(self, text: str) -> None:
        """The run is over (finished, stopped, diverged, died) or never began: `text` says so."""
        self.query_one(EpochProgress).idle(text)

    def loaded(self, rows: list[dict[str, Any]], epochs: int, status: str, name: str) -> None:
        """A run that is not training, from its metrics: its curves, table and epochs done."""
        self.show_history(rows)
        self.epochs = epochs
        done = len(rows)
        total = done if status == "finished" else max(epochs, done)
        self.query_one(EpochProgress).loaded(
            done, total, f"{status}, {done}/{epochs} epoch(s) · {name}"
        )

    def compare(self, runs: list[ComparedRun] | None) -> None:
        """Overlay these runs in both charts (None: the run on screen alone)."""
        self.query_one(LossChart).set_compare(runs)
        self.query_one(AccuracyChart).set_compare(runs)
