"""What one chart redraw costs the UI thread: CPU of `replot()` and of drawing its lines.

    .venv/bin/python bench/chart_redraw.py            # 40 redraws a chart, medians

The two charts side by side in a 92x26 app: each about 46x26, their size in the app's
160x48 layout. Ten epochs of metrics and 200 per-step losses, as in a run being followed.
The figure is the UI thread's CPU (time.thread_time) per redraw, so a busy machine (a run
training beside it) does not inflate it. Run it on another checkout (a git worktree) to
compare versions.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from machine import cpu_model
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region

from tui.widgets.charts import AccuracyChart, LossChart, MetricChart

REDRAWS = 40


def metrics(epochs: int) -> list[dict[str, Any]]:
    """Rows of a run whose loss falls and whose accuracy climbs."""
    return [
        {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.1 / epoch,
            "test_loss": 1.2 / epoch,
            "val_accuracy": 0.80 + 0.06 * epoch / epochs,
            "test_accuracy": 0.80 + 0.06 * epoch / epochs - 0.002,
            "lr": 0.05 / epoch,
        }
        for epoch in range(1, epochs + 1)
    ]


class ChartsApp(App[None]):
    def compose(self) -> ComposeResult:
        with Horizontal():
            yield LossChart()
            yield AccuracyChart()


def redraw_ms(chart: MetricChart) -> float:
    """Median CPU milliseconds of a redraw: the plot's data set again, then its lines."""
    width, height = chart.region.size
    spent = []
    for _ in range(REDRAWS):
        started = time.thread_time()
        chart.replot()
        chart.render_lines(Region(0, 0, width, height))
        spent.append(time.thread_time() - started)
    return 1000 * statistics.median(spent)


async def measure() -> None:
    app = ChartsApp()
    async with app.run_test(size=(92, 26)) as pilot:
        loss, accuracy = app.query_one(LossChart), app.query_one(AccuracyChart)
        loss.set_history(metrics(10))
        accuracy.set_history(metrics(10))
        for step in range(1, 200):
            loss.add_step(11, step, 430, 0.1 + 1 / step)
        await pilot.pause(0.5)
        print(f"{cpu_model()}; {REDRAWS} redraws a chart, UI thread CPU, medians")
        for chart in (loss, accuracy):
            width, height = chart.region.size
            print(f"  {type(chart).__name__} {width}x{height}: {redraw_ms(chart):.1f} ms")


if __name__ == "__main__":
    asyncio.run(measure())
