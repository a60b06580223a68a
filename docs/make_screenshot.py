"""Make the README's screenshots of the whole app, at 80x24 and 160x48:

- docs/app-live-{80x24,160x48}.svg: a run training on MNIST, mid-epoch (progress bar, the
  per-step loss, the epochs so far, the live run in the panel, the system monitor);
- docs/app-compare-{80x24,160x48}.svg: two past runs marked and overlaid, each in its colour.

    .venv/bin/python docs/make_screenshot.py [--only live|compare] [--device cpu]

Uses Textual's own SVG export, in a temporary runs folder and settings folder (nothing of the
user's is read or written). The compared runs are small (a 20,000-image subset); the live one
is the default preset (h=1024), so the script takes a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
from pathlib import Path

from data.mnist import Dataset, load_dataset
from mlp_core.config import PRESETS, TrainConfig
from tui.app import MnistApp
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm

DOCS = Path(__file__).resolve().parent
SIZES = ((160, 48), (80, 24))


def subset(dataset: Dataset, count: int) -> Dataset:
    images, labels = dataset.train_images[:count], dataset.train_labels[:count]
    return dataclasses.replace(dataset, train_images=images, train_labels=labels)


async def shoot_live(dataset: Dataset, device: str) -> None:
    """Start a run from the form and take both sizes in the middle of its 4th epoch."""
    config = dataclasses.replace(PRESETS["default"], epochs=10, device=device)
    app = MnistApp(Path("runs"), dataset=dataset, device=device)
    async with app.run_test(size=SIZES[0]) as pilot:
        while app.backend is None:
            await pilot.pause(0.1)
        app.query_one(ConfigForm).fill(config)
        await pilot.press("ctrl+r")
        while len(app.history) < 3:
            await pilot.pause(0.1)
        bar = app.query_one("#progress-bar")
        while (bar.percentage or 0) < 0.4 or (bar.percentage or 0) > 0.9:  # type: ignore[attr-defined]
            await pilot.pause(0.05)
        app.clear_notifications()
        for width, height in SIZES:
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.5)
            app.save_screenshot(str(DOCS / f"app-live-{width}x{height}.svg"))
        await pilot.press("ctrl+s")
        while app.is_training:
            await pilot.pause(0.1)


async def shoot_compare(dataset: Dataset, device: str) -> None:
    """Two runs trained headless (as `mnist-tui train` would), marked in the panel."""
    from mlp_core.trainer import train

    small = subset(dataset, 20000)
    runs = []
    for hidden, lr in ((64, 0.02), (256, 0.1)):
        config = TrainConfig(hidden=hidden, epochs=10, batch_size=128, lr=lr, device=device)
        events = list(train(config, small, runs_dir=Path("runs")))
        runs.append(Path(events[0].run_dir))
    app = MnistApp(Path("runs"), dataset=dataset, device=device)
    async with app.run_test(size=SIZES[0]) as pilot:
        while app.backend is None:
            await pilot.pause(0.1)
        panel = app.query_one(CheckpointPanel)
        while len(panel.runs) < 2:
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        for run in runs:
            panel.select_run(run)
            await pilot.pause(0.3)
            panel.action_toggle_mark()
        while len(app.compared) < 2:
            await pilot.pause(0.1)
        app.clear_notifications()
        for width, height in SIZES:
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.5)
            app.save_screenshot(str(DOCS / f"app-compare-{width}x{height}.svg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("live", "compare"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ["MNIST_TUI_CONFIG_DIR"] = tempfile.mkdtemp(prefix="mnist-tui-shot-config-")
    os.chdir(tempfile.mkdtemp(prefix="mnist-tui-shot-"))  # the panel then says "runs in runs"
    dataset = load_dataset()
    if args.only in (None, "compare"):
        asyncio.run(shoot_compare(dataset, args.device))
    if args.only in (None, "live"):
        asyncio.run(shoot_live(dataset, args.device))
    print("wrote", *sorted(p.name for p in DOCS.glob("app-*.svg")))


if __name__ == "__main__":
    main()
