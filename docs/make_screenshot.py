"""Make docs/screenshot.svg: the app at 160x48 training the default preset on MNIST.

    .venv/bin/python docs/make_screenshot.py [--epochs 8] [--at-epoch 6]

The picture is taken while the run is going (after `--at-epoch` epochs), so the progress bar,
the live run in the panel and the curves so far all show. Uses Textual's own SVG export.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
from pathlib import Path

from data.mnist import load_dataset
from mlp_core.config import PRESETS
from tui.app import MnistApp
from tui.widgets.config_form import ConfigForm

OUT = Path(__file__).resolve().parent / "screenshot.svg"


async def shoot(epochs: int, at_epoch: int, device: str) -> None:
    dataset = load_dataset()
    config = dataclasses.replace(PRESETS["default"], epochs=epochs, device=device)
    os.chdir(tempfile.mkdtemp(prefix="mnist-tui-shot-"))  # the panel then says "runs in runs"
    runs_dir = Path("runs")
    app = MnistApp(runs_dir, dataset=dataset, device=device)
    async with app.run_test(size=(160, 48)) as pilot:
        while app.backend is None:
            await pilot.pause(0.1)
        app.query_one(ConfigForm).fill(config)
        await pilot.press("ctrl+r")
        while len(app.history) < at_epoch:
            await pilot.pause(0.1)
        await pilot.pause(1.5)  # a progress update or two into the next epoch
        app.query_one(ConfigForm).focus_first()
        app.clear_notifications()
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT))
        await pilot.press("ctrl+s")
        while app.is_training:
            await pilot.pause(0.1)
    print(f"wrote {OUT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--at-epoch", type=int, default=6)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    asyncio.run(shoot(args.epochs, args.at_epoch, args.device))


if __name__ == "__main__":
    main()
