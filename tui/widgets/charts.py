"""Loss and accuracy per epoch, drawn with plotext (textual-plotext).

`set_history(rows)` takes the metrics rows (EpochEnd dicts, as in `metrics.jsonl`) and keeps the
series as plain lists (`series`, which tests read); `replot()` clears the data and plots the
whole of every series again, as textual-plotext expects, at most a few times a second.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from textual_plotext import PlotextPlot

#: Colours that read in a 256-colour terminal as well as in truecolour.
COLOURS = ("cyan", "orange", "magenta")


class MetricChart(PlotextPlot):
    """A chart of some metrics against the epoch; subclasses say which."""

    #: (metrics key, legend label) per line.
    SERIES: ClassVar[tuple[tuple[str, str], ...]] = ()
    TITLE: ClassVar[str] = ""
    #: Seconds between two redraws at most (epochs on a small set end many times a second).
    MIN_INTERVAL = 0.2

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        #: label -> [(epoch, value)], the data last given (what the chart shows).
        self.series: dict[str, list[tuple[int, float]]] = {label: [] for _, label in self.SERIES}
        self._last_draw = 0.0
        self._pending = False

    def scale(self, value: float) -> float:
        return value

    def set_history(self, rows: list[dict[str, Any]]) -> None:
        """Show these epochs (all of them: a chart is redrawn whole)."""
        for key, label in self.SERIES:
            self.series[label] = [
                (int(row["epoch"]), self.scale(float(row[key])))
                for row in rows
                if row.get(key) is not None and math.isfinite(float(row[key]))
            ]
        self._schedule()

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
        plt.title(self.TITLE)
        plt.xlabel("epoch")
        drawn = False
        for (_, label), colour in zip(self.SERIES, COLOURS, strict=False):
            points = self.series[label]
            if not points:
                continue
            epochs, values = zip(*points, strict=True)
            marker = "braille" if len(points) > 1 else "hd"
            plt.plot(list(epochs), list(values), label=label, color=colour, marker=marker)
            drawn = True
        if drawn:
            last = max(epoch for points in self.series.values() for epoch, _ in points)
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
    TITLE = "loss"


class AccuracyChart(MetricChart):
    """Accuracy per epoch, in percent: validation and test."""

    SERIES = (("val_accuracy", "val"), ("test_accuracy", "test"))
    TITLE = "accuracy %"

    def scale(self, value: float) -> float:
        return 100.0 * value

    def set_limits(self, plt: Any) -> None:
        """From just under the lowest accuracy to 100%, never above."""
        lowest = min(value for points in self.series.values() for _, value in points)
        plt.ylim(max(0.0, math.floor(lowest) - 1.0), 100.0)
