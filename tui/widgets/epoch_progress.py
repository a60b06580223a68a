"""The current epoch's progress: a bar, and a line with speed, time left and running loss.

One widget of two fixed lines, drawn by Textual's line API (`render_line`): an update at four
Progress events a second is one repaint of these two lines and nothing else. (It was
Textual's ProgressBar, a container with a bar and a percentage, over a line of text: four
widgets, and a progress update's frame took about 2.8 ms of the UI thread's CPU, now about
1.8 ms, taken from training on a machine whose every core trains.)
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.renderables.bar import Bar
from textual.strip import Strip
from textual.widget import Widget

from tui.format import duration

#: Cells at the bar's right for its percentage (" 100%").
PERCENT_CELLS = 5
BAR, HALF_BAR_LEFT, HALF_BAR_RIGHT = Bar.BAR, Bar.HALF_BAR_LEFT, Bar.HALF_BAR_RIGHT


def _rate(samples_per_second: float) -> str:
    if samples_per_second >= 1000:
        return f"{samples_per_second / 1000:.1f}k img/s"
    return f"{samples_per_second:.0f} img/s"


def bar_characters(cells: int, fraction: float) -> tuple[str, str]:
    """The bar's characters, `cells` wide and filled to `fraction`, as (done, to do): in half
    cells, as Textual's Bar renderable draws a range that starts at 0."""
    end = min(max(cells * fraction, 0.0), float(cells))
    if end == 0:
        return "", BAR * cells
    end = round(end * 2) / 2
    full = int(end)
    if end > full:  # a half cell ends the done part
        return BAR * full + HALF_BAR_RIGHT, BAR * (cells - full - 1)
    if full == cells:
        return BAR * cells, ""
    return BAR * full, HALF_BAR_LEFT + BAR * (cells - full - 1)


class EpochProgress(Widget):
    """Bar over the steps of the epoch, and what the last Progress event said."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "epoch-progress--bar",
        "epoch-progress--complete",
        "epoch-progress--text",
    }
    DEFAULT_CSS = """
    EpochProgress { height: 2; }
    EpochProgress > .epoch-progress--bar { color: $primary; background: $surface; }
    EpochProgress > .epoch-progress--complete { color: $success; background: $surface; }
    EpochProgress > .epoch-progress--text { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: The line under the bar, as last set.
        self.text = "no run yet"
        #: Steps done of `total` (a known total from the start: nothing animates).
        self.progress = 0
        self.total = 1
        self._lines: list[Strip] | None = None
        self._drawn_width = 0  # the width `_lines` were drawn at
        #: complete -> the styles `_draw` paints with; cleared when the CSS changes.
        self._styles: dict[bool, tuple[Style, Style, Style, Style, bool]] = {}

    @property
    def percentage(self) -> float:
        """The bar's share, 0 to 1."""
        return min(1.0, max(0.0, self.progress / self.total)) if self.total else 0.0

    def show(
        self,
        epoch: int,
        epochs: int,
        step: int,
        steps: int,
        samples_per_second: float,
        eta_seconds: float,
        train_loss: float,
    ) -> None:
        """Within an epoch (from a Progress event)."""
        # The important part first: at 80 columns the end of the line is cut.
        self._set(
            steps,
            step,
            f"epoch {epoch}/{epochs} · loss {train_loss:.4f} · "
            f"{duration(eta_seconds)} left · {_rate(samples_per_second)}",
        )

    def epoch_done(
        self, epoch: int, epochs: int, seconds: float, samples_per_second: float
    ) -> None:
        """An epoch ended: the bar is full until the next Progress."""
        text = f"epoch {epoch}/{epochs} done in {seconds:.1f}s · {_rate(samples_per_second)}"
        self._set(self.total or 1, self.total or 1, text)

    def idle(self, text: str) -> None:
        """No epoch in progress: say why (finished, stopped, a past run on screen)."""
        self._set(self.total, self.progress, text)

    def loaded(self, done: int, total: int, text: str) -> None:
        """A past run on screen: the bar shows how much of it ran (full when it finished)."""
        self._set(max(1, total), min(done, max(1, total)), text)

    def reset(self, text: str) -> None:
        self._set(1, 0, text)

    def _set(self, total: int, progress: int, text: str) -> None:
        if (total, progress, text) != (self.total, self.progress, self.text):
            self.total, self.progress, self.text = total, progress, text
            self._lines = None
            self.refresh()

    def render_line(self, y: int) -> Strip:
        if self._lines is None or self._drawn_width != self.size.width:
            self._lines, self._drawn_width = self._draw(), self.size.width
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _draw(self) -> list[Strip]:
        """The bar with its percentage, then the text, each exactly the widget's width.

        Built from plain segments, in styles found again only when the CSS changes: through
        Rich's console (Textual's Bar renderable, a Text cut with an ellipsis) the same two
        lines took about 0.5 ms of the UI thread, four times a second. The tests check them
        cell by cell against that rendering."""
        width, done = self.size.width, self.percentage
        base, on, off, text_style, track = self._styles_of(complete=done >= 1)
        filled, rest = bar_characters(max(1, width - PERCENT_CELLS), done)
        if not track:
            rest = " " * len(rest)  # as Textual's Bar: no track drawn in the terminal's colour
        percent = f"{round(100 * done)}%".rjust(PERCENT_CELLS)
        text = self.text
        if cell_len(text) > width:
            text = set_cell_size(text, max(0, width - 1)) + "…"
        lines = (
            [Segment(filled, on), Segment(rest, off), Segment(percent, base)],
            [Segment(text, text_style)],
        )
        return [Strip([s for s in line if s.text]).crop_extend(0, width, base) for line in lines]

    def notify_style_update(self) -> None:
        """The CSS changed (a theme, a class): the styles are found again at the next draw,
        as Textual drops its own cached styles here."""
        self._styles.clear()
        self._lines = None
        super().notify_style_update()

    def _styles_of(self, complete: bool) -> tuple[Style, Style, Style, Style, bool]:
        """The base, bar (done, to do) and text styles, each over the base, and whether the
        track is drawn (not where its colour is the terminal's own)."""
        if complete not in self._styles:
            base = self.rich_style
            colours = self.get_component_rich_style(
                "epoch-progress--complete" if complete else "epoch-progress--bar"
            )
            text = self.get_component_rich_style("epoch-progress--text")
            on, off = Style.from_color(colours.color), Style.from_color(colours.bgcolor)
            track = colours.bgcolor is None or not colours.bgcolor.is_default
            self._styles[complete] = (base, base + on, base + off, base + text, track)
        return self._styles[complete]
