"""What watching costs: seconds per epoch inside the app against `train()` headless.

    .venv/bin/python bench/app_overhead.py                          # full MNIST, 3 epochs x 2
    .venv/bin/python bench/app_overhead.py --subset 20000 --epochs 2   # a couple of minutes

Both sides train the `default` preset on the bundled MNIST (or its first `--subset` training
images; the 5,000-image validation split is kept): headless, the way `mnist-tui train` does
(iterate `train()` in the main thread), and inside the app run headless with Textual's
`run_test` (the real thread worker posting messages, charts, table, progress bar and panel
redrawn as in use). Each run is its own process, as in use (a second OpenMP team in one process
would slow the other side, see `tui.worker.run_in_torch_thread`), and starts with a short
unmeasured warm-up run. Sides alternate (headless, app, app, headless, ...) because the machine
may be shared: a burst of load then hits both alike.

Two figures per side, medians over every epoch (train) or every run (wall) of every repeat:
- train s/epoch: the engine's own `EpochEnd.seconds` (the epoch's steps, GPU synchronised);
- wall s/epoch: the whole run (set-up, steps, evaluation, checkpoints) over its epochs.
The ratio app/headless is the overhead; the target is at most 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import statistics
import subprocess
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


def one_side(side: str, epochs: int, subset: int | None, device: str) -> None:
    """In a child process: warm up, run once, print the figures as JSON."""
    dataset = load_dataset()
    if subset:
        dataset = dataclasses.replace(
            dataset,
            train_images=dataset.train_images[:subset],
            train_labels=dataset.train_labels[:subset],
        )
    val_split = min(PRESETS["default"].val_split, len(dataset.train_labels) // 4)
    config = dataclasses.replace(
        PRESETS["default"], epochs=epochs, device=device, val_split=val_split
    )
    run = {"headless": headless, "app": in_app}[side]
    with tempfile.TemporaryDirectory(prefix="app-overhead-") as tmp:
        # Warm-up, not counted: first-call costs (allocator, kernels) would hit one side only.
        warm = dataclasses.replace(
            dataset,
            train_images=dataset.train_images[:3000],
            train_labels=dataset.train_labels[:3000],
        )
        run(dataclasses.replace(config, epochs=1, val_split=500), warm, Path(tmp) / "warm-up")
        seconds, wall = run(config, dataset, Path(tmp) / "runs")
    print(
        json.dumps(
            {"seconds": seconds, "wall": wall, "train": len(dataset.train_labels) - val_split}
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (default 2)")
    parser.add_argument("--subset", type=int, help="use the first N training images")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--side", choices=("headless", "app"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        one_side(args.side, args.epochs, args.subset, args.device)
        return 0

    device = describe_device(resolve_device(args.device))
    summary = dataclasses.replace(PRESETS["default"], epochs=args.epochs).summary()
    print(f"default preset ({summary}), {args.epochs} epochs x {args.repeats} runs per side")
    print(
        f"device: {device}; torch {torch.__version__}; {platform.processor() or platform.machine()}"
        f"; subset: {args.subset or 'all'}"
    )
    results: dict[str, tuple[list[float], list[float]]] = {"headless": ([], []), "app": ([], [])}
    for repeat in range(args.repeats):
        order = ["headless", "app"] if repeat % 2 == 0 else ["app", "headless"]
        for side in order:
            command = [sys.executable, __file__, "--side", side, "--epochs", str(args.epochs)]
            command += ["--device", args.device] + (
                ["--subset", str(args.subset)] if args.subset else []
            )
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            figures = json.loads(output.strip().splitlines()[-1])
            results[side][0].extend(figures["seconds"])
            results[side][1].append(figures["wall"])
            epochs = " ".join(f"{s:.2f}" for s in figures["seconds"])
            wall = figures["wall"]
            print(f"  repeat {repeat + 1} {side:>8}: epochs {epochs} s; wall {wall:.2f} s/epoch")
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
