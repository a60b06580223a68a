"""Make docs/draw.svg, docs/weights.svg and docs/weights-unit.svg: a digit drawn on the canvas
and classified, the grid of hidden units, one unit large; for a network trained here for a few
seconds on 20,000 MNIST images.

    .venv/bin/python docs/make_inside_screenshots.py

The digit (a 7) is drawn with mouse events, as a person would drag it. Uses Textual's SVG export.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from textual.app import App

from data.mnist import load_dataset
from mlp_core.config import TrainConfig
from mlp_core.trainer import train
from tui.screens.draw import DrawScreen
from tui.screens.weights import WeightsScreen
from tui.widgets.canvas import DrawingCanvas

DOCS = Path(__file__).resolve().parent


class Host(App[None]):
    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


def checkpoint(dataset: Any) -> Path:
    config = TrainConfig(hidden=128, epochs=4, batch_size=64, val_split=1000, device="cpu")
    events = list(train(config, dataset, runs_dir=Path(tempfile.mkdtemp(prefix="shots-"))))
    return Path(events[0].run_dir) / "checkpoints" / "best.safetensors"


async def settle(app: App[None], pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause(0.3)


async def shoot_draw(path: Path, dataset: Any) -> None:
    app = Host(DrawScreen(path, dataset=dataset))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        canvas = app.screen.query_one(DrawingCanvas)
        stroke = [(x, 3) for x in range(8, 22)] + [(21 - k // 2, 3 + k) for k in range(1, 11)]
        await pilot.mouse_down(canvas, offset=stroke[0])
        for cell in stroke[1:]:
            await pilot.hover(canvas, offset=cell)
        await pilot.mouse_up(canvas, offset=stroke[-1])
        await settle(app, pilot)
        app.clear_notifications()
        await pilot.pause(0.3)
        app.save_screenshot(str(DOCS / "draw.svg"))
        print("draw.svg: prediction", app.screen.prediction)


async def shoot_weights(path: Path, dataset: Any) -> None:
    app = Host(WeightsScreen(path, dataset=dataset, per_page=15))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("t")  # the units the first test image (a 7) activates most
        await pilot.pause(0.3)
        app.clear_notifications()
        app.save_screenshot(str(DOCS / "weights.svg"))
        await pilot.press("enter")
        await pilot.pause(0.3)
        app.save_screenshot(str(DOCS / "weights-unit.svg"))
        print("weights.svg, weights-unit.svg")


def main() -> None:
    full = load_dataset()
    dataset = dataclasses.replace(
        full, train_images=full.train_images[:20000], train_labels=full.train_labels[:20000]
    )
    path = checkpoint(dataset)
    asyncio.run(shoot_draw(path, dataset))
    asyncio.run(shoot_weights(path, dataset))


if __name__ == "__main__":
    main()
