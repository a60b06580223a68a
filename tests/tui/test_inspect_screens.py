"""Pilot tests of the inspection screens, each pushed alone in a minimal app, on the tiny set."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from rich.color import Color, ColorSystem
from rich.console import Console
from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, ProgressBar, Static, TextArea

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.evaluate import EvalResult
from mlp_core.inspect import evaluate_checkpoint, inspect_checkpoint
from mlp_core.runs import load_run
from mlp_core.trainer import train
from tui.screens.confirm import ConfirmScreen
from tui.screens.digits import DigitsScreen
from tui.screens.evaluate import EvaluateScreen
from tui.screens.misclassified import MisclassifiedScreen
from tui.screens.run_notes import RunNotesScreen
from tui.widgets.confusion import ConfusionTable, cell_style
from tui.widgets.digit import as_grid, digit_card, render_digit

SIZE = (120, 40)


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio.run (no pytest asyncio plugin is installed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class Host(App[None]):
    """Pushes one screen at start and keeps what it is dismissed with.

    Like the real app, it binds Ctrl+S (stop a run) with priority: the screens must not need it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "stop", priority=True)]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.first_screen = screen
        self.results: list[Any] = []
        self.stops = 0

    def action_stop(self) -> None:
        self.stops += 1

    def on_mount(self) -> None:
        self.push_screen(self.first_screen, self.results.append)


@pytest.fixture
def trained_run(tiny_dataset: Dataset, tmp_path: Path) -> Path:
    config = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, tiny_dataset, runs_dir=tmp_path / "runs"))
    return Path(events[0].run_dir)


@pytest.fixture
def checkpoint(trained_run: Path) -> Path:
    return trained_run / "checkpoints" / "last.safetensors"


