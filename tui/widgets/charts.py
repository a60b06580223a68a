"""Loss and accuracy per epoch, drawn with plotext (textual-plotext), readable at 80x24.

`set_history(rows)` takes the metrics rows (EpochEnd dicts, as in `metrics.jsonl`) and keeps the
series as plain lists (`series`, which tests read); `replot()` clears the data and plots the
whole of every series again, as textual-plotext expects, at most a few times a second.

The legend is the chart's first line, drawn by the widget above plotext's plot area, so it is
never over data; it names the chart, each series in its colour and, while the epoch cursor is
on (left/right when the chart has the focus), each series' value at that epoch. plotext's own
title and x label are not drawn: the legend line says both, and a short chart keeps its rows
for the curves. The same split has the same colour in both charts (`tui.colours`).

`set_compare(runs)` overlays several runs instead, one line per run in the run's own colour
(`tui.colours.colours_for` of the run names), named in the legend; `set_compare(None)` goes
back to the run's own curves. The loss chart also draws the training loss per step within
epochs (`add_step`, from the Progress events), smoothed like TensorBoard's slider, and the
learning rate per epoch on a right-hand axis when the chart is wide enough (else its value is
in the legend). Keys (when focused): left/right/home/end move the cursor, escape hides it,
1-4 hide or show a series, `l` a log loss axis; `ChoicesChanged` tells the app to remember.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.timer import Timer
from textual_plotext import PlotextPlot

from tui.colours import RUN_PALETTE, Colour, colours_for, split_colour
from tui.widgets.chart_data import (
    DEFAULT_SMOOTHING,
    Points,
    StepSeries,
    epoch_ticks,
    fit_range,
    points_of,
    short_number,
    step_ticks,
    value_at,
)
from tui.widgets.plotext_strips import build_strips

#: Below this width the learning rate gets no axis of its own (its value is in the legend).
LR_AXIS_WIDTH = 50
#: A series with this many points or fewer is drawn with a visible dot at each point.
DOTS_UP_TO = 1
DOT = "●"
#: plotext marker of the lines: "hd" (quadrant blocks, solid in every font) over braille,
#: whose dots many terminal fonts draw faint and apart.
LINE_MARKER = "hd"
#: Below this width the legend is compact (short title, no key numbers, less space).
NARROW = 56
#: Series 1 to this can be hidden or shown by their number.
MAX_TOGGLES = 5
#: Series that are not one point per epoch (the cursor does not stop on them).
NOT_BY_EPOCH = frozenset({"step"})


def compare_colour(index: int) -> tuple[int, str]:
    """The (plotext, rich) colour of the `index`-th compared run when runs are given without
    their folder names (kept for callers that colour by marking order)."""
    colour = RUN_PALETTE[index % len(RUN_PALETTE)]
    return colour.plotext, colour.rich


#: Past the first epoch, the y range fits the per-step loss from this x (an epoch's fraction) on.
FIT_STEPS_FROM = 0.5


class MetricChart(PlotextPlot, can_focus=True):
    """A chart of some metrics against the epoch; subclasses say which."""

    DEFAULT_CSS = """
    MetricChart { min-height: 4; padding-right: 1; }
    """

    #: (metrics key, legend label) per line.
    SERIES: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Metrics a comparison can show, the first that every compared run has is used.
    COMPARE: ClassVar[tuple[tuple[str, str], ...]] = ()
    TITLE: ClassVar[str] = ""
    #: The title in a narrow chart (its legend is shorter too).
    SHORT_TITLE: ClassVar[str] = ""
    #: Never above this value (accuracy: 100%).
    CEILING: ClassVar[float | None] = None
    #: Never below this value (a loss or an accuracy is not negative).
    FLOOR: ClassVar[float] = 0.0
    #: The y axis spans at least this much (None: a tenth of the largest value).
    MIN_SPAN: ClassVar[float | None] = None
    #: Seconds between two redraws at most (epochs on a small set end many times a second).
    MIN_INTERVAL = 0.2
    #: Seconds between two redraws for new per-step points alone (LossChart): a redraw costs
    #: 15-25 ms of plotext and ANSI parsing at 160x48, and at four Progress events a second
    #: that was most of what the app spent following a run, on the cores the run trains on.
    STEP_INTERVAL = 1.5

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move_cursor(-1)", "Epoch ←", show=False),
        Binding("right", "move_cursor(1)", "Epoch →", show=False),
        Binding("home", "cursor_to_end(0)", "First epoch", show=False),
        Binding("end", "cursor_to_end(1)", "Last epoch", show=False),
        Binding("escape", "clear_cursor", "Hide the epoch cursor", show=False),
        Binding("1", "toggle_series(0)", "Hide/show 1st series", show=False),
        Binding("2", "toggle_series(1)", "Hide/show 2nd series", show=False),
        Binding("3", "toggle_series(2)", "Hide/show 3rd series", show=False),
        Binding("4", "toggle_series(3)", "Hide/show 4th series", show=False),
    ]

    #: The epoch the cursor is on (left/right), or None: no cursor.
    cursor_epoch: reactive[int | None] = reactive(None, init=False)
    log_scale: reactive[bool] = reactive(False, init=False)

    class ChoicesChanged(Message):
        """The user changed what the chart shows (log scale, hidden series): worth keeping."""

        def __init__(self, chart: MetricChart, log_scale: bool, hidden: list[str]) -> None:
            super().__init__()
            self.chart, self.log_scale, self.hidden = chart, log_scale, hidden

        @property
        def control(self) -> MetricChart:
            return self.chart

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        #: label -> [(epoch, value)], the data last given (what the chart shows).
        self.series: dict[str, Points] = {label: [] for _, label in self.SERIES}
        #: run label -> [(epoch, value)] while runs are compared, else None.
        self.compare_series: dict[str, Points] | None = None
        #: run label -> its colour while runs are compared.
        self.compare_colours: dict[str, Colour] = {}
        #: The metric the comparison shows ("val loss", ...).
        self.compare_metric = ""
        #: Labels of the series (or compared runs) the user hid.
        self.hidden: set[str] = set()
        self._last_draw = 0.0
        self._timer: Timer | None = None  # the redraw scheduled for `_due`, if any
        self._due = 0.0
        #: Redraws so far, and the lines of the last one with what they were drawn for.
        self._draws = 0
        self._lines: list[Strip] = []
        self._lines_key: tuple[Any, ...] | None = None

    # -- data -----------------------------------------------------------------------------

    def scale(self, value: float) -> float:
        return value

    def set_history(self, rows: list[dict[str, Any]]) -> None:
        """Show these epochs (all of them: a chart is redrawn whole)."""
        for key, label in self.SERIES:
            self.series[label] = points_of(rows, key, self.scale)
        self._set_extra(rows)
        self._keep_cursor_in_range()
        self._schedule()

    def _set_extra(self, rows: list[dict[str, Any]]) -> None:
        """Subclasses keep more of the rows (the learning rate)."""

    def set_compare(self, runs: list[tuple[Any, ...]] | None) -> None:
        """Overlay these runs: (legend label, metrics rows) or (legend label, metrics rows, run
        folder name) each, the name giving the run's stable colour; None: `series` again."""
        if runs is None:
            self.compare_series, self.compare_metric, self.compare_colours = None, "", {}
        else:
            key, self.compare_metric = next(
                (
                    (key, label)
                    for key, label in self.COMPARE
                    if all(any(row.get(key) is not None for row in run[1]) for run in runs)
                ),
                self.COMPARE[-1],
            )
            self.compare_series = {run[0]: points_of(run[1], key, self.scale) for run in runs}
            if all(len(run) > 2 for run in runs):
                by_name = colours_for(run[2] for run in runs)
                self.compare_colours = {run[0]: by_name[run[2]] for run in runs}
            else:
                self.compare_colours = {
                    run[0]: RUN_PALETTE[i % len(RUN_PALETTE)] for i, run in enumerate(runs)
                }
        self._keep_cursor_in_range()
        self._schedule()

    def shown(self) -> dict[str, Points]:
        """What the chart draws now: label -> points (the compared runs, or the run's own)."""
        return self.series if self.compare_series is None else self.compare_series

    def lines(self) -> list[tuple[str, Colour, Points]]:
        """(label, colour, points) of each series in legend order, hidden ones included."""
        if self.compare_series is not None:
            return [
                (label, self.compare_colours[label], points)
                for label, points in self.compare_series.items()
            ]
        return [(label, split_colour(label), self.series[label]) for _, label in self.SERIES]

    def epochs(self) -> list[int]:
        """Every epoch some visible series has, in order (where the cursor can go)."""
        found = {
            int(x)
            for label, _, points in self.lines()
            if label not in self.hidden and label not in NOT_BY_EPOCH
            for x, _ in points
        }
        return sorted(found)

    # -- the user's choices ---------------------------------------------------------------

    def apply_choices(self, log_scale: bool = False, hidden: list[str] | None = None) -> None:
        """Put back remembered choices (from the user config) without announcing them."""
        self.hidden = set(hidden or [])
        with self.prevent(self.ChoicesChanged):
            self.set_reactive(MetricChart.log_scale, bool(log_scale))
        self._schedule()

    def toggle_series(self, label: str) -> None:
        """Hide the series (or compared run) with this label, or show it again."""
        self.hidden ^= {label}
        self._keep_cursor_in_range()
        self._announce()
        self._schedule()

    def action_toggle_series(self, index: int) -> None:
        lines = self.lines()
        if 0 <= index < len(lines):
            self.toggle_series(lines[index][0])

    def _announce(self) -> None:
        self.post_message(self.ChoicesChanged(self, self.log_scale, sorted(self.hidden)))

    def watch_log_scale(self) -> None:
        self._announce()
        self._schedule()

    # -- the epoch cursor -----------------------------------------------------------------

    def action_move_cursor(self, delta: int) -> None:
        epochs = self.epochs()
        if not epochs:
            return
        if self.cursor_epoch is None or self.cursor_epoch not in epochs:
            self.cursor_epoch = epochs[-1] if delta < 0 else epochs[0]
            return
        index = min(max(epochs.index(self.cursor_epoch) + delta, 0), len(epochs) - 1)
        self.cursor_epoch = epochs[index]

    def action_cursor_to_end(self, last: int) -> None:
        epochs = self.epochs()
        if epochs:
            self.cursor_epoch = epochs[-1] if last else epochs[0]

    def action_clear_cursor(self) -> None:
        self.cursor_epoch = None

    def _keep_cursor_in_range(self) -> None:
        if self.cursor_epoch is not None and self.cursor_epoch not in self.epochs():
            epochs = self.epochs()
            self.set_reactive(MetricChart.cursor_epoch, epochs[-1] if epochs else None)

    def watch_cursor_epoch(self) -> None:
        self._schedule()

    def values_at(self, epoch: int) -> dict[str, float | None]:
        """Every series' value at this epoch (None where a series has none)."""
        return {
            label: value_at(points, epoch)
            for label, _, points in self.lines()
            if label not in NOT_BY_EPOCH
        }

    # -- drawing --------------------------------------------------------------------------

    def _schedule(self, interval: float | None = None) -> None:
        """Redraw once `interval` (default MIN_INTERVAL) has passed since the last redraw:
        now, or by a timer; a sooner request moves a later timer forward."""
        if not self.is_mounted:
            return
        now = time.monotonic()
        due = self._last_draw + (self.MIN_INTERVAL if interval is None else interval)
        if due <= now:
            self.replot()
            return
        if self._timer is not None:
            if self._due <= due:
                return
            self._timer.stop()
        self._due = due
        self._timer = self.set_timer(due - now, self.replot)

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def legend(self) -> Text:
        """The line above the plot: the title, each series in its colour (hidden ones struck
        through), and the values at the cursor's epoch when it is on."""
        title_style = "bold reverse" if self.has_focus else "bold"
        narrow = self.size.width < NARROW
        title = self.SHORT_TITLE if narrow else self.TITLE
        gap = " " if narrow else "  "
        if self.compare_series is not None:
            title += f" {self.compare_metric}"
        if self.log_scale:
            title += " (log)"
        text = Text()  # not Text(title, style=...): that style would be the whole line's
        text.append(title if narrow else f" {title} ", style=title_style)
        if self.cursor_epoch is not None:
            text.append(f" ep {self.cursor_epoch}", style="bold")
        values = self.values_at(self.cursor_epoch) if self.cursor_epoch is not None else {}
        for number, (label, colour, _) in enumerate(self.lines(), start=1):
            hidden = label in self.hidden
            text.append(gap)
            if self.has_focus and number <= MAX_TOGGLES and not narrow:
                text.append(str(number), style="dim")  # the key that hides or shows it
            text.append("┄" if hidden else "━", style=Style(color=colour.rich, bold=True))
            style = Style(dim=True, strike=True) if hidden else Style()
            value = self.legend_value(label, values)
            if not (narrow and value is not None and self.cursor_epoch is not None):
                text.append(label if narrow else f" {label}", style=style)  # colour says it
            if value is not None and not hidden:
                bare = narrow and self.cursor_epoch is not None  # the colour alone names it
                text.append(("" if bare else " ") + short_number(value), style="bold")
        return text

    def legend_value(self, label: str, values: dict[str, float | None]) -> float | None:
        """The value the legend shows beside a series (at the cursor's epoch)."""
        return values.get(label)

    def render_line(self, y: int) -> Strip:
        """Textual's line API: the chart is drawn once per change and handed out by row."""
        lines = self._drawn_lines()
        if 0 <= y < len(lines):
            return lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _drawn_lines(self) -> list[Strip]:
        """The lines of the last drawing, drawn again when what they show has changed: the
        data or a choice (`replot` counts), the size, the focus (the legend), the theme."""
        key = (self.size, self.has_focus, self.app.theme, self._draws)
        if key != self._lines_key:
            self._lines, self._lines_key = self._draw_lines(), key
        return self._lines

    def _draw_lines(self) -> list[Strip]:
        """The legend line(s), then plotext's plot in the rows left (never over the legend),
        read from plotext's matrices (`plotext_strips`: no ANSI text in between)."""
        width, base = self.size.width, self.visual_style.rich_style
        if width < 1 or self.size.height < 1:
            return []
        options = self.app.console_options.update(width=width, height=None, highlight=False)
        legend = [
            Strip(line).apply_style(base)
            for line in self.app.console.render_lines(self.legend(), options, pad=True)
        ]
        height = max(1, self.size.height - len(legend))
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)
        self._plot.theme(self._get_plotext_theme_name(self.app.theme))
        plot = [strip.apply_style(base) for strip in build_strips(self._plot)]
        return (legend + plot)[: self.size.height]

    def replot(self) -> None:
        """Clear the plot's data and plot every visible series again (textual-plotext's way)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._last_draw = time.monotonic()
        self._draws += 1
        plt = self.plt
        plt.clear_data()
        # A log axis with nothing on it makes plotext fail (10 ** None): linear until data.
        has_data = any(points and label not in self.hidden for label, _, points in self.lines())
        plt.yscale("log" if self.log_scale and has_data else "linear", yside="left")
        plt.xaxes(True, False)  # no frame line on top: a row more for the curves
        plt.yaxes(True, False)
        drawn: list[float] = []
        last_x = 0.0
        # The per-step curve first, under the epochs' lines (drawn last, it hid the val loss).
        for label, colour, points in sorted(self.lines(), key=lambda line: line[0] != "step"):
            if label in self.hidden or not points:
                continue
            last_x = max(last_x, points[-1][0])
            self.draw_line(label, colour, points, drawn)
        if drawn:
            most = max(2, self.size.width // 7)
            plt.xticks(epoch_ticks(last_x, most) if last_x >= 2 else step_ticks(last_x))
            limits = fit_range(drawn, ceiling=self.CEILING, min_span=self.MIN_SPAN)
            if limits is not None and not self.log_scale:  # plotext fits a log axis itself
                plt.ylim(max(limits[0], self.FLOOR), limits[1], yside="left")
            self._draw_cursor()
        self.refresh()

    def draw_line(self, label: str, colour: Colour, points: Points, drawn: list[float]) -> None:
        """Draw one visible series on the left axis, adding its values to `drawn` (the data
        the y range must fit); subclasses draw theirs differently."""
        drawn.extend(value for _, value in points)
        self._draw(points, colour.plotext)

    def _draw(self, points: Points, colour: int, **options: Any) -> None:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if len(points) <= DOTS_UP_TO:
            self.plt.scatter(xs, ys, color=colour, marker=DOT, **options)
        else:
            self.plt.plot(xs, ys, color=colour, marker=LINE_MARKER, **options)

    def _draw_cursor(self) -> None:
        """A vertical line at the cursor's epoch and a dot on each series there."""
        if self.cursor_epoch is None:
            return
        self.plt.vline(self.cursor_epoch, "gray")
        for label, colour, points in self.lines():
            value = value_at(points, self.cursor_epoch)
            if value is not None and label not in self.hidden:
                self.plt.scatter([self.cursor_epoch], [value], color=colour.plotext, marker=DOT)


