"""What the hidden units learned: each unit's incoming weights as a signed 28x28 image.

A page of thumbnails (blue positive, red negative, each unit scaled by its own largest weight),
ordered by unit, by weight norm, by how strongly a unit feeds a class (`0`-`9`: its fc2 weight
to that class), or by how much a chosen digit activates it. Enter shows the unit large with its
ten outgoing weights. The digit comes from the canvas (`w` there) or from the test set (`t`
here, the next test image each time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from mlp_core.weights import UnitWeights, unit_order
from tui.widgets.digit import render_digit
from tui.widgets.unit_image import render_signed, thumbnail

CARD_WIDTH = 16  # a 14-column thumbnail and a gap


class WeightsLoaded(Message):
    def __init__(self, weights: UnitWeights, standardize: bool, title: str, dataset: Any):
        super().__init__()
        self.weights, self.standardize, self.title, self.dataset = (
            weights,
            standardize,
            title,
            dataset,
        )


class WeightsFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def outgoing_bars(outgoing: np.ndarray, width: int = 10) -> Text:
    """Ten lines `k ▕████  +0.53`: the unit's weight to each class, scaled to the largest."""
    peak = float(np.abs(outgoing).max()) or 1.0
    text = Text(no_wrap=True, end="")
    for digit, value in enumerate(outgoing.tolist()):
        if digit:
            text.append("\n")
        filled = round(abs(value) / peak * width)
        style = "rgb(40,140,255)" if value >= 0 else "rgb(255,70,30)"  # as the images
        text.append(f"{digit} ", style="bold")
        text.append("█" * filled + " " * (width - filled), style=style)
        text.append(f" {value:+.3f}", style=style)
    return text


