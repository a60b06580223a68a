"""The charts in a small app (no torch): the legend above the plot, never over data; stable
colours; axes that fit; log scale, hidden series, the epoch cursor; the per-step curve."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from app_helpers import run_async
from textual.app import App, ComposeResult
from textual.containers import Horizontal

from tui.colours import RUN_PALETTE, colours_for, run_colour, split_colour
from tui.widgets.chart_data import StepSeries, epoch_ticks, fit_range, smooth
from tui.widgets.charts import AccuracyChart, LossChart, MetricChart

BRAILLE = range(0x2801, 0x2900)  # plotext's braille line cells (the blank one excluded)
QUADRANTS = range(0x2580, 0x25A0)  # the "hd" marker's quadrant blocks (LINE_MARKER)


def rows(epochs: int, low: float = 0.80, high: float = 0.86) -> list[dict[str, Any]]:
    """Metrics rows whose accuracy climbs from `low` to `high` and whose loss falls."""
    out = []
    for epoch in range(1, epochs + 1):
        share = (epoch - 1) / max(1, epochs - 1)
        out.append(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "val_loss": 1.1 / epoch,
                "test_loss": 1.2 / epoch,
                "val_accuracy": low + (high - low) * share,
                "test_accuracy": low + (high - low) * share - 0.002,
                "lr": 0.05 / epoch,
            }
        )
    return out


class ChartsApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.choices: list[MetricChart.ChoicesChanged] = []

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield LossChart(id="loss")
            yield AccuracyChart(id="accuracy")

    def on_metric_chart_choices_changed(self, message: MetricChart.ChoicesChanged) -> None:
        self.choices.append(message)


def chart_lines(app: App[None], chart: MetricChart) -> list[str]:
    """The chart's rows of text as on screen."""
    region = chart.content_region
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    return [line[region.x : region.right] for line in lines[region.y : region.bottom]]


def has_braille(line: str) -> bool:
    """Whether a curve is drawn on this line (braille or the quadrant blocks of "hd")."""
    return any(ord(char) in BRAILLE or ord(char) in QUADRANTS for char in line)


async def settle(pilot: Any) -> None:
    await pilot.pause(MetricChart.MIN_INTERVAL + 0.1)
    await pilot.pause()


@run_async
async def test_the_legend_is_a_line_above_the_plot_and_names_every_series() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        for chart in app.query(MetricChart):
            chart.set_history(rows(10))
        await settle(pilot)
        loss = chart_lines(app, app.query_one(LossChart))
        assert loss[0].lstrip().startswith("loss")
        for label in ("train", "val", "test", "lr"):
            assert label in loss[0]
        assert not has_braille(loss[0])  # no curve under the legend
        assert any(has_braille(line) for line in loss[1:])
        accuracy = chart_lines(app, app.query_one(AccuracyChart))
        assert "accuracy" in accuracy[0] and "val" in accuracy[0] and "test" in accuracy[0]


@run_async
async def test_a_comparison_names_its_runs_in_their_own_stable_colours() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(AccuracyChart)
        names = ["20261127-221120-h128-lr0.01-b64", "20261128-101010-h1024-lr0.05-b128"]
        chart.set_compare([("lab", rows(5), names[0]), ("default", rows(5, 0.9, 0.98), names[1])])
        await settle(pilot)
        legend = chart_lines(app, chart)[0]
        assert "lab" in legend and "default" in legend and "accuracy % val" in legend
        expected = colours_for(names)
        assert chart.compare_colours == {"lab": expected[names[0]], "default": expected[names[1]]}
        assert chart.compare_colours["lab"] != chart.compare_colours["default"]
        chart.set_compare(None)
        assert chart.compare_series is None and list(chart.shown()) == ["val", "test"]


def test_a_split_has_one_colour_in_both_charts_and_a_run_one_colour_everywhere() -> None:
    loss, accuracy = LossChart(), AccuracyChart()
    loss_colours = {label: colour for label, colour, _ in loss.lines()}
    accuracy_colours = {label: colour for label, colour, _ in accuracy.lines()}
    assert loss_colours["val"] == accuracy_colours["val"] == split_colour("val")
    assert loss_colours["test"] == accuracy_colours["test"] == split_colour("test")
    assert len({c.code for c in (split_colour(s) for s in ("train", "val", "test"))}) == 3
    assert run_colour("20261127-221120-h128") == run_colour("20261127-221120-h128")
    assert run_colour("a").rich == f"color({run_colour('a').code})"
    many = colours_for(f"run-{i}" for i in range(len(RUN_PALETTE)))
    assert len({c.code for c in many.values()}) == len(RUN_PALETTE)  # never two alike


