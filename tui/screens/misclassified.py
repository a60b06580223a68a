"""The digits a checkpoint gets wrong, each with its true label, the prediction and the top
probabilities; optionally only one confusion-matrix cell (true 4 predicted as 9, say).

Opened on the test set, from the evaluation view with the mistakes it already found (no second
pass), or on its own with a checkpoint path, in which case a thread worker evaluates first.
`t` switches to the training file's digits (validation images included: they come from it) and
back; the training mistakes are found by a worker the first time, then kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
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
    """Pages through misclassified digits (n/p or arrows); `t` test/train. Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("t", "switch_split", "Train/test")]

    class Ready(Message):
        """From the worker: the mistakes of `split` and the data set they index into."""

        def __init__(
            self, mistakes: list[Misclassified], dataset: Dataset, split: str = "test"
        ) -> None:
            super().__init__()
            self.mistakes, self.dataset, self.split = mistakes, dataset, split

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
        #: "test" or "train": which digits the mistakes index into.
        self.split = "test"
        #: The mistakes found so far, by split (switching back needs no second pass).
        self.found: dict[str, list[Misclassified]] = {}
        if self.mistakes is not None:
            self.found["test"] = self.mistakes

    def on_mount(self) -> None:
        self._say_split()
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="misclassified")
    def _find_train(self) -> None:
        """The training file's mistakes (a forward pass over it, in the torch thread)."""
        from data.idx import DatasetError
        from mlp_core.checkpoint import CheckpointError
        from mlp_core.device import DeviceError

        dataset = self.dataset
        assert dataset is not None
        try:
            found = run_torch_work(
                partial(train_mistakes, self.checkpoint_path, dataset, self.device)
            )
        except (CheckpointError, DatasetError, DeviceError) as exc:
            self.post_message(self.Failed(str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Ready(filter_cell(found, self.cell), dataset, "train"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "misclassified" and event.state == WorkerState.ERROR:
            self.show_error(f"{self.checkpoint_path}: failed ({event.worker.error!r})")

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        message.stop()
        self.found[message.split] = message.mistakes
        self.dataset = message.dataset
        if message.split == self.split:
            self.mistakes = message.mistakes
            self._say_split()
            self.show_page(0)

    def action_switch_split(self) -> None:
        """Test digits <-> training digits; the training mistakes are found the first time."""
        if self.dataset is None:
            self.notify("still evaluating: t works once the test mistakes are shown")
            return
        self.split = "train" if self.split == "test" else "test"
        self.mistakes = self.found.get(self.split)
        self._say_split()
        if self.mistakes is None:
            self.query_one("#pager-title", Static).update(self.heading())
            self.query_one("#pager-page", Static).update(
                "finding the training digits it gets wrong…"
            )
            self._find_train()
        else:
            self.show_page(0)

    def _say_split(self) -> None:
        self.query_one("#pager-status", Static).update(
            f"{self.checkpoint_path} · {self.split} digits · t: switch to "
            f"{'train' if self.split == 'test' else 'test'}"
        )

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        message.stop()
        self.show_error(f"Cannot evaluate: {message.error}")

    def count(self) -> int:
        return 0 if self.mistakes is None else len(self.mistakes)

    def card(self, item: int) -> tuple[np.ndarray, Text | str]:
        assert self.mistakes is not None and self.dataset is not None
        mistake = self.mistakes[item]
        images = self.dataset.test_images if self.split == "test" else self.dataset.train_images
        return images[mistake.index], mistake_caption(mistake)

    def heading(self) -> str:
        which = "test" if self.split == "test" else "training"
        if self.cell is None:
            return f"Misclassified {which} digits"
        return f"Misclassified {which} digits: true {self.cell[0]} predicted as {self.cell[1]}"


def train_mistakes(checkpoint_path: Path, dataset: Dataset, device: str) -> list[Misclassified]:
    """Every training-file digit the checkpoint gets wrong, its inputs prepared as the run saw
    them (standardised or not). Raises CheckpointError, DeviceError."""
    import torch

    from data.loader import Split, to_float
    from mlp_core.checkpoint import load_checkpoint
    from mlp_core.device import resolve_device
    from mlp_core.inspect import misclassified
    from mlp_core.model import MLP

    checkpoint = load_checkpoint(checkpoint_path)
    torch_device = resolve_device(device)
    model = MLP.from_state_dict(checkpoint.weights(), torch_device)
    split = Split(
        images=to_float(dataset.train_images, checkpoint.config.standardize, torch_device),
        labels=torch.from_numpy(dataset.train_labels.astype(np.int64)).to(torch_device),
    )
    return misclassified(model, split)
