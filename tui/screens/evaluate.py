"""Evaluate one checkpoint on the test set: loss, accuracy, per-class accuracy, confusion.

The work (reading the checkpoint, loading the data, the forward pass) runs in a thread worker
that only posts plain values back; its torch part runs in the app's torch thread when no run
holds it (`tui.worker.run_torch_work`: one OpenMP team, not two). A checkpoint that cannot
be read is shown as a message on this screen and in a notification; the app goes on. Enter on
a confusion cell opens the misclassified digits of that cell; `m` opens every one of them.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from data.mnist import Dataset
from mlp_core.inspect import Inspection
from tui.widgets.confusion import ConfusionTable
from tui.worker import run_torch_work

NARROW_WIDTH = 90


#: Characters in a per-class bar.
BAR_WIDTH = 20


def bar_floor(per_class_accuracy: list[float]) -> float:
    """Where the per-class bars start, in percent: a whole percent at least one point under the
    worst class (0 when classes are far apart), so 95.9% and 99.1% no longer look alike."""
    if not per_class_accuracy:
        return 0.0
    lowest = 100.0 * min(per_class_accuracy)
    return max(0.0, math.floor(lowest) - 1.0)


def per_class_table(per_class_accuracy: list[float], confusion: list[list[int]]) -> Table:
    """Class, accuracy, a bar and the count, one row per class; the worst class in red.

    The bars run from `bar_floor` to 100%, as the bar column's header says (``95% ▸ 100%``):
    what distinguishes the classes fills the bar, not the share they all have."""
    floor = bar_floor(per_class_accuracy)
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    start = f"{floor:.0f}% "
    scale = start + "─" * (BAR_WIDTH - len(start) - 5) + "▸100%"
    for header, justify in (
        ("", "right"),
        ("accuracy", "right"),
        (scale, "left"),
        ("images", "right"),
    ):
        table.add_column(header, justify=justify)
    worst = min(range(len(per_class_accuracy)), key=per_class_accuracy.__getitem__, default=-1)
    for label, accuracy in enumerate(per_class_accuracy):
        share = (100.0 * accuracy - floor) / (100.0 - floor) if floor < 100 else 1.0
        filled = min(BAR_WIDTH, max(0, round(share * BAR_WIDTH)))
        style = "red" if label == worst else "green"
        bar = Text("█" * filled, style=style) + Text("·" * (BAR_WIDTH - filled), style="grey50")
        total = sum(confusion[label])
        table.add_row(Text(str(label), style="bold"), f"{100 * accuracy:6.2f}%", bar, f"{total}")
    return table


class EvaluateScreen(Screen[None]):
    """Test-set figures of one checkpoint. Escape closes."""

    DEFAULT_CSS = """
    EvaluateScreen { layout: vertical; }
    EvaluateScreen #eval-title { padding: 0 1; text-style: bold; }
    EvaluateScreen #eval-status { padding: 0 1; height: auto; }
    EvaluateScreen #eval-status.error { color: $error; text-style: bold; }
    EvaluateScreen #eval-progress { padding: 0 1; }
    EvaluateScreen #eval-results { height: 1fr; padding: 0 1; }
    EvaluateScreen #eval-summary { height: auto; margin-bottom: 1; }
    EvaluateScreen #eval-columns { height: auto; }
    EvaluateScreen.narrow #eval-columns { layout: vertical; }
    EvaluateScreen.narrow #eval-per-class { width: 100%; margin-top: 1; }
    EvaluateScreen #eval-confusion-box { width: auto; height: auto; margin-right: 3; }
    EvaluateScreen #eval-per-class { width: 1fr; height: auto; }
    EvaluateScreen .eval-caption { color: $text-muted; height: auto; }
    EvaluateScreen #eval-cursor { color: $warning; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("m", "all_mistakes", "All misclassified"),
    ]

    class Progress(Message):
        """From the worker: it reached `stage` (fraction done in [0, 1])."""

        def __init__(self, stage: str, fraction: float) -> None:
            super().__init__()
            self.stage, self.fraction = stage, fraction

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EvaluateScreen.Progress)

    class Ready(Message):
        """From the worker: the evaluation is done."""

        def __init__(self, inspection: Inspection) -> None:
            super().__init__()
            self.inspection = inspection

    class Failed(Message):
        """From the worker: the checkpoint, data or device could not be used."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        checkpoint_path: Path,
        data_dir: Path | None = None,
        device: str = "auto",
        dataset: Dataset | None = None,
    ) -> None:
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.data_dir = data_dir
        self.device = device
        self.dataset = dataset
        self.inspection: Inspection | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Evaluate {self.checkpoint_path}", id="eval-title")
        yield Static("starting…", id="eval-status")
        yield ProgressBar(total=1.0, show_eta=False, id="eval-progress")
        with VerticalScroll(id="eval-results"):
            yield Static(id="eval-summary")
            with Horizontal(id="eval-columns"):
                with Vertical(id="eval-confusion-box"):
                    yield Static(
                        "confusion: rows true, columns predicted · Enter: see digits",
                        classes="eval-caption",
                    )
                    yield Static("", id="eval-cursor", classes="eval-caption")
                    yield ConfusionTable(id="eval-confusion")
                with Vertical(id="eval-per-class"):
                    yield Static(
                        "per-class accuracy · bars from the scale in their header",
                        classes="eval-caption",
                    )
                    yield Static(id="eval-per-class-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#eval-results").display = False
        self._evaluate()

    def on_resize(self, event: events.Resize) -> None:
        """Below 90 columns the per-class table goes under the matrix instead of beside it."""
        self.set_class(event.size.width < NARROW_WIDTH, "narrow")

    # -- the worker -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate")
    def _evaluate(self) -> None:
        """Runs off the UI thread: posts Progress, then Ready or Failed; touches no widget."""
        from data.idx import DatasetError
        from mlp_core.checkpoint import CheckpointError
        from mlp_core.device import DeviceError
        from mlp_core.inspect import inspect_checkpoint

        worker = get_current_worker()

        def progress(stage: str, fraction: float) -> None:
            if not worker.is_cancelled:
                self.post_message(self.Progress(stage, fraction))

        work = partial(
            inspect_checkpoint,
            self.checkpoint_path,
            self.dataset,
            self.device,
            progress=progress,
            data_dir=self.data_dir,
        )
        try:
            inspection = run_torch_work(work)
        except (CheckpointError, DatasetError, DeviceError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(self.Ready(inspection))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """An unexpected exception in the worker: say so here rather than crash the app."""
        if event.worker.group == "evaluate" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self._show_error(f"{self.checkpoint_path}: evaluation failed ({error!r})")

    # -- messages from the worker ---------------------------------------------------------

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        message.stop()
        if self.inspection is None and self.error is None:
            self.query_one("#eval-status", Static).update(f"{message.stage}…")
            self.query_one("#eval-progress", ProgressBar).update(progress=message.fraction)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        message.stop()
        self._show_error(message.error)

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        message.stop()
        self.inspection = inspection = message.inspection
        result = inspection.result
        self.query_one("#eval-progress").display = False
        status = self.query_one("#eval-status", Static)
        status.update(f"run {inspection.run or '?'} · epoch {inspection.epoch}")
        summary = Text.assemble(
            ("test loss ", "bold"),
            f"{result.loss:.4f}   ",
            ("accuracy ", "bold"),
            (f"{100 * result.accuracy:.2f}%", "bold green"),
            f"   {result.count} images · {len(inspection.mistakes)} misclassified",
            " · standardised inputs" if inspection.standardize else " · pixels in [0, 1]",
        )
        self.query_one("#eval-summary", Static).update(summary)
        self.query_one("#eval-per-class-table", Static).update(
            per_class_table(result.per_class_accuracy, result.confusion)
        )
        table = self.query_one(ConfusionTable)
        table.set_matrix(result.confusion)
        self.query_one("#eval-cursor", Static).update(table.cursor_words())
        self.query_one("#eval-results").display = True
        table.focus()

    def _show_error(self, error: str) -> None:
        self.error = error
        status = self.query_one("#eval-status", Static)
        status.update(Text(f"Cannot evaluate: {error}"))
        status.add_class("error")
        self.query_one("#eval-progress").display = False
        self.notify(error, title="Cannot evaluate", severity="error", timeout=8)

    # -- keys -----------------------------------------------------------------------------

    @on(ConfusionTable.CellHighlighted)
    def _cursor_moved(self) -> None:
        table = self.query_one(ConfusionTable)
        self.query_one("#eval-cursor", Static).update(table.cursor_words())

    @on(ConfusionTable.CellChosen)
    def _cell_chosen(self, message: ConfusionTable.CellChosen) -> None:
        message.stop()
        if message.true_label == message.predicted:
            self.notify(f"{message.count} images of {message.true_label} are right: no mistakes")
            return
        self._open_mistakes((message.true_label, message.predicted))

    def action_all_mistakes(self) -> None:
        self._open_mistakes(None)

    def _open_mistakes(self, cell: tuple[int, int] | None) -> None:
        from tui.screens.misclassified import MisclassifiedScreen

        if self.inspection is None:
            self.notify("the evaluation is not finished", severity="warning")
            return
        self.app.push_screen(
            MisclassifiedScreen(
                self.checkpoint_path,
                self.data_dir,
                self.device,
                self.inspection.dataset,
                cell=cell,
                mistakes=self.inspection.mistakes,
            )
        )

    def action_close(self) -> None:
        self.workers.cancel_group(self, "evaluate")
        self.dismiss()
