"""Time one training epoch on the CPU: our hand-written engine against the PyTorch idiom.

    .venv/bin/python bench/epoch_time.py                 # full epoch, 3 repeats per side
    .venv/bin/python bench/epoch_time.py --subset 6000   # quick: the first 6,000 images
    .venv/bin/python bench/epoch_time.py --threads 1     # steadier on a shared machine

Both sides train the lab's network (784 -> h -> 10, ReLU, N(0, 1) init unless --init, plain SGD,
lr 0.01) on the bundled MNIST training images, at (h=128, batch 64) and (h=1024, batch 16):

- ours: the trainer's own epoch loop (`mlp_core.trainer._train_epoch`, which calls `_step`),
  so this measures the product, not a copy: one permutation per epoch, index gathers from a
  device-resident split, `MLP.loss_and_backward`, the hand-written optimizer's step.
- idiom: `nn.Sequential(Linear, ReLU, Linear)` + `nn.CrossEntropyLoss` + autograd +
  `torch.optim.SGD` + `DataLoader(TensorDataset(...), batch_size, shuffle=True)`.

The two alternate (ours, idiom, ours, idiom, ...) because the machine is shared and noisy: a
burst of load then hits both sides alike. Each shape also gets a compute floor: the epoch's
matmul FLOPs over the throughput `torch.mm` reaches at the batch's shapes in a tight loop, i.e.
what the epoch would cost if nothing but its five matrix products ran.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from machine import cpu_model  # bench/machine.py: scripts run from bench/ on sys.path
from torch import nn

from data.loader import Split, Splits, make_splits, num_batches
from data.mnist import load_dataset
from mlp_core.config import PRESETS, TrainConfig
from mlp_core.model import INPUT_SIZE, MLP, NUM_CLASSES
from mlp_core.optim import Optimizer, make_optimizer
from mlp_core.trainer import _train_epoch

SHAPES = ((128, 64), (1024, 16))
SEED = 0


# -- our engine -----------------------------------------------------------------------------


@dataclass
class _BenchRun:
    """The attributes of trainer._Run that `_train_epoch` and `_step` read and write.

    The real `_Run` also creates a run folder and checkpoints; the epoch loop needs none of it.
    """

    config: TrainConfig
    splits: Splits
    order_rng: torch.Generator
    device: torch.device
    steps_per_epoch: int
    model: MLP
    optimizer: Optimizer
    epoch_started: float = 0.0
    train_loss: float = math.nan
    train_rate: float = 0.0


def time_ours(config: TrainConfig, train: Split) -> tuple[float, float]:
    """(seconds, mean train loss) of one epoch through the trainer's own loop."""
    device = torch.device("cpu")
    model = MLP.create(config.hidden, config.init, torch.Generator().manual_seed(SEED), device)
    run = _BenchRun(
        config=config,
        splits=Splits(train=train, val=None, test=train),
        order_rng=torch.Generator().manual_seed(SEED + 1),
        device=device,
        steps_per_epoch=num_batches(len(train), config.batch_size),
        model=model,
        optimizer=make_optimizer(config, model.named_parameters()),
    )
    started = time.perf_counter()
    # progress_interval=inf: no Progress event, hence no host sync until the epoch's end.
    for _event in _train_epoch(run, 1, lambda: False, math.inf):  # type: ignore[arg-type]
        pass
    return time.perf_counter() - started, run.train_loss


# -- the PyTorch idiom ----------------------------------------------------------------------


def time_idiom(config: TrainConfig, train: Split) -> tuple[float, float]:
    """(seconds, mean train loss) of one epoch written the way the PyTorch tutorials do."""
    ours = MLP.create(
        config.hidden, config.init, torch.Generator().manual_seed(SEED), torch.device("cpu")
    )
    net = nn.Sequential(
        nn.Linear(INPUT_SIZE, config.hidden), nn.ReLU(), nn.Linear(config.hidden, NUM_CLASSES)
    )
    with torch.no_grad():  # the same starting weights as ours
        for p, (_, q, _) in zip(net.parameters(), ours.named_parameters(), strict=True):
            p.copy_(q)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train.images, train.labels),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED + 1),
    )
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr)
    running_loss = 0.0
    started = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return time.perf_counter() - started, running_loss / len(loader)


# -- the compute floor ----------------------------------------------------------------------


def epoch_flops(n: int, hidden: int) -> float:
    """Matmul FLOPs of one epoch over n images (a product (a,b)@(b,c) costs 2abc).

    fc1 forward and dW1: 2·n·784·h each (dx of fc1 is never computed: its input is the data);
    fc2 forward, dW2 and dh: 2·n·h·10 each.
    """
    return 2 * (2 * n * INPUT_SIZE * hidden) + 3 * (2 * n * hidden * NUM_CLASSES)


