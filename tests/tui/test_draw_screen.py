"""The draw screen: a digit drawn with Pilot's mouse events is classified by a real checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Digits, Static

from data.mnist import Dataset
from mlp_core.checkpoint import load_checkpoint
from mlp_core.drawing import classify, preprocess
from mlp_core.model import MLP
from tests.tui.test_inspect_screens import Host, settle, sync
from tui.screens.draw import DrawScreen
from tui.widgets.canvas import DrawingCanvas
from tui.widgets.digit import render_digit

SMALL = (80, 24)


async def drag(pilot, canvas: DrawingCanvas, cells: list[tuple[int, int]], button: int = 1):
    """Press at the first cell, move through the others, release (offsets in cells, border
    included: cell (x, y) is pixel column x - 1, pixel row 2 (y - 1))."""
    await pilot.mouse_down(canvas, offset=cells[0], button=button)
    for cell in cells[1:]:
        await pilot.hover(canvas, offset=cell)
    await pilot.mouse_up(canvas, offset=cells[-1])


def ellipse(cx: float, cy: float, rx: float, ry: float, points: int = 28) -> list[tuple[int, int]]:
    return [
        (
            round(cx + rx * math.cos(2 * math.pi * k / points)),
            round(cy + ry * math.sin(2 * math.pi * k / points)),
        )
        for k in range(points + 1)
    ]


@pytest.mark.parametrize(
    ("name", "cells", "expected"),
    [
        ("one", [(15, y) for y in range(2, 14)], 1),
        ("zero", ellipse(15, 7.5, 6, 5.5), 0),
    ],
)
@sync
async def test_a_drawn_digit_is_classified(
    name: str,
    cells: list[tuple[int, int]],
    expected: int,
    mnist_checkpoint: Path,
    mnist_subset: Dataset,
) -> None:
    screen = DrawScreen(mnist_checkpoint, dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        assert screen.model is not None and screen.error is None
        canvas = screen.query_one(DrawingCanvas)
        assert canvas.region.right <= SMALL[0] and canvas.region.bottom <= SMALL[1]
        await drag(pilot, canvas, cells)
        await settle(app, pilot)
        assert canvas.pixels.sum() > 20, f"the {name} left no ink"
        assert screen.prediction == expected, (name, screen.probabilities)
        # What the screen shows is what the network computed on the processed drawing.
        np.testing.assert_array_equal(screen.processed, preprocess(canvas.pixels))
        model = MLP.from_state_dict(load_checkpoint(mnist_checkpoint).weights(), "cpu")
        probabilities = classify(model, screen.processed, True)
        assert screen.probabilities == pytest.approx(probabilities)
        assert str(screen.query_one("#draw-top", Digits).value) == str(expected)
        bars = screen.query_one("#draw-bars", Static).content.plain.splitlines()
        assert len(bars) == 10 and bars[expected].endswith(f"{100 * probabilities[expected]:3.0f}%")
        seen = screen.query_one("#draw-seen", Static).content
        assert seen.plain == render_digit(screen.processed).plain


@sync
async def test_right_button_erases_and_keys_draw(mnist_checkpoint: Path, mnist_subset: Dataset):
    screen = DrawScreen(mnist_checkpoint, dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        canvas = screen.query_one(DrawingCanvas)
        await drag(pilot, canvas, [(x, 5) for x in range(5, 20)])
        assert canvas.pixels[8:10, 4:20].min() == 1.0
        await drag(pilot, canvas, [(x, 5) for x in range(5, 12)], button=3)
        assert not canvas.pixels[8:10, 4:11].any() and canvas.pixels[8:10, 13:20].all()
        await pilot.press("c")
        await settle(app, pilot)
        assert not canvas.pixels.any() and screen.prediction is None
        # Keyboard: the cursor is where the mouse left it; space paints the 2x2 brush there.
        r, c = canvas.cursor
        await pilot.press("space")
        assert canvas.pixels[r : r + 2, c : c + 2].all() and canvas.pixels.sum() == 4
        await pilot.press("b", "down", "down", "space")  # the 3x3 brush, two rows lower
        assert canvas.cursor == (r + 2, c) and canvas.pixels[r + 3, c + 1] == 0.5
        await pilot.press("shift+right", "shift+right")
        assert canvas.pixels[r + 2, c + 3] == 1.0 and canvas.cursor == (r + 2, c + 2)
        await pilot.press("x")  # the 3x3 eraser
        assert not canvas.pixels[r + 1 : r + 4, c + 1 : c + 4].any()
        await settle(app, pilot)
        assert screen.prediction is not None  # ink is left: classified


@sync
async def test_t_loads_a_test_image_to_edit(mnist_checkpoint: Path, mnist_subset: Dataset):
    screen = DrawScreen(mnist_checkpoint, dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        canvas = screen.query_one(DrawingCanvas)
        image = mnist_subset.test_images[0].reshape(28, 28)
        np.testing.assert_allclose(canvas.pixels, image / 255.0)
        assert screen.prediction == int(mnist_subset.test_labels[0])
        # MNIST's own digit comes through the preprocessing almost unchanged.
        assert np.abs(screen.processed.astype(int) - image).max() <= 1
        await pilot.press("t")
        assert screen.test_index == 1


@sync
async def test_a_bad_checkpoint_is_a_message(tmp_path: Path, mnist_subset: Dataset) -> None:
    screen = DrawScreen(tmp_path / "gone.safetensors", dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        assert screen.error is not None and "no such checkpoint file" in screen.error
        await pilot.press("space", "t", "w")  # no crash
        await pilot.press("escape")
        assert app.results == [None]
