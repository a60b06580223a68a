"""The main screen's text at 80x24 and 160x48: what must be visible, where (a stable stand-in
for a snapshot test: pytest-textual-snapshot needs pytest < 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app_helpers import (
    make_app,
    run_async,
    screen_lines,
    set_form,
    wait_loaded,
    wait_until,
)
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset

FOOTER_KEYS = (
    "^r Start",
    "^s Stop",
    "^g Queue",
    "^o Panel",
    "^f Form",
    "^l Runs",
    "^q Quit",
    "? Help",
)


def _text(lines: list[str]) -> str:
    return "\n".join(lines)


def _body(lines: list[str]) -> str:
    """Between the header and the status line and footer."""
    return "\n".join(lines[1:-2])


@run_async
async def test_main_screen_at_80x24(tmp_path: Path, tiny_dataset: Dataset) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await wait_until(pilot, lambda: "tiny: 600 train" in screen_lines(app)[-2])
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) == 80 for line in lines)
        assert "mnist-tui" in lines[0] and "cpu" in lines[0] and "ready" in lines[0]
        for key in FOOTER_KEYS:
            assert key in lines[-1], key
        assert "tiny: 600 train" in lines[-2]  # the status line
        # Form on the left, charts beside it; the panel waits for ctrl+o.
        assert lines[1].lstrip().startswith("preset")
        for label in ("hidden units", "learning rate", "batch size", "epochs"):
            assert any(line.lstrip().startswith(label) for line in lines), label
        assert "loss" in lines[1] and "accuracy" in lines[1]
        assert "runs in" not in _body(lines)

        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: "runs in" in _body(screen_lines(app)), timeout=5)
        lines = screen_lines(app)
        assert not any(line.lstrip().startswith("hidden units") for line in lines)

        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: "hidden units" in _body(screen_lines(app)), timeout=5)
        lines = screen_lines(app)
        assert "runs in" not in _body(lines)


@run_async
async def test_results_fit_at_80_columns_with_the_form_hidden(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, {"hidden": "16", "epochs": "2", "val_split": "50", "batch_size": "100"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        # ctrl+f focuses the form, and hides it when it has the focus already.
        await pilot.press("ctrl+f")
        if app.show_form:
            await pilot.press("ctrl+f")
        assert not app.show_form
        await wait_until(pilot, lambda: "sec" in _text(screen_lines(app)), timeout=5)
        text = _text(screen_lines(app))
        for heading in ("ep", "loss", "val loss", "val %", "test %", "lr", "sec"):
            assert heading in text, heading
        assert "finished" in screen_lines(app)[0]


@run_async
async def test_main_screen_at_160x48_shows_everything(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        await wait_until(pilot, lambda: "no runs yet" in _text(screen_lines(app)))
        lines = screen_lines(app)
        text = _text(lines)
        assert len(lines) == 48 and all(len(line) == 160 for line in lines)
        assert "runs in" in lines[1] and "preset" in lines[1]
        assert "no runs yet" in text
        for label in ("hidden units", "weight decay", "lr schedule", "val split", "device"):
            assert label in text, label
        assert "Start" in text and "Stop" in text
        for heading in ("loss", "val %", "test %", "sec"):
            assert heading in text, heading
        for key in FOOTER_KEYS:
            assert key in lines[-1], key


def test_importing_the_app_does_not_import_torch() -> None:
    """The first screen is drawn before torch loads (it takes seconds to import)."""
    code = "import sys, tui.app; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_screenshot_svg(tmp_path: Path, tiny_dataset: Dataset) -> None:
    """Textual's SVG screenshot (the README's picture is made the same way)."""

    async def scenario() -> str:
        app = make_app(tmp_path / "runs", tiny_dataset)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_loaded(app, pilot)
            # The Footer lists the focused widget's keys first: the form's, as at start-up.
            from tui.widgets.config_form import ConfigForm

            app.query_one(ConfigForm).field("hidden").focus()
            svg = ""
            for _ in range(30):  # the Footer recomposes after a focus change; wait for it
                await pilot.pause(0.1)
                svg = app.export_screenshot()
                if "Queue" in svg:
                    break
            return svg

    import asyncio
    import html
    import re

    svg = asyncio.run(scenario())
    assert svg.startswith("<svg")
    # The text drawn, tags removed: the picture holds the real screen.
    text = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
    assert "mnist-tui" in text and "ready" in text
    for label in ("preset", "hidden units", "learning rate", "batch size", "epochs"):
        assert label in text, label
    for key in ("Start", "Stop", "Queue", "Quit"):
        assert key in text, key
    assert "loss" in text and "accuracy" in text  # the charts' titles
    assert "tiny: 600 train" in text


def test_key_table_lists_every_key() -> None:
    """The README's key table comes from the bindings themselves."""
    from tui.keys import APP_KEYS, key_table
    from tui.widgets.checkpoint_panel import CheckpointPanel
    from tui.widgets.queue import QueueView

    table = key_table()
    for binding in [*APP_KEYS, *CheckpointPanel.BINDINGS, *QueueView.BINDINGS]:
        assert f"`{binding.key}`" in table, binding.key  # type: ignore[union-attr]
    assert "| checkpoint panel | `m` | Mark the run to compare its curves |" in table


@run_async
async def test_the_layout_follows_a_resize_of_the_terminal(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from tui.screens.confirm import ConfirmScreen
    from tui.widgets.charts import LossChart
    from tui.widgets.checkpoint_panel import CheckpointPanel
    from tui.widgets.config_form import ConfigForm
    from tui.widgets.results import ResultsTable

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        form, panel = app.query_one(ConfigForm), app.query_one(CheckpointPanel)
        main = form.screen
        assert form.display and panel.display and not main.has_class("-narrow")

        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert main.has_class("-narrow") and main.has_class("-short")
        assert form.display and not panel.display  # they take turns
        assert app.query_one(LossChart).size.width > 0
        assert app.query_one(ResultsTable).size.width > 0
        await pilot.press("ctrl+o")
        await pilot.pause(0.1)
        assert panel.display and not form.display

        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.2)
        assert form.display and panel.display and not main.has_class("-narrow")

        # Resized under a modal screen: the main screen (not the modal) takes the classes.
        app.push_screen(ConfirmScreen("?"))
        await pilot.pause(0.1)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert main.has_class("-narrow") and not app.screen.has_class("-narrow")
        assert not panel.display


@run_async
async def test_the_run_state_repaints_the_header_not_the_whole_screen(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """run_state and the header's words change with every epoch of a followed run: that
    repaints one line, never the screen (an App reactive would repaint all of it)."""
    from typing import Any

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        await pilot.pause(0.3)
        screen = app.screen
        calls: list[dict[str, Any]] = []
        real_refresh = screen.refresh

        def spy(*regions: Any, **options: Any) -> Any:
            calls.append(options)
            return real_refresh(*regions, **options)

        screen.refresh = spy  # type: ignore[method-assign]
        for epoch in range(1, 4):
            app.run_state = f"training {epoch}/10"
            await pilot.pause()
        assert "training 3/10" in screen_lines(app)[0]
        assert calls == []
