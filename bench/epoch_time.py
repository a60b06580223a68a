"""Time one training epoch: our hand-written engine against the PyTorch idiom, in each precision.

    .venv/bin/python bench/epoch_time.py --threads 1     # CPU, one thread: steadier when shared
    .venv/bin/python bench/epoch_time.py --subset 6000   # quick: the first 6,000 images
    .venv/bin/python bench/epoch_time.py --device cuda   # the GPU (bench/gpu_check.sh runs it)
    .venv/bin/python bench/epoch_time.py --init normal   # the lab's N(0, 1) init (see README)

Both sides train the lab's network (784 -> h -> 10, ReLU, plain SGD, lr 0.01) with He init
(--init) on the bundled MNIST training images, at (h=128, batch 64), (h=1024, batch 16) and the
default preset's shape (h=1024, batch 128). The sides:

- ours fp32 / bf16 / tf32 (CUDA): the trainer's own epoch loop (`mlp_core.trainer._train_epoch`,
  which calls `_step`), so this measures the product, not a copy: one permutation per epoch,
  index gathers from a device-resident split, `MLP.loss_and_backward` (bf16: its products in
  bfloat16, see mlp_core/precision.py; on CUDA through the captured graph), the optimizer.
- idiom fp32: `nn.Sequential(Linear, ReLU, Linear)` + `nn.CrossEntropyLoss` + autograd +
  `torch.optim.SGD` + `DataLoader(TensorDataset(...), batch_size, shuffle=True)`.
- idiom autocast: the same under `torch.autocast(device, dtype=torch.bfloat16)`, what a careful
  user of the idiom does for bf16.

All sides alternate within one run (each round runs every side once), because the machine may
be shared: a burst of load then hits every side alike. On the CPU each shape also gets a
compute floor: the epoch's float32 matmul FLOPs over the throughput `torch.mm` reaches at the
batch's shapes in a tight loop.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

import torch
from machine import cpu_model  # bench/machine.py: scripts run from bench/ on sys.path
from torch import nn

from data.loader import Split, Splits, background, make_splits, num_batches
from data.mnist import load_dataset
from mlp_core.config import PRESETS, TrainConfig
from mlp_core.device import synchronize
from mlp_core.model import INPUT_SIZE, MLP, NUM_CLASSES
from mlp_core.optim import Optimizer, can_fold, make_optimizer
from mlp_core.precision import (
    apply_matmul_precision,
    compute_dtype,
    cpu_bf16_flags,
    precision_problem,
)
from mlp_core.trainer import _train_epoch

SHAPES = ((128, 64), (1024, 16), (1024, 128))
OPTIMIZER_WORDS = {
    "plain": "plain SGD",
    "default": "SGD with the default preset's Nesterov momentum 0.9 and weight decay 5e-4",
}
#: The default preset's shape, where the targets apply.
DEFAULT_SHAPE = (PRESETS["default"].hidden, PRESETS["default"].batch_size)
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
    fold_updates: bool = False
    epoch_started: float = 0.0
    train_loss: float = math.nan
    train_rate: float = 0.0


class Ours:
    """Our engine, one run kept across the timed epochs (as a real run: a CUDA graph is
    captured once, in the warm-up epoch)."""

    def __init__(self, config: TrainConfig, train: Split, device: torch.device) -> None:
        model = MLP.create(config.hidden, config.init, torch.Generator().manual_seed(SEED), device)
        model.compute_dtype = compute_dtype(config.precision)
        model.blank_input = background(config.standardize) if device.type == "cpu" else None
        self.precision, self.device = config.precision, device
        self.run = _BenchRun(
            config=config,
            splits=Splits(train=train, val=None, test=train),
            order_rng=torch.Generator().manual_seed(SEED + 1),
            device=device,
            steps_per_epoch=num_batches(len(train), config.batch_size),
            model=model,
            optimizer=make_optimizer(config, model.named_parameters()),
        )
        self.run.fold_updates = can_fold(self.run.optimizer, model)  # as trainer._Run does

    def epoch(self) -> tuple[float, float]:
        """(seconds, mean train loss) of one epoch through the trainer's own loop."""
        apply_matmul_precision(self.precision, self.device)
        synchronize(self.device)
        started = time.perf_counter()
        # progress_interval=inf: no Progress event, hence no host sync until the epoch's end.
        for _event in _train_epoch(self.run, 1, lambda: False, math.inf):  # type: ignore[arg-type]
            pass
        synchronize(self.device)
        return time.perf_counter() - started, self.run.train_loss


# -- the PyTorch idiom ----------------------------------------------------------------------


