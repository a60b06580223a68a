"""The main screen's compositor (tui/compositor.py): a partial update writes to the terminal
exactly what Textual's own compositor writes for it, while rendering fewer lines."""

from __future__ import annotations

import functools
import random
from pathlib import Path

from app_helpers import make_app, past_run, run_async, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from rich.console import Console
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.widget import Widget

from data.mnist import Dataset
from mlp_core.events import Progress
from mlp_core.runs import read_metrics
from tui.compositor import RowBandCompositor
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.epoch_progress import EpochProgress
from tui.widgets.run_view import RunView


def terminal_output(compositor: Compositor, regions: list[Region], stock: bool) -> str:
    """What a partial update of these dirty regions writes to the terminal, rendered by the
    compositor's own `_get_renders` or (stock) by Textual's."""
    compositor._dirty_regions.update(regions)
    if stock:  # an instance attribute shadows the subclass's method for this one update
        compositor._get_renders = functools.partial(Compositor._get_renders, compositor)  # type: ignore[method-assign]
    try:
        update = compositor.render_partial_update()
    finally:
        compositor.__dict__.pop("_get_renders", None)
    assert isinstance(update, ChopsUpdate)
    return update.render_segments(_console())


@functools.cache
def _console() -> Console:
    return Console(width=160, height=48, color_system="truecolor", force_terminal=True)


def lines_rendered(compositor: Compositor, regions: list[Region], stock: bool) -> int:
    """How many widget lines the update rendered (every widget's render_lines, summed)."""
    counted = [0]
    original = Widget.render_lines

    def counting(self: Widget, crop: Region) -> list:  # type: ignore[type-arg]
        strips = original(self, crop)
        counted[0] += len(strips)
        return strips

    Widget.render_lines = counting  # type: ignore[method-assign]
    try:
        terminal_output(compositor, regions, stock)
    finally:
        Widget.render_lines = original  # type: ignore[method-assign]
    return counted[0]


@run_async
async def test_a_partial_update_writes_what_textuals_compositor_writes(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs = tmp_path / "runs"
    run = past_run(runs, tiny_dataset, epochs=3)
    app = make_app(runs, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        await wait_until(pilot, lambda: app.query_one(CheckpointPanel).runs)
        view = app.query_one(RunView)
        view.loaded(read_metrics(run), 3, "finished", run.name)  # charts and table drawn
        view.epochs = 5
        view.progress(Progress(4, 37, 100, 0.25, 1234.0, 9.0))
        await pilot.pause(0.3)
        compositor = app.screen._compositor
        assert isinstance(compositor, RowBandCompositor)
        bar = app.query_one(EpochProgress).region
        tree = app.query_one("#run-tree").region
        screen = compositor.size.region
        cases = [
            [bar],  # the progress bar, four times a second
            [bar, tree],  # the bar and the panel: the box spans the screen
            [Region(0, 0, 160, 1)],  # the header
            [Region(30, 10, 17, 5)],  # edges inside widgets
            [Region(0, 47, 160, 1), Region(80, 20, 3, 3)],
            [screen],
        ]
        rng = random.Random(0)
        for _ in range(40):
            regions = []
            for _ in range(rng.randint(1, 3)):
                x, y = rng.randrange(160), rng.randrange(48)
                regions.append(Region(x, y, rng.randint(1, 160 - x), rng.randint(1, 48 - y)))
            cases.append(regions)
        for regions in cases:
            ours = terminal_output(compositor, regions, stock=False)
            textuals = terminal_output(compositor, regions, stock=True)
            assert ours == textuals, regions
        # And the point of it: the bar's update renders a few lines, not the screen's.
        ours = lines_rendered(compositor, [bar], stock=False)
        textuals = lines_rendered(compositor, [bar], stock=True)
        assert ours <= 10 * bar.height < textuals, (ours, textuals)
