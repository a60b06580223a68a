"""A search with and without pruning: trials, pruned, best trial, wall time.

    .venv/bin/python bench/search_pruning.py --trials 20 --epochs 3

Runs `mnist-tui search` twice over the same space (lr 1e-3..0.3 log, hidden 64..1024 log,
batch size 64,128,256) on MNIST, first with the median pruner (Optuna's defaults: 5 startup
trials, no warm-up), then --no-prune, each in a fresh runs folder, and prints what each study
holds. Same sampler seed, so the first trials match; once pruning changes what TPE sees, the
rest differ. `--subset N` trains on the first N training images (validation 2,000 of them),
tested on the whole 10,000-image test set, to keep a 20-trial search to minutes on a CPU.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def subset_dir(folder: Path, size: int) -> Path:
    """The first `size` training images of the bundled MNIST (all test images), as IDX."""
    from data.mnist import LAYOUT, load_dataset, write_idx

    full = load_dataset(None)
    arrays = {
        "train_images": full.train_images[:size].reshape(-1, 28, 28),
        "train_labels": full.train_labels[:size],
        "test_images": full.test_images.reshape(-1, 28, 28),
        "test_labels": full.test_labels,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for role, (stem, _magic) in LAYOUT.items():
        write_idx(folder / f"{stem}.gz", arrays[role], gzip_it=True)
    return folder


def one_search(runs_dir: Path, trials: int, epochs: int, prune: bool, data: Path | None) -> dict:
    command = [
        sys.executable, "-m", "tui.cli", "search",
        "--lr", "1e-3..0.3:log", "--hidden", "64..1024:log", "--batch-size", "64,128,256",
        "--epochs", str(epochs), "--trials", str(trials), "--runs-dir", str(runs_dir),
    ]
    if data is not None:
        command += ["--data-dir", str(data), "--val-split", "2000"]
    if not prune:
        command.append("--no-prune")
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    (folder,) = list((runs_dir / "sweeps").iterdir())
    with (folder / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    complete = [r for r in rows if r["state"] == "complete"]
    best = max(complete, key=lambda r: float(r["best_val_acc_%"]))
    return {
        "wall": wall,
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "complete": len(complete),
        "epochs": sum(int(r["epochs"] or 0) for r in rows),
        "best": best,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=int, default=0, help="training images (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_tmp:
        data = subset_dir(Path(data_tmp), args.subset) if args.subset else None
        for prune in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                result = one_search(Path(tmp), args.trials, args.epochs, prune, data)
            report(args, prune, result)


def report(args: argparse.Namespace, prune: bool, result: dict) -> None:
    best = result["best"]
    print(
        f"{'pruning' if prune else 'no pruning'}: {args.trials} trials in "
        f"{result['wall']:.0f} s, {result['pruned']} pruned, {result['epochs']} epochs "
        f"trained; best trial {best['trial']} (lr {best['lr']}, hidden {best['hidden']}, "
        f"batch {best['batch_size']}): val {best['best_val_acc_%']}%, "
        f"test {best['test_acc_at_best_%']}%",
        flush=True,
    )


if __name__ == "__main__":
    main()