class Idiom:
    """The epoch written the way the PyTorch tutorials do, optionally under autocast(bf16).

    The data set stays on the CPU and each batch moves to the device (pinned, non-blocking),
    as the tutorials do; `loss.item()` every step keeps the running loss.
    """

    def __init__(
        self, config: TrainConfig, train: Split, device: torch.device, autocast: bool
    ) -> None:
        ours = MLP.create(
            config.hidden, config.init, torch.Generator().manual_seed(SEED), torch.device("cpu")
        )
        self.net = nn.Sequential(
            nn.Linear(INPUT_SIZE, config.hidden), nn.ReLU(), nn.Linear(config.hidden, NUM_CLASSES)
        )
        with torch.no_grad():  # the same starting weights as ours
            for p, (_, q, _) in zip(self.net.parameters(), ours.named_parameters(), strict=True):
                p.copy_(q)
        self.net.to(device)
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(train.images.cpu(), train.labels.cpu()),
            batch_size=config.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(SEED + 1),
            pin_memory=device.type == "cuda",
        )
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(
            self.net.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
        self.device, self.autocast = device, autocast

    def epoch(self) -> tuple[float, float]:
        """(seconds, mean train loss) of one epoch."""
        apply_matmul_precision("fp32", self.device)
        running_loss = 0.0
        synchronize(self.device)
        started = time.perf_counter()
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            self.optimizer.zero_grad()
            with self._autocast():
                loss = self.criterion(self.net(x), y)
            loss.backward()
            self.optimizer.step()
            running_loss += loss.item()
        synchronize(self.device)
        return time.perf_counter() - started, running_loss / len(self.loader)

    def _autocast(self) -> AbstractContextManager[object]:
        if self.autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()


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


IDIOM_FP32, IDIOM_AUTOCAST = "idiom fp32", "idiom autocast"


def available_sides(device: torch.device) -> list[str]:
    """Every side this device can run: ours in each precision it supports, then the idiom's."""
    ours = [f"ours {p}" for p in ("fp32", "tf32", "bf16") if precision_problem(p, device) is None]
    idiom = [IDIOM_FP32]
    if device.type == "cpu" or torch.cuda.is_bf16_supported():
        idiom.append(IDIOM_AUTOCAST)
    return ours + idiom


def make_side(name: str, config: TrainConfig, train: Split, device: torch.device) -> Ours | Idiom:
    kind, _, precision = name.partition(" ")
    if kind == "ours":
        return Ours(replace(config, precision=precision), train, device)
    return Idiom(config, train, device, autocast=precision == "autocast")


@dataclass
class ShapeResult:
    hidden: int
    batch: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    floor: list[float] = field(default_factory=list)


def bench_config(hidden: int, batch: int, init: str, optimizer: str) -> TrainConfig:
    """The lab's settings at this shape; optimizer "default": the default preset's SGD
    (Nesterov momentum 0.9, weight decay 5e-4) on both sides, at the lab's constant lr."""
    config = replace(PRESETS["lab"], hidden=hidden, batch_size=batch, init=init, device="cpu")
    if optimizer == "default":
        preset = PRESETS["default"]
        config = replace(
            config,
            momentum=preset.momentum,
            nesterov=preset.nesterov,
            weight_decay=preset.weight_decay,
        )
    return config


def bench_shape(
    shape: tuple[int, int],
    train: Split,
    sides: list[str],
    repeats: int,
    init: str,
    optimizer: str = "plain",
) -> ShapeResult:
    """Every side `repeats` times, alternating: each round runs every side once."""
    hidden, batch = shape
    device = train.images.device
    config = bench_config(hidden, batch, init, optimizer)
    runners = {name: make_side(name, config, train, device) for name in sides}
    for name in sides:  # warm up every code path (on CUDA: capture the graph, init cuBLAS)
        warm = train if device.type == "cuda" else replace_subset(train, 4 * batch)
        (runners[name] if device.type == "cuda" else make_side(name, config, warm, device)).epoch()
    result = ShapeResult(hidden, batch, {name: [] for name in sides})
    for _ in range(repeats):
        for name in sides:
            seconds, result.losses[name] = runners[name].epoch()
            result.seconds[name].append(seconds)
        if device.type == "cpu":
            per_image = matmul_seconds_per_batch(hidden, batch) / batch
            result.floor.append(per_image * len(train))
    return result


def replace_subset(split: Split, n: int) -> Split:
    """The first n images of `split` (views, no copy)."""
    return Split(images=split.images[:n], labels=split.labels[:n])


def _ratio(result: ShapeResult, side: str, against: str) -> float | None:
    if side not in result.seconds or against not in result.seconds:
        return None
    return statistics.median(result.seconds[side]) / statistics.median(result.seconds[against])


def print_report(results: list[ShapeResult], n: int, repeats: int, device: torch.device) -> None:
    header = (
        f"{'shape':<18}{'side':<16}{'median s':>10}{'best s':>9}{'/ idiom fp32':>14}"
        f"{'/ autocast':>12}{'/ floor':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        floor = statistics.median(r.floor) if r.floor else None
        for name, runs in r.seconds.items():
            median = statistics.median(runs)
            cells = [_ratio(r, name, IDIOM_FP32), _ratio(r, name, IDIOM_AUTOCAST)]
            cells.append(median / floor if floor and name == "ours fp32" else None)
            text = "".join(
                f"{f'{c:.2f}x' if c is not None else '-':>{w}}"
                for c, w in zip(cells, (14, 12, 9), strict=True)
            )
            print(
                f"{f'h={r.hidden} batch {r.batch}':<18}{name:<16}{median:>10.3f}"
                f"{min(runs):>9.3f}{text}"
            )
        print()
    for r in results:
        runs = " | ".join(
            f"{name} " + " ".join(f"{t:.3f}" for t in times) for name, times in r.seconds.items()
        )
        floor = (" | floor " + " ".join(f"{t:.3f}" for t in r.floor)) if r.floor else ""
        losses = ", ".join(f"{name} {loss:.4f}" for name, loss in r.losses.items())
        print(f"h={r.hidden} batch {r.batch}: {runs}{floor}")
        print(f"  mean train loss of the last epoch: {losses}")
    print(
        f"\nmedian and best of {repeats} rounds, every side once a round; floor = epoch float32 "
        "matmul FLOPs / torch.mm throughput at the batch's shapes"
    )
    print_targets(results, device)


def print_targets(results: list[ShapeResult], device: torch.device) -> None:
    """Each target of issues 2 and 12 against the medians, met or missed; and the ratio
    within each round, the two sides' epochs back to back, which a shared machine's bursts of
    load shift less than they shift the medians of sides timed minutes apart."""
    by_shape = {(r.hidden, r.batch): r for r in results}
    targets = [
        ((128, 64), "ours fp32", IDIOM_FP32, 0.60),
        (DEFAULT_SHAPE, "ours fp32", IDIOM_FP32, 0.30 if device.type == "cuda" else 0.80),
        (DEFAULT_SHAPE, "ours bf16", IDIOM_FP32, 0.50),
        (DEFAULT_SHAPE, "ours bf16", IDIOM_AUTOCAST, 0.80),
    ]
    print("targets (medians):")
    for shape, side, against, limit in targets:
        result = by_shape.get(shape)
        ratio = _ratio(result, side, against) if result else None
        where = f"h={shape[0]} batch {shape[1]}"
        if ratio is None:
            print(f"  {where}: {side} / {against} <= {limit:.2f}x: not measured")
            continue
        verdict = "met" if ratio <= limit else "MISSED"
        print(f"  {where}: {side} / {against} = {ratio:.2f}x (target <= {limit:.2f}x): {verdict}")
        paired = [a / b for a, b in zip(result.seconds[side], result.seconds[against], strict=True)]
        print(
            f"    the same within each round: median {statistics.median(paired):.2f}x, "
            f"{min(paired):.2f}-{max(paired):.2f}x (both sides ran back to back: a burst of "
            "load hits the pair)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per side and shape")
    parser.add_argument(
        "--subset", type=int, default=0, help="train on the first N images only (0: all 60,000)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--init",
        default="he",
        choices=("he", "xavier", "normal"),
        help="weight initialisation, every side (default: he; normal is the lab's N(0, 1))",
    )
    parser.add_argument(
        "--shapes",
        default=",".join(f"{h}x{b}" for h, b in SHAPES),
        help="comma-separated HIDDENxBATCH pairs (default: %(default)s)",
    )
    parser.add_argument(
        "--optimizer",
        default="plain",
        choices=("plain", "default"),
        help="plain SGD, the lab's (default), or the default preset's Nesterov momentum 0.9 "
        "and weight decay 5e-4, on every side",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument(
        "--sides",
        default="",
        help="comma-separated sides to run (default: every one the device supports)",
    )
    return parser.parse_args(argv)


def describe_machine(device: torch.device) -> str:
    """The first line of the output: CPU (and its native bf16 features), GPU, versions."""
    flags = cpu_bf16_flags()
    bf16 = (
        f"native bf16: {', '.join(flags)}"
        if flags
        else "no native bf16 (no avx512_bf16 or amx_bf16): bf16 gains little here"
    )
    line = f"machine: {cpu_model()}, {os.cpu_count()} cores, {bf16}"
    if device.type == "cuda":
        line += f"; GPU {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    return (
        f"{line}\npython {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    sides = available_sides(device)
    if args.sides:
        sides = [name for name in args.sides.split(",") if name in sides]
    dataset = load_dataset()
    lab = PRESETS["lab"]
    train = make_splits(dataset, 0, lab.seed, lab.standardize, device).train
    if args.subset:
        train = replace_subset(train, args.subset)
    print(describe_machine(device))
    print(
        f"one epoch of {len(train):,} MNIST images on {device}, lab settings ({args.init} init, "
        f"{OPTIMIZER_WORDS[args.optimizer]}, lr {lab.lr:g}), {args.repeats} rounds; "
        f"sides: {', '.join(sides)}"
    )
    print(f"load average before: {_load()}\n")
    results = [
        bench_shape(shape, train, sides, args.repeats, args.init, args.optimizer)
        for shape in shapes
    ]
    print_report(results, len(train), args.repeats, device)
    print(f"load average after: {_load()} (the machine may be shared: see the spread of the runs)")


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
