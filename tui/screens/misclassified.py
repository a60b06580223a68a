"""The test digits a checkpoint gets wrong, each with its true label, the prediction and the
top probabilities; optionally only one confusion-matrix cell (true 4 predicted as 9, say).

Opened from the evaluation view with the mistakes it already found (no second pass), or on its
own with a checkpoint path, in which case a thread worker evaluates first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from data.mnist import Dataset
from mlp_core.inspect import Misclassified, filter_cell
from tui.screens.digits import DigitPager
from tui.worker import run_torch_work


def mistake_caption(mistake: Misclassified) -> Text:
    """``true 4 → 9`` on one line, the top probabilities (``9 61%  4 30%  7 5%``) on the next."""
    caption = Text.assemble(
        ("true ", "grey70"),
        (str(mistake.true_label), "bold green"),
        (" → ", "grey70"),
        (str(mistake.predicted), "bold red"),
        (f"  #{mistake.index}", "grey50"),
        "\n",
    )
    for rank, (label, probability) in enumerate(mistake.top):
        if rank:
            caption.append("  ")
        style = "green" if label == mistake.true_label else ("red" if rank == 0 else "")
        caption.append(f"{label} {100 * probability:.0f}%", style=style)
    return caption


class MisclassifiedScreen(DigitPager):
    """Pages through misclassified test digits (n/p or arrows). Escape closes."""

    class Ready(Message):
        """From the worker: the mistakes and the data set they index into."""

        def __init__(self, mistakes: list[Misclassified], dataset: Dataset) -> None:
            super().__init__()
            self.mistakes, self.dataset = mistakes, dataset

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
        *,
        cell: tuple[int, int] | None = None,
        mistakes: Sequence[Misclassified] | None = None,
        per_page: int = 8,
    ) -> None:
        super().__init__(per_page)
        self.checkpoint_path = Path(checkpoint_path)
        self.data_dir = data_dir
        self.device = device
        self.dataset = dataset
        self.cell = cell
        self.mistakes: list[Misclassified] | None = (
            None if mistakes is None else filter_cell(list(mistakes), cell)
        )

    def on_mount(self) -> None:
        self.query_one("#pager-status", Static).update(f"{self.checkpoint_path}")
        if self.mistakes is not None and self.dataset is not None:
            self.show_page(0)
        else:
            self.query_one("#pager-title", Static).update(self.heading())
            self._find()

    @work(thread=True, exclusive=True, exit_on_error=False, group="misclassified")
    def _find(self) -> None:
        from data.idx import DatasetError
        from mlp_core.checkpoint import CheckpointError
        from mlp_core.device import DeviceError
        from mlp_core.inspect import inspect_checkpoint

        try:
            inspection = run_torch_work(
                partial(
                    inspect_checkpoint,
                    self.checkpoint_path,
                    self.dataset,
                    self.device,
                    data_dir=self.data_dir,
                )
            )
        except (CheckpointError, DatasetError, DeviceError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if not get_current_worker().is_cancelled:
            found = filter_cell(inspection.mistakes, self.cell)
            self.post_message(self.Ready(found, inspection.dataset))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "misclassified" and event.state == WorkerState.ERROR:
            self.show_error(f"{self.checkpoint_path}: failed ({event.worker.error!r})")

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        message.stop()
        self.mistakes, self.dataset = message.mistakes, message.dataset
        self.show_page(0)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        message.stop()
        self.show_error(f"Cannot evaluate: {message.error}")

    def count(self) -> int:
        return 0 if self.mistakes is None else len(self.mistakes)

    def card(self, item: int) -> tuple[np.ndarray, Text | str]:
        assert self.mistakes is not None and self.dataset is not None
        mistake = self.mistakes[item]
        return self.dataset.test_images[mistake.index], mistake_caption(mistake)

    def heading(self) -> str:
        if self.cell is None:
            return "Misclassified test digits"
        return f"Misclassified: true {self.cell[0]} predicted as {self.cell[1]}"