class LossChart(MetricChart):
    """Mean cross-entropy per epoch (train, validation, test), the training loss per step
    within epochs (raw, dim, and smoothed, in the train colour), and the learning rate per
    epoch (a right-hand axis when the chart is wide enough; its value is in the legend)."""

    SERIES = (("train_loss", "train"), ("val_loss", "val"), ("test_loss", "test"))
    COMPARE = (("val_loss", "val"), ("train_loss", "train"))
    TITLE = "loss"
    SHORT_TITLE = "loss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "toggle_log", "Log scale", show=False),
        Binding("5", "toggle_series(4)", "Hide/show 5th series", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        #: The training loss per Progress event within epochs (`add_step`).
        self.steps = StepSeries()
        #: TensorBoard's smoothing weight for the per-step curve, in [0, 1).
        self.smoothing = DEFAULT_SMOOTHING
        #: (epoch, learning rate) of each epoch.
        self.lr: Points = []

    def _set_extra(self, rows: list[dict[str, Any]]) -> None:
        self.lr = points_of(rows, "lr")

    def add_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """One Progress event's training loss (the app calls this for each it gets)."""
        if self.steps.add(epoch, step, steps, loss):
            self._schedule(self.STEP_INTERVAL)

    def clear_steps(self) -> None:
        """Forget the per-step curve (a new run is on screen)."""
        self.steps.clear()
        self._schedule()

    def lines(self) -> list[tuple[str, Colour, Points]]:
        lines = super().lines()
        if self.compare_series is None:
            if self.lr:
                lines.append(("lr", split_colour("lr"), self.lr))
            if self.steps.points:
                smoothed = self.steps.smoothed(self.smoothing)
                lines.append(("step", split_colour("train"), smoothed))
        return lines

    def values_at(self, epoch: int) -> dict[str, float | None]:
        values = super().values_at(epoch)
        if self.lr and epoch not in {x for x, _ in self.lr}:
            values["lr"] = None
        return values

    def legend_value(self, label: str, values: dict[str, float | None]) -> float | None:
        """The learning rate is shown even without the cursor: the last epoch's."""
        if label == "lr" and self.cursor_epoch is None and self.lr:
            return self.lr[-1][1]
        return super().legend_value(label, values)

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale

    def _lr_axis(self) -> bool:
        return self.size.width >= LR_AXIS_WIDTH

    def draw_line(self, label: str, colour: Colour, points: Points, drawn: list[float]) -> None:
        if label == "lr":
            if self._lr_axis():
                self._draw(points, colour.plotext, yside="right")
            return
        if label == "step":
            raw = self.steps.points
            self._draw(raw, split_colour("step").plotext)
            # The first steps of a run (loss ~2.3) would flatten every later epoch to a line
            # at the bottom: once a run is past its first epoch, the y range fits the steps
            # from the middle of the first epoch on (the earlier ones go off the top).
            past_first = bool(raw) and raw[-1][0] > 1.0
            for series in (raw, points):  # the raw steps, the smoothed curve
                late = [value for x, value in series if x > FIT_STEPS_FROM]
                drawn.extend(late if past_first and late else [value for _, value in series])
            self._draw(points, colour.plotext)
            return
        if label == "train" and self.steps.points and "step" not in self.hidden:
            # The smoothed step curve is the training loss in detail: the epochs' own
            # values are dots on it, not a second line of the same colour.
            drawn.extend(value for _, value in points)
            xs, ys = [x for x, _ in points], [y for _, y in points]
            self.plt.scatter(xs, ys, color=colour.plotext, marker=DOT)
            return
        super().draw_line(label, colour, points, drawn)


class AccuracyChart(MetricChart):
    """Accuracy per epoch, in percent: validation and test; the y axis fits the data (a run
    between 80% and 86% fills the height) and never goes above 100%."""

    SERIES = (("val_accuracy", "val"), ("test_accuracy", "test"))
    COMPARE = (("val_accuracy", "val"), ("test_accuracy", "test"))
    TITLE = "accuracy %"
    SHORT_TITLE = "accuracy"
    CEILING = 100.0
    MIN_SPAN = 1.0  # percentage point

    def scale(self, value: float) -> float:
        return 100.0 * value
