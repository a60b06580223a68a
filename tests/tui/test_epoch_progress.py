"""The epoch's progress bar: its fill, its percentage and its line of text, at any width."""

from __future__ import annotations

from app_helpers import run_async
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.renderables.bar import Bar
from textual.strip import Strip

from tui.widgets.epoch_progress import PERCENT_CELLS, EpochProgress, bar_characters


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


def rich_rendering(bar: EpochProgress) -> list[Strip]:
    """The two lines as Rich renders them (Textual's Bar renderable, a Text cut with an
    ellipsis): what `_draw` drew before it built its segments itself, kept as the oracle."""
    width, base, console = bar.size.width, bar.rich_style, bar.app.console
    done = bar.percentage
    colours = bar.get_component_rich_style(
        "epoch-progress--complete" if done >= 1 else "epoch-progress--bar"
    )
    cells = max(1, width - PERCENT_CELLS)
    renderable = Bar(
        highlight_range=(0, cells * done),
        highlight_style=Style.from_color(colours.color),
        background_style=Style.from_color(colours.bgcolor),
        width=cells,
    )
    options = bar.app.console_options.update(width=cells, height=1, highlight=False)
    bar_line = [s for s in console.render(renderable, options) if s.text != "\n"]
    bar_line.append(Segment(f"{round(100 * done)}%".rjust(PERCENT_CELLS)))
    style = bar.get_component_rich_style("epoch-progress--text")
    text = Text(bar.text, style=style, no_wrap=True, overflow="ellipsis")
    (text_line,) = console.render_lines(text, options.update_width(max(1, width)), pad=False)
    return [
        Strip(line).apply_style(base).crop_extend(0, width, base) for line in (bar_line, text_line)
    ]


def cells_of(strip: Strip) -> list[tuple[str, Style | None]]:
    """Each cell's character and style."""
    return [(char, segment.style) for segment in strip for char in segment.text]


@run_async
async def test_the_bar_draws_what_textuals_bar_and_richs_text_draw_cell_by_cell() -> None:
    texts = ["epoch 3/10 · loss 0.1234 · 5s left · 12.3k img/s", "x" * 200, ""]
    for width in (7, 33, 80):
        app = ProgressApp()
        async with app.run_test(size=(width, 4)) as pilot:
            bar = app.query_one(EpochProgress)
            for theme in ("textual-dark", "textual-light"):
                app.theme = theme
                await pilot.pause()
                for steps in range(0, 101, 3):
                    bar._set(100, steps, texts[steps % len(texts)])
                    drawn = [bar.render_line(0), bar.render_line(1)]
                    oracle = rich_rendering(bar)
                    for ours, theirs in zip(drawn, oracle, strict=True):
                        assert cells_of(ours) == cells_of(theirs), (width, theme, steps)
                        assert ours.cell_length == width
                bar.epoch_done(3, 10, 2.5, 12_000.0)  # complete: the other colour
                assert cells_of(bar.render_line(0)) == cells_of(rich_rendering(bar)[0])


def test_the_bars_characters_fill_in_half_cells() -> None:
    assert bar_characters(10, 0.0) == ("", "━" * 10)
    assert bar_characters(10, 0.5) == ("━" * 5, "╺" + "━" * 4)
    assert bar_characters(10, 0.55) == ("━" * 5 + "╸", "━" * 4)
    assert bar_characters(10, 1.0) == ("━" * 10, "")
    for fraction in (0.0, 0.01, 0.26, 0.5, 0.74, 0.99, 1.0, 1.5):
        done, rest = bar_characters(10, fraction)
        assert len(done) + len(rest) == 10
