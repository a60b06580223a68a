"""The mistakes screen's `t` (test <-> training digits), the confusion cursor that shows and
says where it is, and per-class bars scaled to what tells classes apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_helpers import run_async
from rich.console import Console
from textual.app import App
from textual.widgets import Static

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.inspect import inspect_checkpoint
from mlp_core.trainer import train
from tui.screens.evaluate import EvaluateScreen, bar_floor, per_class_table
from tui.screens.misclassified import MisclassifiedScreen, train_mistakes
from tui.widgets.confusion import CURSOR_STYLE, ConfusionTable


class Host(App[None]):
    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


@pytest.fixture
def checkpoint(tiny_dataset: Dataset, tmp_path: Path) -> Path:
    config = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, tiny_dataset, runs_dir=tmp_path / "runs"))
    return Path(events[0].run_dir) / "checkpoints" / "last.safetensors"


async def wait_for(pilot: Any, condition: Any, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


@run_async
async def test_t_switches_the_mistakes_between_test_and_training_digits(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    inspection = inspect_checkpoint(checkpoint, tiny_dataset, "cpu")
    screen = MisclassifiedScreen(
        checkpoint, None, "cpu", tiny_dataset, mistakes=list(inspection.mistakes), per_page=4
    )
    app = Host(screen)
    expected_train = train_mistakes(checkpoint, tiny_dataset, "cpu")
    assert expected_train, "the tiny run gets some training digits wrong"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert screen.split == "test" and screen.count() == len(inspection.mistakes)
        await pilot.press("t")
        await wait_for(pilot, lambda: screen.mistakes is not None)
        assert screen.split == "train" and screen.count() == len(expected_train)
        assert [m.index for m in screen.mistakes] == [m.index for m in expected_train]
        title = str(screen.query_one("#pager-title", Static).render())
        assert title.startswith("Misclassified training digits")
        pixels, _ = screen.card(0)
        assert (pixels == tiny_dataset.train_images[expected_train[0].index]).all()
        await pilot.press("t")
        assert screen.split == "test" and screen.count() == len(inspection.mistakes)
        await pilot.press("t")  # the second time no worker: the training mistakes are kept
        assert screen.count() == len(expected_train)


@run_async
async def test_the_confusion_cursor_is_drawn_and_says_it_starts_on_the_worst_cell(
    checkpoint: Path, tiny_dataset: Dataset
) -> None:
    screen = EvaluateScreen(checkpoint, None, "cpu", dataset=tiny_dataset)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen.inspection is not None)
        await pilot.pause()
        table = screen.query_one(ConfusionTable)
        worst = table.worst_cell()
        words = str(screen.query_one("#eval-cursor", Static).render())
        assert f"true {worst[0]} → {worst[1]}" in words and "biggest confusion" in words
        cell = table.get_cell_at(worst)
        assert cell.spans[-1].style == CURSOR_STYLE
        assert int(cell.plain) == table.matrix[worst[0]][worst[1]]
        await pilot.press("right" if worst[1] < 9 else "left")
        await pilot.pause()
        moved = table.cursor_coordinate
        assert table.get_cell_at(moved).spans[-1].style == CURSOR_STYLE
        assert all(span.style != CURSOR_STYLE for span in table.get_cell_at(worst).spans)
        words = str(screen.query_one("#eval-cursor", Static).render())
        assert f"true {moved.row} → {moved.column}" in words and "biggest" not in words


def test_per_class_bars_start_under_the_worst_class_and_say_their_scale() -> None:
    accuracy = [0.959, 0.991] + [0.97] * 8
    assert bar_floor(accuracy) == 94.0
    assert bar_floor([0.30, 0.99]) == 29.0 and bar_floor([]) == 0.0
    console = Console(width=80, record=True, color_system=None)
    console.print(per_class_table(accuracy, [[100] * 10] * 10))
    lines = console.export_text().splitlines()
    assert "94%" in lines[0] and "100%" in lines[0]
    bars = {line.split()[0]: line.count("█") for line in lines[1:] if line.strip()}
    assert bars["1"] - bars["0"] >= 10  # 95.9% and 99.1% no longer look alike (of 20 cells)
