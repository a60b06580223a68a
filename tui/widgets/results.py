"""The results table: a row per epoch, the best epoch marked with a star and in bold."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import DataTable

from tui.format import epoch_of
from tui.format import number as as_number

#: (column key, heading): the essential columns first, so a narrow screen cuts the least; the
#: headings are short so that the accuracies fit beside the form at 80 columns.
COLUMNS = (
    ("epoch", "ep"),
    ("train_loss", "loss"),
    ("val_loss", "val loss"),
    ("val_accuracy", "val %"),
    ("test_accuracy", "test %"),
    ("lr", "lr"),
    ("seconds", "sec"),
)
BEST_MARK = "★"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "epoch":
        return str(value)
    number = as_number(value)
    if number is None:
        return "?"
    if not math.isfinite(number):
        return str(number)
    if key in ("val_accuracy", "test_accuracy"):
        return f"{100 * number:.2f}"
    if key == "lr":
        return f"{number:.3g}"
    if key == "seconds":
        return f"{number:.1f}"
    return f"{number:.2e}" if 0 < abs(number) < 1e-3 else f"{number:.4f}"


class ResultsTable(DataTable[Text]):
    """Epochs of the run on screen; `best_epoch` is the one marked."""

    #: A new row changes the table's virtual height, and Widget's `virtual_size` then asks
    #: for a layout of the whole screen: 20-40 ms at 160x48, every epoch of a followed run, on
    #: the cores the run trains on. The table's own height is set by the layout (1fr), not by
    #: its rows: only a scrollbar that comes or goes, or a new width, needs a layout.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        refresh_scrollbars = getattr(self, "_refresh_scrollbars", None)
        scroll_update = getattr(self, "_scroll_update", None)
        if refresh_scrollbars is None or scroll_update is None:  # another Textual: lay out
            self.refresh(layout=True)
            return
        bars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        refresh_scrollbars()
        if old.width != new.width or bars != (
            self.show_vertical_scrollbar,
            self.show_horizontal_scrollbar,
        ):
            self.refresh(layout=True)
        else:
            scroll_update(new)
            self.refresh()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_by_epoch: dict[int, dict[str, Any]] = {}
        self.best_epoch: int | None = None

    def on_mount(self) -> None:
        for key, heading in COLUMNS:
            self.add_column(heading, key=key)

    def set_history(self, rows: list[dict[str, Any]]) -> None:
        """Show exactly these epochs (a past run, or a resumed run's inherited epochs)."""
        self.clear()
        self.rows_by_epoch.clear()
        self.best_epoch = None
        for row in rows:
            if epoch_of(row) is not None:
                self.add_epoch(row)

    def add_epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch (an EpochEnd dict); move the mark when it is the new best. A row
        without a whole-number epoch (a hand-edited log) is skipped."""
        epoch = epoch_of(row)
        if epoch is None:
            return
        if epoch in self.rows_by_epoch:
            self.remove_row(str(epoch))
        self.rows_by_epoch[epoch] = row
        previous = self.best_epoch
        follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        if row.get("is_best"):
            self.best_epoch = epoch
        self.add_row(*self._cells(row), key=str(epoch))
        if previous is not None and previous != self.best_epoch:
            self._restyle(previous)
        if follow:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def _cells(self, row: dict[str, Any]) -> list[Text]:
        best = epoch_of(row) == self.best_epoch
        cells = []
        for key, _ in COLUMNS:
            text = _cell(key, row.get(key))
            if key == "epoch" and best:
                text = f"{text} {BEST_MARK}"
            cells.append(Text(text, style="bold" if best else "", justify="right"))
        return cells

    def _restyle(self, epoch: int) -> None:
        if epoch not in self.rows_by_epoch:
            return
        for (key, _), cell in zip(COLUMNS, self._cells(self.rows_by_epoch[epoch]), strict=True):
            self.update_cell(str(epoch), key, cell)
