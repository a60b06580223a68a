"""`mnist-tui gradcheck [CHECKPOINT] [--hidden N]`: check every hand-written gradient.

    mnist-tui gradcheck                       # a fresh He-initialised network, h=64
    mnist-tui gradcheck runs/<run>/checkpoints/best.safetensors

Compares fc1's and fc2's weight and bias gradients with central finite differences in float64
and with autograd (the oracle, in `mlp_core.gradcheck` only) on a small batch of test images,
prepared as the checkpoint's config says, and prints a table. Exit status: 0 every gradient
passes, 1 some gradient fails, 2 bad input (one `mnist-tui: error:` line).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.cli_common import add_common_options, fail

EXIT_OK = 0
EXIT_FAILED = 1
DEFAULT_HIDDEN = 64


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_gradcheck_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `gradcheck` subcommand to `subparsers` (from `parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "gradcheck",
        help="check the hand-written gradients against finite differences and autograd",
        description="Compare every hand-written gradient (fc1, fc2 weight and bias) with "
        "central finite differences in float64 and with autograd, on a small batch.",
    )
    parser.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        default=None,
        metavar="CHECKPOINT",
        help="weights to check at (default: a fresh network)",
    )
    parser.add_argument(
        "--hidden",
        type=_positive,
        default=None,
        help=f"hidden units of a fresh network (without CHECKPOINT; default {DEFAULT_HIDDEN})",
    )
    parser.add_argument("--batch", type=_positive, default=8, help="images in the batch (8)")
    parser.add_argument(
        "--entries",
        type=_positive,
        default=64,
        help="entries per parameter checked by finite differences (64; autograd checks them all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and entries drawn (0)")
    add_common_options(parser)
    return parser


def run_gradcheck_command(args: argparse.Namespace) -> int:
    """Load the weights and a batch, run the check, print the table; the exit status."""
    from data.idx import DatasetError
    from mlp_core.checkpoint import CheckpointError
    from mlp_core.gradcheck import check_gradients, report_table

    if args.checkpoint is not None and args.hidden is not None:
        return fail("--hidden is for a fresh network; a checkpoint has its own size")
    try:
        state, standardize, source = _weights(args)
        x, labels = _batch(args.data_dir, args.batch, standardize)
    except (CheckpointError, DatasetError) as exc:
        return fail(str(exc))
    from data.loader import background

    report = check_gradients(
        state,
        x,
        labels,
        entries_per_parameter=args.entries,
        seed=args.seed,
        source=source,
        blank=background(standardize),
    )
    print(report_table(report), flush=True)
    return EXIT_OK if report.passed else EXIT_FAILED


def _weights(args: argparse.Namespace) -> tuple[dict[str, Any], bool, str]:
    """(state, standardize, description): the checkpoint's, or a fresh network's."""
    from mlp_core.checkpoint import load_checkpoint
    from mlp_core.gradcheck import random_state

    if args.checkpoint is None:
        hidden = args.hidden or DEFAULT_HIDDEN
        return random_state(hidden, args.seed), True, f"a fresh network (seed {args.seed})"
    checkpoint = load_checkpoint(args.checkpoint)
    source = f"{checkpoint.path} (epoch {checkpoint.epoch})"
    return checkpoint.weights(), checkpoint.config.standardize, source


def _batch(data_dir: Path | None, size: int, standardize: bool) -> tuple[Any, Any]:
    """The first `size` test images as the network sees them, and their labels."""
    import numpy as np
    import torch

    from data.loader import to_float
    from data.mnist import load_dataset
    from mlp_core.gradcheck import batch_from_images

    dataset = load_dataset(data_dir)
    images = to_float(dataset.test_images[:size], standardize, torch.device("cpu"))
    labels = torch.from_numpy(dataset.test_labels[:size].astype(np.int64))
    return batch_from_images(images, labels, size)
