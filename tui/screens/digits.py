"""The lab's first step, seeing the data: page through training and test digits with labels.

`DigitPager` is the paging both this screen and the misclassified view use: a title line, a
page of captioned digits side by side, and n/p (or the arrows) to move a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from data.mnist import Dataset
from tui.widgets.digit import digit_page


class DigitPager(Screen[None]):
    """A screen that shows `count()` digits, `per_page` at a time. Subclasses give the cards."""

    DEFAULT_CSS = """
    DigitPager #pager-title { padding: 0 1; text-style: bold; height: auto; }
    DigitPager #pager-status { padding: 0 1; height: auto; color: $text-muted; }
    DigitPager #pager-status.error { color: $error; text-style: bold; }
    DigitPager #pager-scroll { height: 1fr; padding: 1 1 0 1; }
    DigitPager #pager-page { width: 100%; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("n", "next_page", "Next"),
        Binding("p", "previous_page", "Previous"),
        Binding("right,pagedown", "next_page", "Next", show=False),
        Binding("left,pageup", "previous_page", "Previous", show=False),
        Binding("home", "first_page", "First", show=False),
        Binding("end", "last_page", "Last", show=False),
    ]

    def __init__(self, per_page: int = 8) -> None:
        super().__init__()
        self.per_page = max(1, per_page)
        self.page = 0
        #: Indexes (into the subclass's items) of the digits on screen, for tests and callers.
        self.shown: list[int] = []
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="pager-title")
        yield Static("loading…", id="pager-status")
        with VerticalScroll(id="pager-scroll"):
            yield Static("", id="pager-page")
        yield Footer()

    # -- what subclasses provide ----------------------------------------------------------

    def count(self) -> int:
        """How many digits there are to page through (0 until loaded)."""
        raise NotImplementedError

    def card(self, item: int) -> tuple[np.ndarray, Text | str]:
        """(28x28 or 784 uint8 pixels, caption) of item `item`."""
        raise NotImplementedError

    def heading(self) -> str:
        raise NotImplementedError

    # -- paging ---------------------------------------------------------------------------

    @property
    def pages(self) -> int:
        return max(1, -(-self.count() // self.per_page))

    def show_page(self, page: int) -> None:
        """Draw page `page` (clamped), with the title saying which digits these are."""
        self.page = min(max(page, 0), self.pages - 1)
        start = self.page * self.per_page
        self.shown = list(range(start, min(start + self.per_page, self.count())))
        where = (
            f"{self.shown[0] + 1}–{self.shown[-1] + 1} of {self.count()}" if self.shown else "none"
        )
        self.query_one("#pager-title", Static).update(f"{self.heading()} · {where}")
        cards = [self.card(item) for item in self.shown]
        self.query_one("#pager-page", Static).update(digit_page(cards))
        self.query_one("#pager-scroll", VerticalScroll).scroll_home(animate=False)

    def show_error(self, error: str) -> None:
        self.error = error
        status = self.query_one("#pager-status", Static)
        status.update(Text(error))
        status.add_class("error")
        self.notify(error, severity="error", timeout=8)

    def action_next_page(self) -> None:
        self.show_page(self.page + 1)

    def action_previous_page(self) -> None:
        self.show_page(self.page - 1)

    def action_first_page(self) -> None:
        self.show_page(0)

    def action_last_page(self) -> None:
        self.show_page(self.pages - 1)

    def action_close(self) -> None:
        self.workers.cancel_node(self)
        self.dismiss()


class DigitsScreen(DigitPager):
    """Training and test digits with their labels; `t` switches split. Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("t", "switch_split", "Train/test")]

    class Loaded(Message):
        """From the worker: the data set is in memory."""

        def __init__(self, dataset: Dataset) -> None:
            super().__init__()
            self.dataset = dataset

    class Failed(Message):
        """From the worker: the data set could not be loaded."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        data_dir: Path | None = None,
        dataset: Dataset | None = None,
        split: str = "train",
        per_page: int = 8,
    ) -> None:
        super().__init__(per_page)
        if split not in ("train", "test"):
            raise ValueError(f"split must be train or test, not {split!r}")
        self.data_dir = data_dir
        self.dataset = dataset
        self.split = split

    def on_mount(self) -> None:
        if self.dataset is not None:
            self._loaded(self.Loaded(self.dataset))
        else:
            self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="digits")
    def _load(self) -> None:
        from data.idx import DatasetError
        from data.mnist import load_dataset

        try:
            self.post_message(self.Loaded(load_dataset(self.data_dir)))
        except DatasetError as exc:
            self.post_message(self.Failed(str(exc)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "digits" and event.state == WorkerState.ERROR:
            self.show_error(f"cannot load the data set ({event.worker.error!r})")

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        self.dataset = message.dataset
        note = f" · {self.dataset.note}" if self.dataset.note else ""
        self.query_one("#pager-status", Static).update(
            f"{self.dataset.name}: {len(self.dataset.train_labels)} training and "
            f"{len(self.dataset.test_labels)} test images · t: switch split{note}"
        )
        self.show_page(0)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        message.stop()
        self.show_error(message.error)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.dataset is not None
        if self.split == "train":
            return self.dataset.train_images, self.dataset.train_labels
        return self.dataset.test_images, self.dataset.test_labels

    def count(self) -> int:
        return 0 if self.dataset is None else len(self._arrays()[1])

    def card(self, item: int) -> tuple[np.ndarray, Text | str]:
        images, labels = self._arrays()
        caption = Text.assemble((f"label {int(labels[item])}", "bold"), f"  #{item}")
        return images[item], caption

    def heading(self) -> str:
        return f"{'Training' if self.split == 'train' else 'Test'} digits"

    def action_switch_split(self) -> None:
        if self.dataset is None:
            return
        self.split = "test" if self.split == "train" else "train"
        self.show_page(0)
