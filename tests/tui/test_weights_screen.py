"""The weights screen: a page of units drawn from the checkpoint's tensors, sorted, enlarged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from data.mnist import Dataset
from mlp_core.checkpoint import load_checkpoint
from mlp_core.weights import UnitWeights
from tests.tui.test_inspect_screens import Host, settle, sync
from tui.screens.draw import DrawScreen
from tui.screens.weights import WeightsScreen
from tui.widgets.canvas import DrawingCanvas
from tui.widgets.unit_image import quantise, render_signed, signed_colour, thumbnail


def status(screen: WeightsScreen) -> str:
    return str(screen.query_one("#weights-status", Static).content)


def cards(screen: WeightsScreen) -> list[Text]:
    table = screen.query_one("#weights-view", Static).content
    assert isinstance(table, Table)
    found: list[Text] = []
    for column in table.columns:
        for cell in column._cells:
            if isinstance(cell, Table):  # the unit grid beside a chosen digit
                found += [c for col in cell.columns for c in col._cells if isinstance(c, Text)]
            elif isinstance(cell, Text):
                found.append(cell)
    return found


@sync
async def test_grid_pages_sorts_and_enlarges(mnist_checkpoint: Path, mnist_subset: Dataset):
    weights = UnitWeights.from_state(load_checkpoint(mnist_checkpoint).tensors)
    screen = WeightsScreen(mnist_checkpoint, dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert screen.weights is not None and screen.shown == list(range(10))
        assert "page 1 of 7" in status(screen)
        # The first card is unit 0's thumbnail: its colours are the tensor's signed values.
        first = next(c for c in cards(screen) if c.plain.endswith("#0"))
        expected = render_signed(thumbnail(weights.signed_image(0)))
        assert first.plain.startswith(expected.plain)
        levels = quantise(thumbnail(weights.signed_image(0)))
        assert (
            first.get_style_at_offset(app.console, 0).color.triplet
            == signed_colour(levels[0, 0]).get_truecolor()
        )
        await pilot.press("pagedown")
        assert screen.shown == list(range(10, 20))
        await pilot.press("s")  # by norm
        norms = weights.norms()
        assert screen.order == "norm" and screen.shown[0] == int(np.argmax(norms))
        await pilot.press("7")  # the units that feed class 7 most
        assert screen.shown[0] == int(np.argmax(weights.outgoing[:, 7]))
        assert "feeds class 7 most" in status(screen)
        await pilot.press("right", "enter")
        unit = screen.selected_unit
        assert unit == screen.units[1] and screen.large
        view = screen.query_one("#weights-view", Static).content
        facts = view.columns[1]._cells[0].plain
        assert f"unit #{unit}" in facts and f"{weights.outgoing[unit, 7]:+.3f}" in facts
        assert view.columns[0]._cells[0].plain == render_signed(weights.signed_image(unit)).plain
        await pilot.press("escape")  # back to the grid, then closed
        assert not screen.large
        await pilot.press("escape")
        assert app.results == [None]


@sync
async def test_a_test_digit_orders_units_by_activation(
    mnist_checkpoint: Path, mnist_subset: Dataset
) -> None:
    weights = UnitWeights.from_state(load_checkpoint(mnist_checkpoint).tensors)
    screen = WeightsScreen(mnist_checkpoint, dataset=mnist_subset)
    app = Host(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("t")
        digit = mnist_subset.test_images[0].reshape(28, 28)
        activations = weights.activations(digit, standardize=True)
        assert screen.order == "activation"
        assert screen.shown == [int(u) for u in np.argsort(-activations, kind="stable")[:10]]
        top = screen.shown[0]
        assert any(c.plain.endswith(f"#{top} a={activations[top]:.2f}") for c in cards(screen))
        assert "test image #0" in status(screen)


@sync
async def test_w_on_the_canvas_opens_the_units_of_the_drawing(
    mnist_checkpoint: Path, mnist_subset: Dataset
) -> None:
    app = Host(DrawScreen(mnist_checkpoint, dataset=mnist_subset))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        draw = app.screen
        await pilot.press("t", "w")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, WeightsScreen) and screen.order == "activation"
        np.testing.assert_array_equal(screen.digit, draw.processed)
        assert draw.query_one(DrawingCanvas).pixels.any()
