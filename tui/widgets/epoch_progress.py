"""The current epoch's progress: a bar, and a line with speed, time left and running loss.

One widget of two fixed lines, drawn by Textual's line API (`render_line`): an update at four
Progress events a second is one repaint of these two lines and nothing else. (It was
Textual's ProgressBar, a container with a bar and a percentage, over a line of text: four
widgets, and a progress update's frame took about 2.8 ms of the UI thread's CPU, now about
1.8 ms, taken from training on a machine whose every core trains.)
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.bar import Bar as BarRenderable
from textual.strip import Strip
from textual.widget import Widget

from tui.format import duration

#: Cells at the bar's right for its percentage (" 100%").
PERCENT_CELLS = 5


def _rate(samples_per_second: float) -> str:
    if samples_per_second >= 1000:
        return f"{samples_per_second / 1000:.1f}k img/s"
    return f"{samples_per_second:.0f} img/s"


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
        self._drawn_for: tuple[int, str] | None = None  # (width, theme) of `_lines`

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
        drawn_for = (self.size.width, self.app.theme)
        if self._lines is None or self._drawn_for != drawn_for:
            self._lines, self._drawn_for = self._draw(), drawn_for
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _draw(self) -> list[Strip]:
        """The bar with its percentage, then the text, each exactly the widget's width."""
        width, base, console = self.size.width, self.rich_style, self.app.console
        done = self.percentage
        colours = self.get_component_rich_style(
            "epoch-progress--complete" if done >= 1 else "epoch-progress--bar"
        )
        bar_cells = max(1, width - PERCENT_CELLS)
        bar = BarRenderable(
            highlight_range=(0, bar_cells * done),
            highlight_style=Style.from_color(colours.color),
            background_style=Style.from_color(colours.bgcolor),
            width=bar_cells,
        )
        options = self.app.console_options.update(width=bar_cells, height=1, highlight=False)
        bar_line = [segment for segment in console.render(bar, options) if segment.text != "\n"]
        bar_line.append(Segment(f"{round(100 * done)}%".rjust(PERCENT_CELLS)))
        text = Text(
            self.text,
            style=self.get_component_rich_style("epoch-progress--text"),
            no_wrap=True,
            overflow="ellipsis",
        )
        (text_line,) = console.render_lines(text, options.update_width(max(1, width)), pad=False)
        return [
            Strip(line).apply_style(base).crop_extend(0, width, base)
            for line in (bar_line, text_line)
        ]