def test_the_y_range_fits_the_data_and_accuracy_never_goes_above_100() -> None:
    low, high = fit_range([80.0, 86.0], ceiling=100.0, min_span=1.0)  # type: ignore[misc]
    assert 79 < low < 80 and 86 < high < 87
    low, high = fit_range([99.2, 99.9], ceiling=100.0, min_span=1.0)  # type: ignore[misc]
    assert high == 100.0 and low < 99.2
    low, high = fit_range([0.5, 0.5])  # type: ignore[misc]
    assert low < 0.5 < high and high - low >= 0.05
    low, high = fit_range([0.01, 11.0], log=True)  # type: ignore[misc]
    assert 0 < low < 0.01 and high > 11
    assert fit_range([]) is None


@run_async
async def test_accuracy_between_80_and_86_percent_fills_the_height() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(AccuracyChart)
        chart.set_history(rows(10))
        await settle(pilot)
        text = "\n".join(chart_lines(app, chart))
        assert "100" not in text and "86" in text and "80" in text
        curve_rows = [line for line in chart_lines(app, chart) if has_braille(line)]
        assert len(curve_rows) >= 8  # of 12 plot rows, not a quarter of them


@run_async
async def test_log_scale_and_hidden_series_are_keys_and_announced() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(LossChart)
        chart.set_history(rows(10))
        chart.focus()
        await settle(pilot)
        linear = chart_lines(app, chart)
        await pilot.press("l")
        await settle(pilot)
        assert chart.log_scale and "(log)" in chart_lines(app, chart)[0]
        assert chart_lines(app, chart)[1:] != linear[1:]
        assert app.choices[-1].log_scale and app.choices[-1].hidden == []
        await pilot.press("1")  # train
        await settle(pilot)
        assert chart.hidden == {"train"} and app.choices[-1].hidden == ["train"]
        await pilot.press("1")
        assert chart.hidden == set()
        chart.apply_choices(log_scale=False, hidden=["val", "test"])
        await settle(pilot)
        assert not chart.log_scale and chart.hidden == {"val", "test"}
        assert len(app.choices) == 3  # applying remembered choices announces nothing


@run_async
async def test_a_single_epoch_is_a_visible_dot() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(AccuracyChart)
        chart.set_history(rows(1))
        await settle(pilot)
        assert sum(line.count("●") for line in chart_lines(app, chart)[1:]) >= 1


@run_async
async def test_the_cursor_shows_every_series_value_at_its_epoch() -> None:
    app = ChartsApp()
    async with app.run_test(size=(140, 20)) as pilot:
        chart = app.query_one(LossChart)
        chart.set_history(rows(10))
        chart.focus()
        await settle(pilot)
        await pilot.press("left")  # from no cursor: the last epoch
        assert chart.cursor_epoch == 10
        await pilot.press("left", "left", "home", "right")
        assert chart.cursor_epoch == 2
        await settle(pilot)
        legend = " ".join(chart_lines(app, chart)[:2])  # the legend may take two lines
        assert "ep 2" in legend and "0.5000" in legend and "0.5500" in legend  # train, val
        assert "0.6000" in legend and "0.0250" in legend  # test, lr
        await pilot.press("end")
        assert chart.cursor_epoch == 10
        await pilot.press("escape")
        assert chart.cursor_epoch is None


def test_smoothing_is_tensorboards_debiased_ema() -> None:
    values = [4.0, 2.0, 3.0]
    weight = 0.6
    last, expected = 0.0, []
    for n, value in enumerate(values, start=1):
        last = weight * last + (1 - weight) * value
        expected.append(last / (1 - weight**n))
    assert smooth(values, weight) == pytest.approx(expected)
    assert smooth(values, 0.0) == values and smooth([5.0])[0] == pytest.approx(5.0)
    with pytest.raises(ValueError):
        smooth(values, 1.0)


def test_step_series_places_steps_within_epochs_and_stays_small() -> None:
    series = StepSeries(limit=10)
    assert series.add(1, 50, 100, 2.0) and series.points == [(0.5, 2.0)]
    assert not series.add(1, 50, 100, 1.0)  # not after the last step
    assert not series.add(1, 60, 100, math.nan)
    assert series.add(2, 100, 100, 1.0) and series.points[-1] == (2.0, 1.0)
    for step in range(1, 100):
        series.add(3, step, 100, 0.5)
    assert len(series.points) <= 10
    series.add(1, 10, 100, 2.0)  # an earlier epoch: another run
    assert series.points == [(0.1, 2.0)]
    assert epoch_ticks(10, 8) == [1, 3, 5, 7, 9] and epoch_ticks(3) == [1, 2, 3]


