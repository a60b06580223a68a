"""Loss and accuracy per epoch, drawn with plotext (textual-plotext).

`set_history(rows)` takes the metrics rows (EpochEnd dicts, as in `metrics.jsonl`) and keeps the
series as plain lists (`series`, which tests read); `replot()` clears the data and plots the
whole of every series again, as textual-plotext expects, at most a few times a second.

`set_compare(runs)` overlays several runs instead, one line per run in its own colour with the
run's name in the legend (`compare_series`); `set_compare(None)` goes back to the run's own
curves.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from textual_plotext import PlotextPlot

from tui.format import epoch_of, number

#: Colours that read in a 256-colour terminal as well as in truecolour.
COLOURS = ("cyan", "orange", "magenta")
#: One colour per compared run: (plotext name, rich name) so the panel's mark matches its line.
COMPARE_COLOURS = (
    ("cyan", "cyan"),
    ("orange", "dark_orange"),
    ("magenta", "magenta"),
    ("green", "green"),
    ("red", "red"),
    ("blue", "blue"),
    ("yellow", "yellow"),
    ("white", "white"),
)


def compare_colour(index: int) -> tuple[str, str]:
    """The (plotext, rich) colour of the `index`-th compared run."""
    return COMPARE_COLOURS[index % len(COMPARE_COLOURS)]


class MetricChart(PlotextPlot):
    """A chart of some metrics against the epoch; subclasses say which."""

    #: (metrics key, legend label) per line.
    SERIES: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Metrics a comparison can show, the first that every compared run has is used.
    COMPARE: ClassVar[tuple[tuple[str, str], ...]] = ()
    TITLE: ClassVar[str] = ""
    #: Seconds between two redraws at most (epochs on a small set end many times a second).
    MIN_INTERVAL = 0.2

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        #: label -> [(epoch, value)], the data last given (what the chart shows).
        self.series: dict[str, list[tuple[int, float]]] = {label: [] for _, label in self.SERIES}
        #: run label -> [(epoch, value)] while runs are compared, else None.
        self.compare_series: dict[str, list[tuple[int, float]]] | None = None
        #: The metric the comparison shows ("val loss", ...).
        self.compare_metric = ""
        self._last_draw = 0.0
        self._pending = False

    def scale(self, value: float) -> float:
        return value

    def set_history(self, rows: list[dict[str, Any]]) -> None:
        """Show these epochs (all of them: a chart is redrawn whole)."""
        for key, label in self.SERIES:
            self.series[label] = self._points(rows, key)
        self._schedule()

    def set_compare(self, runs: list[tuple[str, list[dict[str, Any]]]] | None) -> None:
        """Overlay these runs, (legend label, metrics rows) each; None shows `series` again."""
        if runs is None:
            self.compare_series, self.compare_metric = None, ""
        else:
            key, self.compare_metric = next(
                (
                    (key, label)
                    for key, label in self.COMPARE
                    if all(any(row.get(key) is not None for row in rows) for _, rows in runs)
                ),
                self.COMPARE[-1],
            )
            self.compare_series = {name: self._points(rows, key) for name, rows in runs}
        self._schedule()

    def _points(self, rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
        points = []
        for row in rows:
            epoch, value = epoch_of(row), number(row.get(key)) if isinstance(row, dict) else None
            if epoch is not None and value is not None and math.isfinite(value):
                points.append((epoch, self.scale(value)))
        return points

    def shown(self) -> dict[str, list[tuple[int, float]]]:
        """What the chart draws now: label -> points (the compared runs, or the run's own)."""
        return self.series if self.compare_series is None else self.compare_series

    def _lines(self) -> list[tuple[str, str, list[tuple[int, float]]]]:
        """(label, plotext colour, points) of each line to draw."""
        if self.compare_series is not None:
            return [
                (label, compare_colour(index)[0], points)
                for index, (label, points) in enumerate(self.compare_series.items())
            ]
        return [
            (label, colour, self.series[label])
            for (_, label), colour in zip(self.SERIES, COLOURS, strict=False)
        ]

    def _schedule(self) -> None:
        wait = self.MIN_INTERVAL - (time.monotonic() - self._last_draw)
        if wait <= 0:
            self.replot()
        elif not self._pending:
            self._pending = True
            self.set_timer(wait, self.replot)

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def replot(self) -> None:
        """Clear the plot's data and plot every series again (textual-plotext's way)."""
        self._pending = False
        self._last_draw = time.monotonic()
        plt = self.plt
        plt.clear_data()
        comparing = self.compare_series is not None
        plt.title(f"{self.TITLE}: {self.compare_metric}" if comparing else self.TITLE)
        plt.xlabel("epoch")
        drawn = False
        for label, colour, points in self._lines():
            if not points:
                continue
            epochs, values = zip(*points, strict=True)
            marker = "braille" if len(points) > 1 else "hd"
            plt.plot(list(epochs), list(values), label=label, color=colour, marker=marker)
            drawn = True
        if drawn:
            last = max(epoch for points in self.shown().values() for epoch, _ in points)
            plt.xticks(_epoch_ticks(last))
            self.set_limits(plt)
        self.refresh()

    def set_limits(self, plt: Any) -> None:
        """Fix the y range where the data alone would make a poor one."""


def _epoch_ticks(last: int) -> list[int]:
    """Whole-number epoch ticks, at most about eight of them."""
    step = max(1, math.ceil(last / 8))
    return list(range(1, last + 1, step)) if last > 1 else [1]


class LossChart(MetricChart):
    """Mean cross-entropy per epoch: train, validation and test."""

    SERIES = (("train_loss", "train"), ("val_loss", "val"), ("test_loss", "test"))
    COMPARE = (("val_loss", "val"), ("train_loss", "train"))
    TITLE = "loss"


class AccuracyChart(MetricChart):
    """Accuracy per epoch, in percent: validation and test."""

    SERIES = (("val_accuracy", "val"), ("test_accuracy", "test"))
    COMPARE = (("val_accuracy", "val"), ("test_accuracy", "test"))
    TITLE = "accuracy %"

    def scale(self, value: float) -> float:
        return 100.0 * value

    def set_limits(self, plt: Any) -> None:
        """From just under the lowest accuracy to 100%, never above."""
        lowest = min(value for points in self.shown().values() for _, value in points)
        plt.ylim(max(0.0, math.floor(lowest) - 1.0), 100.0)