class WeightsScreen(Screen[None]):
    """A grid of hidden units, sortable; Enter shows one large. Escape closes."""

    DEFAULT_CSS = """
    WeightsScreen #weights-title { padding: 0 1; text-style: bold; height: 1; }
    WeightsScreen #weights-status { padding: 0 1; height: auto; color: $text-muted; }
    WeightsScreen #weights-status.error { color: $error; text-style: bold; }
    WeightsScreen #weights-scroll { height: 1fr; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "toggle_large", "Large", tooltip="Show the unit large, or the grid"),
        Binding("s", "next_order", "Sort", tooltip="Order: unit, norm, class 0-9, activation"),
        Binding("t", "test_digit", "Test digit", tooltip="Units a test image activates most"),
        Binding("pagedown,n", "page(1)", "Next", show=False),
        Binding("pageup,p", "page(-1)", "Previous", show=False),
        Binding("left", "move(-1)", show=False),
        Binding("right", "move(1)", show=False),
        Binding("up", "move_row(-1)", show=False),
        Binding("down", "move_row(1)", show=False),
        *(Binding(str(k), f"order_class({k})", show=False) for k in range(10)),
    ]

    def __init__(
        self,
        checkpoint_path: Path,
        data_dir: Path | None = None,
        dataset: Any = None,
        digit: np.ndarray | None = None,
        per_page: int = 10,
    ) -> None:
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.data_dir = data_dir
        self.dataset = dataset
        self.per_page = max(1, per_page)
        self.weights: UnitWeights | None = None
        self.standardize = True
        self.digit = digit
        self.digit_label = "drawn digit" if digit is not None else ""
        self.activations: np.ndarray | None = None
        self.order: str | int = "activation" if digit is not None else "unit"
        self.units: list[int] = []  # every unit, in the current order
        self.selected = 0  # position in `units`
        self.large = False
        self.test_index = -1
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Hidden units · {self.checkpoint_path}", id="weights-title")
        yield Static("loading…", id="weights-status")
        # Not focusable: the screen's arrows and page keys move the selection, not the scroll.
        with VerticalScroll(id="weights-scroll", can_focus=False):
            yield Static("", id="weights-view")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="weights-load")
    def _load(self) -> None:
        from data.idx import DatasetError
        from data.mnist import load_dataset
        from mlp_core.checkpoint import CheckpointError, load_checkpoint

        try:
            checkpoint = load_checkpoint(self.checkpoint_path)
            dataset = self.dataset if self.dataset is not None else load_dataset(self.data_dir)
        except (CheckpointError, DatasetError) as exc:
            self.post_message(WeightsFailed(str(exc)))
            return
        weights = UnitWeights.from_state(checkpoint.weights())
        title = f"run {checkpoint.run or '?'} · epoch {checkpoint.epoch} · {weights.hidden} units"
        self.post_message(WeightsLoaded(weights, checkpoint.config.standardize, title, dataset))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "weights-load" and event.state == WorkerState.ERROR:
            self._show_error(f"{self.checkpoint_path}: cannot load ({event.worker.error!r})")

    @on(WeightsLoaded)
    def _loaded(self, message: WeightsLoaded) -> None:
        message.stop()
        self.weights, self.standardize, self.dataset = (
            message.weights,
            message.standardize,
            message.dataset,
        )
        self.query_one("#weights-title", Static).update(f"Hidden units · {message.title}")
        if self.digit is not None:
            self.activations = self.weights.activations(self.digit, self.standardize)
        self._reorder(self.order)

    @on(WeightsFailed)
    def _failed(self, message: WeightsFailed) -> None:
        message.stop()
        self._show_error(message.error)

    def _show_error(self, error: str) -> None:
        self.error = error
        status = self.query_one("#weights-status", Static)
        status.update(Text(error))
        status.add_class("error")
        self.notify(error, title="Weights", severity="error", timeout=8)

    # -- order and paging -----------------------------------------------------------------

    def _reorder(self, order: str | int) -> None:
        if self.weights is None:
            return
        if order == "activation" and self.activations is None:
            order = "unit"
        self.order = order
        self.units = unit_order(self.weights, order, self.activations)
        self.selected = 0
        self.show()

    @property
    def page(self) -> int:
        return self.selected // self.per_page

    @property
    def shown(self) -> list[int]:
        """The units on the page on screen, in order."""
        start = self.page * self.per_page
        return self.units[start : start + self.per_page]

    @property
    def selected_unit(self) -> int | None:
        return self.units[self.selected] if self.units else None

    def _order_text(self) -> str:
        if isinstance(self.order, int):
            return f"feeds class {self.order} most"
        return {
            "unit": "unit number",
            "norm": "largest weight norm",
            "activation": f"most active for the {self.digit_label}",
        }[self.order]

    def show(self) -> None:
        """Draw the page (or the large view) and the status line."""
        if self.weights is None:
            return
        pages = -(-len(self.units) // self.per_page)
        self.query_one("#weights-status", Static).update(
            f"ordered by {self._order_text()} · page {self.page + 1} of {pages} · "
            "s sort, 0-9 by class, t test digit, Enter large"
        )
        view = self._large_view() if self.large else self._grid()
        self.query_one("#weights-view", Static).update(view)

    def _caption(self, unit: int) -> str:
        assert self.weights is not None
        if self.order == "activation" and self.activations is not None:
            return f"#{unit} a={self.activations[unit]:.2f}"
        if isinstance(self.order, int):
            return f"#{unit} →{self.order} {self.weights.outgoing[unit, self.order]:+.2f}"
        if self.order == "norm":
            return f"#{unit} ‖w‖{self.weights.norms()[unit]:.2f}"
        return f"#{unit}"

    def _per_row(self) -> int:
        digit_width = 30 if self.digit is not None else 0
        return max(1, (self.size.width - 2 - digit_width) // CARD_WIDTH)

    def _grid(self) -> Table:
        """The page of thumbnails; with a chosen digit, the digit on their left."""
        assert self.weights is not None
        per_row = self._per_row()
        grid = Table.grid(padding=(0, 2))
        for _ in range(min(per_row, len(self.shown))):
            grid.add_column(width=CARD_WIDTH - 2)
        cards = []
        for unit in self.shown:
            card = render_signed(thumbnail(self.weights.signed_image(unit)))
            card.append("\n")
            style = "reverse bold" if unit == self.selected_unit else ""
            card.append(Text(self._caption(unit)[: CARD_WIDTH - 2], style=style))
            cards.append(card)
        for start in range(0, len(cards), per_row):
            grid.add_row(*cards[start : start + per_row])
        if self.digit is None:
            return grid
        digit = render_digit(self.digit)
        digit.append("\n")
        digit.append(Text(self.digit_label, style="bold"))
        outer = Table.grid(padding=(0, 2))
        outer.add_column(width=28)
        outer.add_column()
        outer.add_row(digit, grid)
        return outer

    def _large_view(self) -> Table:
        assert self.weights is not None and self.selected_unit is not None
        unit = self.selected_unit
        weights = self.weights
        image = weights.incoming[unit]
        facts = Text.assemble(
            (f"unit #{unit}\n", "bold"),
            f"‖w‖ {weights.norms()[unit]:.3f}\n",
            f"bias {weights.bias[unit]:+.3f}\n",
            f"weights {image.min():+.3f} … {image.max():+.3f}\n",
        )
        if self.activations is not None:
            facts.append(f"activation {self.activations[unit]:.3f}\n")
        facts.append("\noutgoing weights (fc2)\n", style="bold")
        facts.append_text(outgoing_bars(weights.outgoing[unit]))
        table = Table.grid(padding=(0, 3))
        table.add_row(render_signed(weights.signed_image(unit)), facts)
        return table

    # -- keys -----------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        if self.units:
            self.selected = min(max(self.selected + step, 0), len(self.units) - 1)
            self.show()

    def action_move_row(self, rows: int) -> None:
        self.action_move(rows * self._per_row())

    def action_page(self, pages: int) -> None:
        if self.units:
            last_page = (len(self.units) - 1) // self.per_page
            page = min(max(self.page + pages, 0), last_page)
            self.selected = page * self.per_page
            self.show()

    def action_order_class(self, digit: int) -> None:
        self._reorder(digit)

    def action_next_order(self) -> None:
        cycle: list[str | int] = ["unit", "norm", *range(10)]
        if self.activations is not None:
            cycle.append("activation")
        position = cycle.index(self.order) if self.order in cycle else -1
        self._reorder(cycle[(position + 1) % len(cycle)])

    def action_toggle_large(self) -> None:
        if self.units:
            self.large = not self.large
            self.show()

    def action_test_digit(self) -> None:
        """The next test image as the chosen digit: its most active units first."""
        if self.weights is None or self.dataset is None:
            self.notify("not loaded yet", severity="warning")
            return
        self.test_index = (self.test_index + 1) % len(self.dataset.test_labels)
        self.digit = self.dataset.test_images[self.test_index].reshape(28, 28)
        label = int(self.dataset.test_labels[self.test_index])
        self.digit_label = f"test image #{self.test_index} (label {label})"
        self.activations = self.weights.activations(self.digit, self.standardize)
        self._reorder("activation")

    def action_close(self) -> None:
        if self.large:
            self.large = False
            self.show()
            return
        self.workers.cancel_group(self, "weights-load")
        self.dismiss()