@run_async
async def test_the_step_curve_fills_the_first_epoch() -> None:
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(LossChart)
        for step in range(10, 300, 10):
            chart.add_step(1, step, 469, 2.3 * math.exp(-step / 100) + 0.1)
        await pilot.pause(LossChart.STEP_INTERVAL + 0.1)  # steps alone redraw at this pace
        await settle(pilot)
        lines = chart_lines(app, chart)
        assert "step" in lines[0]
        assert sum(has_braille(line) for line in lines[1:]) >= 5
        assert "0.50" in lines[-1]  # half-epoch ticks while there is no whole epoch
        chart.clear_steps()
        assert chart.steps.points == []


@run_async
async def test_steps_alone_redraw_the_loss_chart_rarely_and_an_epoch_at_once() -> None:
    """Four Progress events a second must not redraw the chart four times a second (each
    redraw is plotext and ANSI parsing, on the cores the run trains on); a new epoch still
    shows within MIN_INTERVAL, even while a step redraw waits."""
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(LossChart)
        await pilot.pause(LossChart.STEP_INTERVAL)  # the mount's own redraw is long past
        drawn: list[float] = []
        real_replot = chart.replot

        def counting_replot() -> None:
            drawn.append(time.monotonic())
            real_replot()

        chart.replot = counting_replot  # type: ignore[method-assign]
        started = time.monotonic()
        for step in range(1, 9):  # two seconds of Progress events at 4 a second
            chart.add_step(1, step * 10, 469, 2.0 / step)
            await pilot.pause(0.25)
        assert len(drawn) <= 2, drawn  # the first at once, then once per STEP_INTERVAL
        chart.add_step(1, 100, 469, 0.2)  # a step redraw is now waiting ...
        asked = time.monotonic()
        chart.set_history(rows(1))  # ... and an epoch ends: it shows within MIN_INTERVAL
        await pilot.pause(MetricChart.MIN_INTERVAL + 0.15)
        assert drawn and drawn[-1] >= asked and drawn[-1] - asked < MetricChart.MIN_INTERVAL + 0.1
        assert started < drawn[0]


@run_async
async def test_past_the_first_epoch_the_first_steps_do_not_flatten_the_loss_axis() -> None:
    """The loss at the first steps (~2.3) goes off the top once the run is past its first
    epoch: the axis fits the rest, so the epochs' losses (0.1-0.3) fill the height."""
    app = ChartsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        chart = app.query_one(LossChart)
        for epoch in (1, 2, 3):
            for step in range(10, 469, 20):
                loss = 2.3 * math.exp(-(epoch - 1 + step / 469) * 8) + 0.1
                chart.add_step(epoch, step, 469, loss)
        epochs = [
            {**row, "train_loss": 0.3 / e, "val_loss": 0.32 / e, "test_loss": 0.33 / e}
            for e, row in enumerate(rows(2), start=1)
        ]
        chart.set_history(epochs)
        await settle(pilot)
        ticks = [float(line.split("┤")[0]) for line in chart_lines(app, chart) if "┤" in line]
        assert ticks and max(ticks) < 1.0, ticks


def cells(strips: list[Any]) -> list[list[tuple[str, Any]]]:
    """(character, rich style) of every cell of these strips (or lists of segments)."""
    return [
        [(char, segment.style) for segment in strip for char in segment.text] for strip in strips
    ]


@run_async
async def test_the_plot_is_plotexts_own_drawing_cell_by_cell() -> None:
    """The plot rows are read from plotext's matrices, not parsed from its ANSI canvas: each
    cell must still have the character and the style textual-plotext's way gives it."""
    from rich.segment import Segment
    from rich.text import Text

    app = ChartsApp()
    async with app.run_test(size=(120, 24)) as pilot:
        loss = app.query_one(LossChart)
        loss.set_history(rows(12))
        for step in range(1, 40):
            loss.add_step(13, step, 40, 0.1 + 1.0 / step)
        app.query_one(AccuracyChart).set_history(rows(12))
        await settle(pilot)
        for chart in app.query(MetricChart):
            ours = chart._drawn_lines()
            legend_rows = len(ours) - chart._plot.monitor.matrix.rows
            base = chart.visual_style.rich_style
            # textual-plotext's rendering of the very same figure: the ANSI canvas, parsed.
            parsed = Text.from_ansi(chart._plot.build()).split("\n")
            theirs = [
                Segment.apply_style(line.render(app.console), base) for line in parsed[: len(ours)]
            ]
            assert legend_rows >= 1
            drawn = [row for row in cells(ours[legend_rows:]) if any(c != " " for c, _ in row)]
            assert len(drawn) > 5  # a real plot, not blank rows
            assert cells(ours[legend_rows:]) == cells(theirs), type(chart).__name__
