"""A run's training figures per epoch, charted: gradient norms, update/weight ratios, dead units.

The figures are those `mlp_core/training_figures.py` records in each metrics.jsonl row. Norms and
ratios span decades, so they are drawn as log10, with the rule of thumb for the update ratio
(1e-3, i.e. -3) as a dotted line: a run whose ratio climbs towards 1 is about to diverge.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from mlp_core.model import PARAMETER_NAMES
from mlp_core.runs import RunError, read_metrics
from mlp_core.training_figures import figure_series

COLOURS = ("cyan", "orange", "magenta", "green")
RULE_OF_THUMB = 1e-3


class FigureChart(PlotextPlot):
    """One chart of several figures against the epoch (log10 when `log`)."""

    def __init__(
        self, title: str, keys: list[tuple[str, str]], log: bool, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.chart_title, self.keys, self.log_scale = title, keys, log
        #: label -> (epochs, values as drawn), what the chart shows (tests read it).
        self.series: dict[str, tuple[list[int], list[float]]] = {}
        self.reference: float | None = None

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.series = {}
        for key, label in self.keys:
            epochs, values = figure_series(rows, key)
            points = [
                (e, math.log10(v) if self.log_scale else 100 * v)
                for e, v in zip(epochs, values, strict=True)
                if math.isfinite(v) and (v > 0 or not self.log_scale)
            ]
            if points:
                self.series[label] = ([e for e, _ in points], [v for _, v in points])
        self.replot()

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.chart_title)
        plt.xlabel("epoch")
        for (label, (epochs, values)), colour in zip(self.series.items(), COLOURS, strict=False):
            marker = "braille" if len(epochs) > 1 else "hd"
            plt.plot(epochs, values, label=label, color=colour, marker=marker)
        if self.series:
            first = min(e for epochs, _ in self.series.values() for e in epochs)
            last = max(e for epochs, _ in self.series.values() for e in epochs)
            step = max(1, math.ceil((last - first + 1) / 8))
            plt.xticks(list(range(first, last + 1, step)))
            if self.reference is not None:
                plt.plot([first, last], [self.reference] * 2, color="gray", marker="dot")
            if not self.log_scale:  # a share in percent: from 0, never a range of nothing
                top = max(v for _, values in self.series.values() for v in values)
                plt.ylim(0, max(10.0, 1.2 * top))
        self.refresh()


class TrainingFiguresScreen(Screen[None]):
    """One run's figures, a chart at a time (1, 2, 3: one chart takes the whole screen, which
    at 80x24 leaves it room to read). Escape closes; `r` reads the run again."""

    DEFAULT_CSS = """
    TrainingFiguresScreen #figures-title { padding: 0 1; text-style: bold; height: 1; }
    TrainingFiguresScreen #figures-status { padding: 0 1; height: auto; color: $text-muted; }
    TrainingFiguresScreen FigureChart { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("1", "show_chart('figures-grad')", "Gradients", tooltip="Gradient norms"),
        Binding("2", "show_chart('figures-update')", "Updates", tooltip="Update/weight ratios"),
        Binding("3", "show_chart('figures-dead')", "Dead", tooltip="Dead ReLU units"),
        Binding("r", "reload", "Reload", tooltip="Read the run's metrics again"),
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.rows: list[dict[str, Any]] = []
        self.shown_chart = "figures-update"

    def compose(self) -> ComposeResult:
        yield Static(f"Training figures · {self.run_path.name}", id="figures-title")
        yield Static("", id="figures-status")
        names = list(PARAMETER_NAMES)
        yield FigureChart(
            "log10 gradient norm (last step of each epoch)",
            [(f"grad_norm.{n}", n) for n in names],
            log=True,
            id="figures-grad",
        )
        yield FigureChart(
            "log10 update / weight (rule of thumb -3)",
            [(f"update_ratio.{n}", n) for n in names],
            log=True,
            id="figures-update",
        )
        yield FigureChart(
            "dead ReLU units, % (validation set)",
            [("dead_relu", "dead")],
            log=False,
            id="figures-dead",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#figures-update", FigureChart).reference = math.log10(RULE_OF_THUMB)
        self.action_reload()
        self.action_show_chart("figures-update")

    def action_show_chart(self, chart_id: str) -> None:
        """Show only this chart (the others keep their data)."""
        self.shown_chart = chart_id
        for chart in self.query(FigureChart):
            chart.display = chart.id == chart_id

    def action_reload(self) -> None:
        try:
            self.rows = read_metrics(self.run_path)
        except (RunError, OSError) as exc:
            self.rows = []
            self.query_one("#figures-status", Static).update(f"cannot read the run: {exc}")
        with_figures = [row for row in self.rows if isinstance(row.get("figures"), dict)]
        if not with_figures:
            self.query_one("#figures-status", Static).update(
                "no training figures in this run (runs trained from now on record them)"
            )
        else:
            last = with_figures[-1]
            self.query_one("#figures-status", Static).update(
                f"{len(with_figures)} epochs · last: dead units "
                f"{100 * last['figures'].get('dead_relu', math.nan):.1f}%, update/weight "
                f"{last['figures'].get('update_ratio.fc1.weight', math.nan):.2g} (fc1.weight)"
            )
        for chart in self.query(FigureChart):
            chart.set_rows(self.rows)

    def action_close(self) -> None:
        self.dismiss()
