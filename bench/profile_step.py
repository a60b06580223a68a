"""Where one training step's time goes: torch.profiler over steps of our engine.

    .venv/bin/python bench/profile_step.py                      # default preset, fp32
    .venv/bin/python bench/profile_step.py --precision bf16     # its products in bf16
    .venv/bin/python bench/profile_step.py --preset lab --hidden 1024 --batch 128

Steps on the bundled MNIST's training images, as the trainer sees them (standardised when the
preset is, the first layer skipping the batch's blank pixels: their share sets the products'
cost), one torch thread unless --threads: the gathers, the products, the casts, the
elementwise kernels and the optimizer's update, each aten op's self time per step.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace

import torch
from machine import cpu_model  # bench/machine.py: scripts run from bench/ on sys.path
from torch.profiler import ProfilerActivity, profile

from data.loader import background, make_splits
from data.mnist import load_dataset
from mlp_core.config import PRESETS
from mlp_core.model import MLP
from mlp_core.optim import SGD, can_fold, make_optimizer
from mlp_core.precision import compute_dtype, cpu_bf16_flags
from mlp_core.trainer import FOLDED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--hidden", type=int, default=0, help="0: the preset's")
    parser.add_argument("--batch", type=int, default=0, help="0: the preset's")
    parser.add_argument("--steps", type=int, default=50, help="profiled steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = PRESETS[args.preset]
    config = replace(
        config,
        hidden=args.hidden or config.hidden,
        batch_size=args.batch or config.batch_size,
        precision=args.precision,
    )
    gen = torch.Generator().manual_seed(0)
    model = MLP.create(config.hidden, config.init, gen, torch.device("cpu"))
    model.compute_dtype = compute_dtype(config.precision)
    model.blank_input = background(config.standardize)  # as the trainer's CPU runs
    optimizer = make_optimizer(config, model.named_parameters())
    train = make_splits(load_dataset(None), 0, 0, config.standardize, torch.device("cpu")).train
    images, labels = train.images, train.labels
    # Full batches, each in turn (the last, partial one left out).
    order = torch.randperm(len(labels), generator=gen).split(config.batch_size)
    batches = itertools.cycle(order[:-1])

    fold = can_fold(optimizer, model)  # as the trainer's step: updates folded where it can

    def step() -> None:
        index = next(batches)
        x, y = images.index_select(0, index), labels.index_select(0, index)
        if fold and isinstance(optimizer, SGD):
            folds = {name: optimizer.fold(name, config.lr) for name in FOLDED}
            model.loss_and_backward(x, y, folds, keep_gradients=False)
            optimizer.step(config.lr, folded=FOLDED)
        else:
            model.loss_and_backward(x, y)
            optimizer.step(config.lr)

    for _ in range(30):
        step()
    started = time.perf_counter()
    for _ in range(200):
        step()
    per_step = (time.perf_counter() - started) / 200
    print(f"{cpu_model()}; native bf16: {', '.join(cpu_bf16_flags()) or 'none'}")
    print(
        f"{args.preset} preset, h={config.hidden}, batch {config.batch_size}, "
        f"{config.precision}, {args.threads} thread(s): {per_step * 1e6:.0f} us a step"
    )
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    print(f"aten ops over {args.steps} steps (self time; divide by {args.steps} for a step):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16))


if __name__ == "__main__":
    main()
