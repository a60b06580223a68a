"""Make the chart screenshots of issue 10 (docs/charts-*.svg) from a small test app.

    .venv/bin/python docs/make_chart_screenshots.py

A stand-in for the app's layout (placeholders where the form, the panel and the results table
go, the real charts, system monitor and help in between), fed metrics shaped like two real runs
(the `lab` preset and the `default` one), at 80x24 and 160x48: a comparison of the two runs,
and a live run in the middle of its 4th epoch (per-step loss, epoch cursor on). The full app's
screenshots are made by docs/make_screenshot.py once the widgets are wired in.
"""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui.widgets.charts import AccuracyChart, LossChart, MetricChart
from tui.widgets.system_monitor import SystemMonitor

DOCS = Path(__file__).resolve().parent
LAB = "20261127-221120-h128-lr0.01-b64"
DEFAULT = "20261128-093015-h1024-lr0.05-b128"


def run_rows(epochs: int, *, lab: bool) -> list[dict[str, Any]]:
    """Curves shaped like the presets' real ones (lab: 91% after 30 epochs; default: 98.3%)."""
    rows = []
    for epoch in range(1, epochs + 1):
        if lab:
            acc = 0.91 - 0.09 * math.exp(-epoch / 6)
            train, val = 0.30 + 1.6 * math.exp(-epoch / 4), None
            lr = 0.01
        else:
            acc = 0.983 - 0.03 * math.exp(-epoch / 2.2)
            train = 0.02 + 0.25 * math.exp(-epoch / 2.5)
            val = 0.058 + 0.09 * math.exp(-epoch / 2.3)
            lr = 0.025 * (1 + math.cos(math.pi * (epoch - 1) / 10))
        rows.append(
            {
                "epoch": epoch,
                "train_loss": train,
                "val_loss": val,
                "val_accuracy": None if lab else acc + 0.001,
                "test_loss": (val or train) + 0.012,
                "test_accuracy": acc,
                "lr": lr,
            }
        )
    return rows


class ChartsShot(App[None]):
    """The app's frame with the real charts in the centre."""

    CSS = """
    #header { height: 1; background: $panel; padding: 0 1; }
    #header > Static { width: 1fr; }
    #main { height: 1fr; }
    .placeholder { color: $text-muted; border: tall $panel; padding: 0 1; }
    #form { width: 33; height: 1fr; }
    #panel { width: 46; height: 1fr; }
    #centre { width: 1fr; }
    #charts { height: 2fr; }
    #charts > * { width: 1fr; }
    #results { height: 1fr; min-height: 4; }
    #status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, wide: bool) -> None:
        super().__init__()
        self.wide = wide

    def compose(self) -> ComposeResult:
        with Horizontal(id="header"):
            yield Static("mnist-tui · cpu, 2 threads · training 4/10")
            yield SystemMonitor(id="monitor", interval=0.3)
        with Horizontal(id="main"):
            yield Static("the form\n(placeholder)", id="form", classes="placeholder")
            with Vertical(id="centre"):
                with Horizontal(id="charts"):
                    yield LossChart(id="loss-chart")
                    yield AccuracyChart(id="accuracy-chart")
                yield Static("results table (placeholder)", id="results", classes="placeholder")
            if self.wide:
                yield Static("checkpoint panel\n(placeholder)", id="panel", classes="placeholder")
        yield Static("", id="status")


async def shoot(size: tuple[int, int], state: str) -> Path:
    app = ChartsShot(wide=size[0] >= 120)
    out = DOCS / f"charts-{state}-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        loss, accuracy = app.query_one(LossChart), app.query_one(AccuracyChart)
        status = app.query_one("#status", Static)
        if state == "compare":
            runs = [
                ("lab", run_rows(30, lab=True), LAB),
                ("default", run_rows(10, lab=False), DEFAULT),
            ]
            for chart in (loss, accuracy):
                chart.set_compare(runs)
            loss.log_scale = True
            status.update(
                "comparing 2 runs · l: log loss axis · 1-4: hide/show · ←/→: epoch cursor"
            )
        else:
            rows = run_rows(3, lab=False)
            random.seed(1)
            for chart in (loss, accuracy):
                chart.set_history(rows)
            for epoch in range(1, 5):
                for step in range(20, 470 if epoch < 4 else 230, 20):
                    x = epoch - 1 + step / 469
                    value = 0.02 + 0.25 * math.exp(-x / 2.5) + 0.5 * math.exp(-x * 4)
                    value += random.uniform(-0.03, 0.04)
                    loss.add_step(epoch, step, 469, max(0.005, value))
            accuracy.focus()
            accuracy.cursor_epoch = 2
            status.update("run 20261128-093015 · epoch 4/10 · 49% · 41,210 img/s · 12s left")
        await pilot.pause(MetricChart.MIN_INTERVAL + 0.5)
        await pilot.pause()
        app.save_screenshot(str(out))
    return out


async def main() -> None:
    for size in ((80, 24), (160, 48)):
        for state in ("compare", "live"):
            print(f"wrote {await shoot(size, state)}")


if __name__ == "__main__":
    asyncio.run(main())