def matmul_seconds_per_batch(hidden: int, batch: int, min_seconds: float = 0.3) -> float:
    """Seconds for one batch's five products, timed with torch.mm in a loop.

    The batch's shapes, outputs preallocated, so this is the matrix-multiply cost alone. The
    weights are timed in both layouts, row-major (PyTorch's, whose forward is x @ W.t()) and
    column-major (ours: see mlp_core.layers.column_major), and the faster one is the floor.
    """
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(batch, INPUT_SIZE, generator=gen)
    h = torch.rand(batch, hidden, generator=gen)
    g2 = torch.randn(batch, NUM_CLASSES, generator=gen)
    g1 = torch.randn(batch, hidden, generator=gen)
    out_h, out_z, out_dh = (torch.empty(batch, n) for n in (hidden, NUM_CLASSES, hidden))

    def products(w1: torch.Tensor, w2: torch.Tensor) -> Callable[[], None]:
        out_dw1, out_dw2 = torch.empty_like(w1), torch.empty_like(w2)

        def one_batch() -> None:
            torch.mm(x, w1.t(), out=out_h)  # fc1 forward
            torch.mm(g1.t(), x, out=out_dw1)  # dW1
            torch.mm(h, w2.t(), out=out_z)  # fc2 forward
            torch.mm(g2.t(), h, out=out_dw2)  # dW2
            torch.mm(g2, w2, out=out_dh)  # dh

        return one_batch

    w1 = torch.randn(hidden, INPUT_SIZE, generator=gen)
    w2 = torch.randn(NUM_CLASSES, hidden, generator=gen)
    row_major = _per_call(products(w1, w2), min_seconds / 2)
    column_major = _per_call(
        products(w1.t().contiguous().t(), w2.t().contiguous().t()), min_seconds / 2
    )
    return min(row_major, column_major)


def _per_call(fn: Callable[[], None], min_seconds: float) -> float:
    """Median seconds per call of `fn` over 5 timed loops of at least min_seconds / 5 each."""
    for _ in range(20):
        fn()
    loops = 1
    while True:
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - started >= min_seconds / 5:
            break
        loops *= 2
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - started) / loops)
    return statistics.median(samples)


# -- report ---------------------------------------------------------------------------------


@dataclass
class ShapeResult:
    hidden: int
    batch: int
    ours: list[float]
    idiom: list[float]
    floor: list[float]
    ours_loss: float
    idiom_loss: float


def bench_shape(hidden: int, batch: int, train: Split, repeats: int, init: str) -> ShapeResult:
    config = replace(PRESETS["lab"], hidden=hidden, batch_size=batch, init=init, device="cpu")
    time_ours(config, replace_subset(train, 4 * batch))  # warm up both code paths
    time_idiom(config, replace_subset(train, 4 * batch))
    result = ShapeResult(hidden, batch, [], [], [], math.nan, math.nan)
    for _ in range(repeats):
        seconds, result.ours_loss = time_ours(config, train)
        result.ours.append(seconds)
        seconds, result.idiom_loss = time_idiom(config, train)
        result.idiom.append(seconds)
        per_image = matmul_seconds_per_batch(hidden, batch) / batch
        result.floor.append(per_image * len(train))
    return result


def replace_subset(split: Split, n: int) -> Split:
    """The first n images of `split` (views, no copy)."""
    return Split(images=split.images[:n], labels=split.labels[:n])


def print_report(results: list[ShapeResult], n: int, repeats: int) -> None:
    header = (
        f"{'shape':<18}{'':<8}{'ours s':>9}{'idiom s':>9}{'ours/idiom':>12}"
        f"{'floor s':>9}{'ours/floor':>12}{'mm GFLOP/s':>12}"
    )
    print(header)
    print("-" * len(header))
    # The median is the figure asked for; the best run shows the cost without other users'
    # load (on a shared machine a descheduled thread can stretch one run many times over).
    for label, pick in (("median", statistics.median), ("best", min)):
        for r in results:
            ours, idiom, floor = (pick(v) for v in (r.ours, r.idiom, r.floor))
            gflops = epoch_flops(n, r.hidden) / floor / 1e9
            print(
                f"{f'h={r.hidden} batch {r.batch}':<18}{label:<8}{ours:>9.3f}{idiom:>9.3f}"
                f"{ours / idiom:>11.2f}x{floor:>9.3f}{ours / floor:>11.2f}x{gflops:>12.1f}"
            )
    print()
    for r in results:
        print(
            f"h={r.hidden} batch {r.batch}: ours "
            + " ".join(f"{t:.3f}" for t in r.ours)
            + " | idiom "
            + " ".join(f"{t:.3f}" for t in r.idiom)
            + " | floor "
            + " ".join(f"{t:.3f}" for t in r.floor)
            + f" | mean train loss ours {r.ours_loss:.4f}, idiom {r.idiom_loss:.4f}"
        )
    print()
    print(
        f"median and best of {repeats} alternating runs; floor = epoch matmul FLOPs / torch.mm "
        "throughput at the batch's shapes"
    )
    print("targets: ours/idiom <= 0.60 at h=128 batch 64; ours/floor <= 2.0")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per side and shape")
    parser.add_argument(
        "--subset", type=int, default=0, help="train on the first N images only (0: all 60,000)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--init",
        default="normal",
        choices=("normal", "he", "xavier"),
        help="weight initialisation, both sides (default: the lab's N(0, 1))",
    )
    parser.add_argument(
        "--shapes",
        default=",".join(f"{h}x{b}" for h, b in SHAPES),
        help="comma-separated HIDDENxBATCH pairs (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    dataset = load_dataset()
    lab = PRESETS["lab"]
    train = make_splits(dataset, 0, lab.seed, lab.standardize, torch.device("cpu")).train
    if args.subset:
        train = replace_subset(train, args.subset)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"one epoch of {len(train):,} MNIST images on the CPU, lab settings ({args.init} init, "
        f"plain SGD, lr {lab.lr:g}), {args.repeats} repeats, ours and idiom alternating"
    )
    print(f"load average before: {_load()}\n")
    results = [bench_shape(h, b, train, args.repeats, args.init) for h, b in shapes]
    print_report(results, len(train), args.repeats)
    print(f"load average after: {_load()} (the machine is shared: see the spread of the runs)")


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
