"""The 10x10 confusion matrix as a coloured table; Enter on a cell asks for its digits.

Rows are the true class, columns the prediction. A diagonal cell is green, brighter as more of
its class is right; an off-diagonal cell is red, brighter as more of the row went there, so the
usual confusions (4 -> 9, 7 -> 2) stand out at a glance. Empty cells are dim.

The cursor cell is drawn black on yellow, a colour no other cell has (DataTable's own cursor is
hidden under the cells' colours), and `cursor_words()` says where it is; it starts on the
biggest confusion, and says so.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import on
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

#: Background at full intensity for right (diagonal) and wrong (off-diagonal) cells.
RIGHT_RGB = (0, 135, 0)
WRONG_RGB = (215, 0, 0)
EMPTY_STYLE = Style(color="grey50")
CURSOR_STYLE = Style(color="black", bgcolor="yellow", bold=True, underline=True)


def _blend(rgb: tuple[int, int, int], amount: float) -> Color:
    """`rgb` scaled towards a dark grey by `amount` in [0, 1] (0: dark, 1: full colour)."""
    base = 30
    r, g, b = (round(base + (c - base) * amount) for c in rgb)
    return Color.from_rgb(r, g, b)


def cell_style(count: int, row_total: int, diagonal: bool) -> Style:
    """The look of one cell from its share of the row (its class)."""
    if count == 0:
        return EMPTY_STYLE
    share = count / max(row_total, 1)
    if diagonal:
        return Style(color="white", bgcolor=_blend(RIGHT_RGB, share), bold=True)
    # Errors are a few percent of a row at most: a square root makes small shares visible.
    return Style(color="white", bgcolor=_blend(WRONG_RGB, min(1.0, 0.25 + share**0.5)))


def cell_text(count: int, row_total: int, diagonal: bool, width: int = 5) -> Text:
    """A right-aligned, coloured count."""
    return Text(f"{count:>{width}}", style=cell_style(count, row_total, diagonal), justify="right")


class ConfusionTable(DataTable):
    """A confusion matrix; the cursor moves by cell and Enter posts `CellChosen`."""

    DEFAULT_CSS = """
    ConfusionTable {
        height: auto;
        width: auto;
        max-height: 14;
    }
    """

    class CellChosen(Message):
        """Enter was pressed on the cell (true_label, predicted) holding `count` images."""

        def __init__(self, table: ConfusionTable, true_label: int, predicted: int, count: int):
            super().__init__()
            self.table = table
            self.true_label = true_label
            self.predicted = predicted
            self.count = count

        @property
        def control(self) -> ConfusionTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="cell",
            zebra_stripes=False,
            show_cursor=True,
            cell_padding=0,
        )
        self.matrix: list[list[int]] = []
        self._width = 5
        #: The cell drawn as the cursor (put back to its colours when the cursor leaves).
        self._marked: tuple[int, int] | None = None

    def set_matrix(self, matrix: list[list[int]]) -> None:
        """Show `matrix` (confusion[true][predicted]); the cursor starts on the worst cell."""
        self.matrix = [list(row) for row in matrix]
        self.clear(columns=True)
        size = len(self.matrix)
        width = max(4, len(str(max((max(r) for r in self.matrix), default=0)))) + 2
        self._width, self._marked = width, None
        for predicted in range(size):
            self.add_column(Text(f"→{predicted}", justify="right"), key=str(predicted), width=width)
        for true_label, row in enumerate(self.matrix):
            total = sum(row)
            cells = [
                cell_text(count, total, true_label == predicted, width)
                for predicted, count in enumerate(row)
            ]
            self.add_row(*cells, key=str(true_label), label=Text(f" {true_label} ", style="bold"))
        if size:
            self.move_cursor(row=self.worst_cell()[0], column=self.worst_cell()[1])
            self._mark(self.worst_cell())

    def _cell(self, where: tuple[int, int], cursor: bool) -> Text:
        true_label, predicted = where
        row = self.matrix[true_label]
        text = cell_text(row[predicted], sum(row), true_label == predicted, self._width)
        if cursor:
            text.stylize(CURSOR_STYLE)
        return text

    def _mark(self, where: tuple[int, int]) -> None:
        """Draw `where` as the cursor and the previous cursor cell in its own colours."""
        if self._marked == where or not self.matrix:
            return
        if self._marked is not None:
            self.update_cell_at(Coordinate(*self._marked), self._cell(self._marked, False))
        self._marked = where
        self.update_cell_at(Coordinate(*where), self._cell(where, True))

    @on(DataTable.CellHighlighted)
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._mark((event.coordinate.row, event.coordinate.column))

    def cursor_words(self) -> str:
        """``cursor: true 4 → 9, 12 images (the biggest confusion, where it starts)``."""
        if not self.matrix:
            return ""
        true_label, predicted = self.cursor_coordinate.row, self.cursor_coordinate.column
        count = self.matrix[true_label][predicted]
        words = f"cursor ▮ true {true_label} → {predicted}: {count} image{'s' * (count != 1)}"
        if (true_label, predicted) == self.worst_cell() and true_label != predicted:
            words += " (the biggest confusion: the cursor starts there)"
        elif true_label == predicted:
            words += " right"
        return words

    def worst_cell(self) -> tuple[int, int]:
        """The off-diagonal cell with the most images (the biggest confusion), else (0, 0)."""
        best, where = 0, (0, 0)
        for true_label, row in enumerate(self.matrix):
            for predicted, count in enumerate(row):
                if true_label != predicted and count > best:
                    best, where = count, (true_label, predicted)
        return where

    @on(DataTable.CellSelected)
    def _chosen(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.post_cell_chosen(event.coordinate)

    def post_cell_chosen(self, coordinate: Coordinate) -> None:
        true_label, predicted = coordinate.row, coordinate.column
        count = self.matrix[true_label][predicted] if self.matrix else 0
        self.post_message(self.CellChosen(self, true_label, predicted, count))