def text_of(app: App[None], selector: str) -> str:
    content = app.screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def settle(app: App[None], pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@sync
async def test_evaluate_shows_the_figures_and_confusion(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    expected: EvalResult = evaluate_checkpoint(checkpoint, tiny_dataset, "cpu")
    screen = EvaluateScreen(checkpoint, None, "cpu", dataset=tiny_dataset)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert screen.inspection is not None and screen.error is None
        assert f"{100 * expected.accuracy:.2f}%" in text_of(app, "#eval-summary")
        assert f"{expected.loss:.4f}" in text_of(app, "#eval-summary")
        table = screen.query_one(ConfusionTable)
        assert (table.row_count, len(table.columns)) == (10, 10)
        cells = [[int(table.get_cell_at((r, c)).plain) for c in range(10)] for r in range(10)]
        assert cells == expected.confusion
        assert app.focused is table
        per_class = screen.query_one("#eval-per-class-table", Static).content
        assert per_class.row_count == 10  # a rich Table, one row per class


@sync
async def test_enter_on_a_cell_opens_its_mistakes(checkpoint: Path, tiny_dataset: Dataset) -> None:
    screen = EvaluateScreen(checkpoint, None, "cpu", dataset=tiny_dataset)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = screen.query_one(ConfusionTable)
        true_label, predicted = table.worst_cell()
        assert true_label != predicted, "the tiny run should confuse some pair"
        assert tuple(table.cursor_coordinate) == (true_label, predicted)
        await pilot.press("enter")
        await pilot.pause()
        mistakes = app.screen
        assert isinstance(mistakes, MisclassifiedScreen)
        assert mistakes.cell == (true_label, predicted)
        assert mistakes.count() == table.matrix[true_label][predicted]
        assert all(
            (m.true_label, m.predicted) == (true_label, predicted) for m in mistakes.mistakes
        )
        assert f"true {true_label} predicted as {predicted}" in text_of(app, "#pager-title")
        await pilot.press("escape")
        assert app.screen is screen
        # Moving the cursor first picks another cell.
        await pilot.press("up" if true_label else "down")
        await pilot.press("enter")
        await pilot.pause()
        moved = (true_label - 1, predicted) if true_label else (true_label + 1, predicted)
        if moved[0] == moved[1]:
            assert app.screen is screen  # a diagonal cell has no mistakes: a notice only
        else:
            assert app.screen.cell == moved
        await pilot.press("escape")


@sync
async def test_m_opens_every_mistake_and_escape_closes(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    screen = EvaluateScreen(checkpoint, None, "cpu", dataset=tiny_dataset)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MisclassifiedScreen)
        assert app.screen.count() == len(screen.inspection.mistakes)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is not screen and app.results == [None]


@sync
async def test_corrupted_checkpoint_gives_a_clear_message(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    screen = EvaluateScreen(checkpoint, None, "cpu", dataset=tiny_dataset)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert screen.inspection is None
        status = text_of(app, "#eval-status")
        assert status.startswith("Cannot evaluate:") and "last.safetensors" in status
        assert any("last.safetensors" in n.message for n in app._notifications)
        assert app.is_running
        await pilot.press("m")  # nothing to show: a notice, no crash
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and app.screen is not screen


@sync
async def test_missing_checkpoint_gives_a_clear_message(tmp_path: Path) -> None:
    screen = EvaluateScreen(tmp_path / "gone.safetensors", None, "cpu")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "no such checkpoint file" in text_of(app, "#eval-status")
        assert app.is_running


@sync
async def test_misclassified_pages_with_n_and_p(checkpoint: Path, tiny_dataset: Dataset) -> None:
    inspection = inspect_checkpoint(checkpoint, tiny_dataset, "cpu")
    mistakes = list(inspection.mistakes)
    assert len(mistakes) > 3, "the test needs a few pages"
    screen = MisclassifiedScreen(
        checkpoint, None, "cpu", tiny_dataset, mistakes=mistakes, per_page=3
    )
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert screen.shown == [0, 1, 2]
        assert text_of(app, "#pager-title").endswith(f"1–3 of {len(mistakes)}")
        page = screen.query_one("#pager-page", Static).content
        first = mistakes[0]
        caption = page.renderables[0].plain.splitlines()[-2:]
        assert caption[0].startswith(f"true {first.true_label} → {first.predicted}")
        assert caption[1].startswith(f"{first.top[0][0]} {100 * first.top[0][1]:.0f}%")
        await pilot.press("n")
        assert screen.shown == [3, 4, 5][: len(mistakes) - 3]
        await pilot.press("right")
        await pilot.press("p", "left", "left")
        assert screen.shown == [0, 1, 2]
        await pilot.press("end")
        assert screen.page == screen.pages - 1 and screen.shown[-1] == len(mistakes) - 1
        await pilot.press("escape")
        assert app.results == [None]


@sync
async def test_misclassified_alone_evaluates_in_a_worker(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    inspection = inspect_checkpoint(checkpoint, tiny_dataset, "cpu")
    cell = next(
        (t, p) for t in range(10) for p in range(10) if t != p and inspection.result.confusion[t][p]
    )
    screen = MisclassifiedScreen(checkpoint, None, "cpu", tiny_dataset, cell=cell)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert screen.count() == inspection.result.confusion[cell[0]][cell[1]]
        assert all((m.true_label, m.predicted) == cell for m in screen.mistakes)


@sync
async def test_digits_pages_and_switches_split(tiny_dataset: Dataset) -> None:
    screen = DigitsScreen(dataset=tiny_dataset, per_page=5)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert screen.split == "train" and screen.shown == [0, 1, 2, 3, 4]
        assert text_of(app, "#pager-title") == "Training digits · 1–5 of 600"
        page = screen.query_one("#pager-page", Static).content
        label = int(tiny_dataset.train_labels[0])
        assert page.renderables[0].plain.splitlines()[-1] == f"label {label}  #0"
        await pilot.press("n", "n")
        assert screen.shown == [10, 11, 12, 13, 14]
        await pilot.press("p")
        assert screen.shown == [5, 6, 7, 8, 9]
        await pilot.press("t")
        assert screen.split == "test" and screen.shown == [0, 1, 2, 3, 4]
        assert text_of(app, "#pager-title") == "Test digits · 1–5 of 200"
        page = screen.query_one("#pager-page", Static).content
        label = int(tiny_dataset.test_labels[0])
        assert page.renderables[0].plain.splitlines()[-1] == f"label {label}  #0"
        await pilot.press("end")
        assert screen.shown == [195, 196, 197, 198, 199]
        await pilot.press("home", "t")
        assert screen.split == "train"
        await pilot.press("escape")
        assert app.results == [None]


@sync
async def test_digits_loads_a_data_dir_in_a_worker(tiny_data_dir: Path, tmp_path: Path) -> None:
    screen = DigitsScreen(data_dir=tiny_data_dir)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert screen.dataset is not None and screen.count() == 600
        assert len(screen.shown) == 8
    bad = DigitsScreen(data_dir=tmp_path / "nowhere")
    app = Host(bad)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "does not exist" in text_of(app, "#pager-status")
        await pilot.press("n", "t")  # nothing loaded: keys do nothing, no crash
        assert app.is_running


@pytest.mark.parametrize(
    ("keys", "answer"),
    [
        (["y"], True),
        (["n"], False),
        (["escape"], False),
        (["enter"], False),  # Cancel has the focus first
        (["tab", "enter"], True),
    ],
)
@sync
async def test_confirm_answers(keys: list[str], answer: bool) -> None:
    app = Host(ConfirmScreen("Delete run 2026-x and its 3 checkpoints?"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Delete run 2026-x" in text_of(app, "#confirm-question")
        await pilot.press(*keys)
        await pilot.pause()
        assert app.results == [answer]


@sync
async def test_run_notes_edits_label_and_note(trained_run: Path) -> None:
    app = Host(RunNotesScreen(trained_run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.screen.query_one("#notes-label", Input)
        # The label field keeps keys typed together (tests/tui/test_key_bursts.py: FieldInput).
        from tui.widgets.field_input import FieldInput

        assert isinstance(app.focused, FieldInput)
        await pilot.press(*"wide")
        await pilot.press("tab")
        await pilot.press(*"lr", "enter", *"ok")
        await pilot.press("f2")
        await pilot.pause()
        assert len(app.results) == 1 and app.results[0].label == "wide"
    info = load_run(trained_run)
    assert (info.label, info.note) == ("wide", "lr\nok")
    # Opening again shows the saved values; Escape leaves them as they were.
    app = Host(RunNotesScreen(trained_run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#notes-label", Input).value == "wide"
        assert app.screen.query_one("#notes-note", TextArea).text == "lr\nok"
        await pilot.press("x", "escape")
        await pilot.pause()
        assert app.results == [None]
    assert load_run(trained_run).label == "wide"


@sync
async def test_run_notes_enter_in_label_saves_and_errors_stay_on_screen(
    trained_run: Path, tmp_path: Path
) -> None:
    app = Host(RunNotesScreen(trained_run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("a", "enter")
        await pilot.pause()
        assert app.results[0].label == "a"
    app = Host(RunNotesScreen(tmp_path / "no-run"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "cannot read" in text_of(app, "#notes-error")
        await pilot.press("f2")
        await pilot.pause()
        assert app.results == [] and "cannot read" in text_of(app, "#notes-error")


@sync
async def test_run_notes_buttons_by_keyboard(trained_run: Path) -> None:
    app = Host(RunNotesScreen(trained_run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("b", "tab", "z", "tab", "tab", "enter")  # label, note, Cancel, Save
        await pilot.pause()
        assert [(r.label, r.note) for r in app.results] == [("b", "z")]
        assert app.stops == 0
    app = Host(RunNotesScreen(trained_run))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c", "tab", "tab", "enter")  # Cancel
        await pilot.pause()
        assert app.results == [None]
    assert load_run(trained_run).label == "b"


# -- the digit and the confusion cells, drawn without an app ----------------------------------


def test_render_digit_of_a_known_image() -> None:
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[0, 0] = 255  # upper pixel of row 0, column 0: white on black
    pixels[1, 1] = 128  # lower pixel of row 0, column 1: black on grey
    pixels[26:28, 27] = (10, 200)  # last cell of the last line
    text = render_digit(pixels.reshape(-1))
    lines = text.plain.split("\n")
    assert len(lines) == 14 and all(line == "▀" * 28 for line in lines)

    def colours(offset: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        style = text.get_style_at_offset(Console(), offset)
        return style.color.get_truecolor(), style.bgcolor.get_truecolor()

    assert colours(0) == ((255, 255, 255), (0, 0, 0))
    assert colours(1) == ((0, 0, 0), (128, 128, 128))
    assert colours(2) == ((0, 0, 0), (0, 0, 0))
    assert colours(13 * 29 + 27) == ((10, 10, 10), (200, 200, 200))  # 29: 28 cells + "\n"
    with pytest.raises(ValueError, match="784"):
        render_digit(np.zeros(100))


def test_digit_in_256_colours_and_truecolour() -> None:
    """Truecolour prints the RGB greys; a 256-colour terminal gets the palette's grey ramp.

    (Each colour system is checked on the colours themselves: Rich caches a style's escape
    codes per process, as a real terminal has one colour system.)
    """
    pixels = np.zeros(784, dtype=np.uint8)
    pixels[0], pixels[28] = 255, 128  # the first cell: white over grey
    buffer = io.StringIO()
    console = Console(file=buffer, color_system="truecolor", force_terminal=True, width=40)
    console.print(render_digit(pixels), end="")
    assert buffer.getvalue().startswith("\x1b[38;2;255;255;255;48;2;128;128;128m▀")
    style = render_digit(pixels).get_style_at_offset(console, 0)
    assert style.color.downgrade(ColorSystem.EIGHT_BIT).number == 231  # white
    assert style.bgcolor.downgrade(ColorSystem.EIGHT_BIT).number == 244  # mid grey (ramp 232-255)
    ramp = {
        Color.from_rgb(level, level, level).downgrade(ColorSystem.EIGHT_BIT).number
        for level in range(8, 248, 10)
    }
    assert ramp <= set(range(232, 256)) | {16, 59, 102, 145, 188, 231}  # greys only, no hues
    assert len(ramp) >= 16, "enough distinct grey levels to read a digit"


def test_confusion_cell_colours() -> None:
    right = cell_style(95, 100, diagonal=True)
    wrong = cell_style(5, 100, diagonal=False)
    assert right.bgcolor.get_truecolor().green > right.bgcolor.get_truecolor().red
    assert wrong.bgcolor.get_truecolor().red > wrong.bgcolor.get_truecolor().green
    few, many = cell_style(1, 100, False), cell_style(30, 100, False)
    assert many.bgcolor.get_truecolor().red > few.bgcolor.get_truecolor().red
    assert cell_style(0, 100, False).bgcolor is None


@sync
async def test_evaluate_shows_progress_while_working(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EvaluateScreen, "_evaluate", lambda self: None)  # no worker: hold still
    screen = EvaluateScreen(checkpoint, None, "cpu")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not screen.query_one("#eval-results").display
        screen.post_message(EvaluateScreen.Progress("loading data", 0.2))
        screen.post_message(EvaluateScreen.Progress("evaluating", 0.6))
        await pilot.pause()
        assert text_of(app, "#eval-status") == "evaluating…"
        assert screen.query_one(ProgressBar).progress == pytest.approx(0.6)
        await pilot.press("m")  # not finished: a notice, nothing pushed
        await pilot.pause()
        assert app.screen is screen
        assert any("not finished" in n.message for n in app._notifications)


def test_a_digit_card_is_28_by_14_with_its_caption_below() -> None:
    card = digit_card(np.full(784, 255, dtype=np.uint8), "label 7")
    lines = card.plain.splitlines()
    assert len(lines) == 15 and all(len(line) == 28 for line in lines[:14])
    assert lines[-1] == "label 7"
    assert render_digit(as_grid(np.zeros((28, 28), dtype=np.uint8))).plain == "\n".join(
        ["▀" * 28] * 14
    )
