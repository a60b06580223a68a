"""What watching costs: seconds per epoch inside the app against `train()` headless.

    .venv/bin/python bench/app_overhead.py                          # full MNIST, 3 epochs x 2
    .venv/bin/python bench/app_overhead.py --subset 20000 --epochs 2   # a couple of minutes

Both sides train the `default` preset on the bundled MNIST (or its first `--subset` training
images; the 5,000-image validation split is kept): headless, the way `mnist-tui train` does
(iterate `train()` in the main thread), and inside the app run headless with Textual's
`run_test` (the real thread worker posting messages, charts, table, progress bar and panel
redrawn as in use). They alternate (headless, app, app, headless, ...) because the machine may
be shared: a burst of load then hits both alike.

One short unmeasured run per side warms up first. Two figures per side, medians over every
epoch (train) or every run (wall) of every repeat:
- train s/epoch: the engine's own `EpochEnd.seconds` (the epoch's steps, GPU synchronised);
- wall s/epoch: the whole run (set-up, steps, evaluation, checkpoints) over its epochs.
The ratio app/headless is the overhead; the target is at most 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from data.mnist import Dataset, load_dataset
from mlp_core.config import PRESETS, TrainConfig
from mlp_core.device import describe_device, resolve_device
from mlp_core.events import EpochEnd
from mlp_core.trainer import train


def headless(config: TrainConfig, dataset: Dataset, runs_dir: Path) -> tuple[list[float], float]:
    """Per-epoch training seconds, and wall seconds per epoch."""
    started = time.perf_counter()
    seconds = [
        e.seconds for e in train(config, dataset, runs_dir=runs_dir) if isinstance(e, EpochEnd)
    ]
    return seconds, (time.perf_counter() - started) / config.epochs


def in_app(config: TrainConfig, dataset: Dataset, runs_dir: Path) -> tuple[list[float], float]:
    """The same run started from the app (headless Textual, real worker and widgets)."""
    from tui.app import MnistApp
    from tui.widgets.config_form import ConfigForm

    async def scenario() -> tuple[list[float], float]:
        app = MnistApp(runs_dir, dataset=dataset, device=config.device)
        async with app.run_test(size=(160, 48)) as pilot:
            while app.backend is None:
                await pilot.pause(0.05)
            app.query_one(ConfigForm).fill(config)
            await pilot.pause(0.2)
            started = time.perf_counter()
            await pilot.press("ctrl+r")
            while app.is_training or not app.history:
                await asyncio.sleep(0.05)
            wall = (time.perf_counter() - started) / config.epochs
            await pilot.pause(0.2)
            assert app.run_state == "finished", app.run_state
            return [row["seconds"] for row in app.history], wall

    return asyncio.run(scenario())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (default 2)")
    parser.add_argument("--subset", type=int, help="use the first N training images")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args()

    dataset = load_dataset()
    if args.subset:
        dataset = dataclasses.replace(
            dataset,
            train_images=dataset.train_images[: args.subset],
            train_labels=dataset.train_labels[: args.subset],
        )
    val_split = min(PRESETS["default"].val_split, len(dataset.train_labels) // 4)
    config = dataclasses.replace(
        PRESETS["default"], epochs=args.epochs, device=args.device, val_split=val_split
    )
    device = describe_device(resolve_device(args.device))
    print(f"default preset ({config.summary()}), {args.epochs} epochs x {args.repeats} per side")
    print(
        f"data: {len(dataset.train_labels) - val_split} train / {val_split} val images; "
        f"device: {device}; torch {torch.__version__}; {platform.processor() or platform.machine()}"
    )
    results: dict[str, tuple[list[float], list[float]]] = {"headless": ([], []), "app": ([], [])}
    sides = {"headless": headless, "app": in_app}
    with tempfile.TemporaryDirectory(prefix="app-overhead-") as tmp:
        # Warm-up, not counted: first-call costs (allocator, kernels, imports) hit one side only.
        warm = dataclasses.replace(
            dataset,
            train_images=dataset.train_images[:3000],
            train_labels=dataset.train_labels[:3000],
        )
        warm_config = dataclasses.replace(config, epochs=1, val_split=500)
        for side in sides.values():
            side(warm_config, warm, Path(tmp) / "warm-up")
        for repeat in range(args.repeats):
            order = ["headless", "app"] if repeat % 2 == 0 else ["app", "headless"]
            for side in order:
                seconds, wall = sides[side](config, dataset, Path(tmp) / side)
                results[side][0].extend(seconds)
                results[side][1].append(wall)
                epochs = " ".join(f"{s:.2f}" for s in seconds)
                print(
                    f"  repeat {repeat + 1} {side:>8}: epochs {epochs} s; wall {wall:.2f} s/epoch"
                )
    train_h, wall_h = (statistics.median(v) for v in results["headless"])
    train_a, wall_a = (statistics.median(v) for v in results["app"])
    print(f"{'':>10} {'train s/epoch':>14} {'wall s/epoch':>13}")
    print(f"{'headless':>10} {train_h:>14.3f} {wall_h:>13.3f}")
    print(f"{'app':>10} {train_a:>14.3f} {wall_a:>13.3f}")
    print(
        f"{'app/head':>10} {train_a / train_h:>13.3f}x {wall_a / wall_h:>12.3f}x  (target <= 1.10x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
