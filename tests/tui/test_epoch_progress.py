"""The epoch's progress bar: its fill, its percentage and its line of text, at any width."""

from __future__ import annotations

from app_helpers import run_async
from textual.app import App, ComposeResult

from tui.widgets.epoch_progress import PERCENT_CELLS, EpochProgress


class ProgressApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EpochProgress(id="progress")


def filled_cells(bar: EpochProgress) -> int:
    """Cells of the bar's first line drawn in the bar's own (unfinished or complete) colour."""
    name = "epoch-progress--complete" if bar.percentage >= 1 else "epoch-progress--bar"
    colour = bar.get_component_rich_style(name).color
    line = bar.render_line(0)
    return sum(
        len(segment.text)
        for segment in line
        if segment.style is not None and segment.style.color == colour and "━" in segment.text
    )


@run_async
async def test_the_bar_fills_with_the_steps_and_says_its_percentage() -> None:
    app = ProgressApp()
    async with app.run_test(size=(45, 4)) as pilot:
        bar = app.query_one(EpochProgress)
        cells = bar.size.width - PERCENT_CELLS
        assert bar.render_line(0).text.endswith("0%") and filled_cells(bar) == 0
        bar.show(2, 10, 25, 100, 12_345.0, 7.0, 0.1234)
        await pilot.pause()
        assert bar.render_line(0).text.endswith(" 25%")
        assert abs(filled_cells(bar) - cells / 4) <= 1
        line = bar.render_line(1).text
        assert line.startswith("epoch 2/10 · loss 0.1234") and line.endswith("…")  # cut, marked
        bar.epoch_done(2, 10, 3.5, 12_000.0)
        await pilot.pause()
        assert bar.render_line(0).text.endswith("100%") and filled_cells(bar) == cells
        assert bar.render_line(1).text.rstrip() == "epoch 2/10 done in 3.5s · 12.0k img/s"
        for y in (0, 1):
            assert bar.render_line(y).cell_length == bar.size.width


@run_async
async def test_a_new_text_repaints_the_bar_and_lays_out_nothing() -> None:
    app = ProgressApp()
    async with app.run_test(size=(80, 4)) as pilot:
        bar = app.query_one(EpochProgress)
        await pilot.pause()
        layouts: list[bool] = []
        original = bar.refresh

        def refresh(*args: object, **kwargs: object) -> object:
            layouts.append(bool(kwargs.get("layout")))
            return original(*args, **kwargs)  # type: ignore[arg-type]

        bar.refresh = refresh  # type: ignore[method-assign]
        for step in range(1, 6):
            bar.show(1, 3, step, 10, 100.0, 1.0, 0.5)
        bar.show(1, 3, 5, 10, 100.0, 1.0, 0.5)  # the same again: nothing to repaint
        await pilot.pause()
        assert layouts == [False] * 5
        assert "50%" in app.screen._compositor.render_strips()[0].text


@run_async
async def test_a_new_theme_redraws_the_bar_in_its_colours() -> None:
    app = ProgressApp()
    async with app.run_test(size=(60, 4)) as pilot:
        bar = app.query_one(EpochProgress)
        bar.show(1, 3, 5, 10, 100.0, 1.0, 0.5)
        await pilot.pause()
        before = {segment.style for segment in bar.render_line(0) if "━" in segment.text}
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        after = {segment.style for segment in bar.render_line(0) if "━" in segment.text}
        assert after and after != before
        name = "epoch-progress--bar"
        assert bar.get_component_rich_style(name).color in {style.color for style in after}
