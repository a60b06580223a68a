"""Reproduce the lab's hyperparameter table, with its settings and again with our defaults.

    .venv/bin/python bench/lab_table.py                       # all eight rows, full epochs
    .venv/bin/python bench/lab_table.py --rows 1,2 --max-epochs 1 --subset 6000 \\
        --out /tmp/lab_table-quick.md                         # a quick check that it works

The lab trained 784 -> h -> 10 from N(0, 1) weights and biases with plain SGD, pixels in
[0, 1] and no validation split, and reported the test accuracy after the last epoch. Each row
runs twice as ordinary runs of `train()`, one after another in this process (so that
`--threads` and `--subset` apply; the queue's run processes would load the whole data set):

- lab settings: the `lab` preset with the row's hidden, lr, batch and epochs;
- our defaults: the `default` preset (He init, Nesterov momentum 0.9, weight decay 5e-4, cosine
  schedule, standardised pixels, 5,000 images held out for validation) with the row's hidden,
  lr, batch and epochs; reported at the best-validation epoch and after the last one.

The table (lab figure, ours, the difference, the time each took, the machine) is rewritten
after every job, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import torch
from machine import cpu_model  # bench/machine.py: scripts run from bench/ on sys.path

from data.mnist import Dataset, load_dataset
from mlp_core.config import TrainConfig, preset
from mlp_core.device import describe_device, resolve_device
from mlp_core.events import Diverged, EpochEnd, Finished
from mlp_core.trainer import train

#: (hidden, lr, batch, epochs, the lab's test accuracy in %), as the lab reported them.
LAB_ROWS = (
    (128, 0.01, 64, 30, 90.3),
    (256, 0.01, 64, 30, 92.8),
    (512, 0.01, 64, 30, 93.7),
    (512, 0.001, 32, 30, 91.3),
    (512, 0.02, 32, 20, 95.1),
    (512, 0.05, 16, 20, 95.7),
    (1024, 0.01, 128, 30, 93.8),
    (1024, 0.1, 16, 20, 96.5),
)
SETTINGS = ("lab", "default")
#: A row is "reproduced" when ours with the lab's settings is this close to the lab's figure.
TOLERANCE_POINTS = 1.0
DEFAULT_OUT = Path(__file__).parent / "results" / "lab_table.md"


@dataclass
class Entry:
    """One row of the lab's table, run with one kind of settings."""

    row: int
    settings: str
    config: TrainConfig
    job_id: int = 0


@dataclass
class Job:
    """What one entry's run came to (the figures the table shows)."""

    id: int
    state: str = "waiting"
    epochs_done: int = 0
    seconds: float = 0.0
    final_test_accuracy: float | None = None
    test_accuracy_at_best: float | None = None


def run_job(job: Job, config: TrainConfig, dataset: Dataset, runs_dir: Path) -> int | None:
    """Train one entry, filling `job`; returns its best epoch (None when none)."""
    started, best_epoch = time.perf_counter(), None
    job.state = "running"
    try:
        for event in train(config, dataset, runs_dir=runs_dir):
            if isinstance(event, EpochEnd):
                job.epochs_done, job.final_test_accuracy = event.epoch, event.test_accuracy
                if event.is_best:
                    best_epoch, job.test_accuracy_at_best = event.epoch, event.test_accuracy
            elif isinstance(event, Finished):
                job.state = "done" if event.status == "finished" else "cancelled"
            elif isinstance(event, Diverged):
                job.state = "diverged"
    except Exception as exc:  # one failed row must not end the table
        job.state = "failed"
        print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    job.seconds = time.perf_counter() - started
    return best_epoch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=None, help="rows to run, 1-8, e.g. 1,2,8 (default all)")
    parser.add_argument(
        "--settings", default="lab,default", help="lab, default or both (default: lab,default)"
    )
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiply each row's epochs"
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="cap each row's epochs")
    parser.add_argument(
        "--subset", type=int, default=None, help="train on the first N images only (quick check)"
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); 1 keeps timings steady on a shared machine",
    )
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="keep the runs here (default: a temp folder)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    return parser.parse_args(argv)


def selected_rows(text: str | None) -> list[int]:
    if not text:
        return list(range(1, len(LAB_ROWS) + 1))
    rows = [int(part) for part in text.split(",")]
    if any(not 1 <= row <= len(LAB_ROWS) for row in rows):
        raise SystemExit(f"--rows: each row must be in 1..{len(LAB_ROWS)}")
    return rows


def row_epochs(epochs: int, args: argparse.Namespace) -> int:
    scaled = max(1, round(epochs * args.epochs_scale))
    return min(scaled, args.max_epochs) if args.max_epochs else scaled


def build_entries(args: argparse.Namespace, train_size: int) -> list[Entry]:
    """Each chosen row under each chosen settings, row by row (so a partial table compares)."""
    settings = [s.strip() for s in args.settings.split(",")]
    if any(s not in SETTINGS for s in settings):
        raise SystemExit(f"--settings: each must be one of {', '.join(SETTINGS)}")
    val_split = min(5000, train_size // 12)  # on a subset, the share 5,000 is of 60,000
    entries = []
    for row in selected_rows(args.rows):
        hidden, lr, batch, epochs, _ = LAB_ROWS[row - 1]
        shared = {
            "hidden": hidden,
            "lr": lr,
            "batch_size": batch,
            "epochs": row_epochs(epochs, args),
            "seed": args.seed,
            "device": args.device,
        }
        for name in settings:
            extra = {"val_split": val_split} if name == "default" else {}
            entries.append(Entry(row, name, preset(name, **shared, **extra)))
    return entries


def subset(dataset: Dataset, size: int | None) -> Dataset:
    if size is None:
        return dataset
    return replace(
        dataset,
        train_images=dataset.train_images[:size],
        train_labels=dataset.train_labels[:size],
        name=f"{dataset.name} (first {size} training images)",
    )


def machine_line(device: str) -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"trained on {describe_device(resolve_device(device))}"
    )


# -- the table --------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _outcome(job: Job | None, value: float | None) -> str:
    """A figure in %, or what happened instead (waiting, running, diverged, failed)."""
    if job is None or job.state == "waiting":
        return "not run"
    if job.state == "done":
        return _percent(value)
    shown = _percent(value)
    return f"{job.state} (epoch {job.epochs_done}{', ' + shown if shown else ''})"


def _time(job: Job | None) -> str:
    return f"{job.seconds:.0f} s" if job and job.state != "waiting" and job.seconds else ""


def render(
    entries: list[Entry], jobs: dict[int, Job], best_epochs: dict[int, int], header: list[str]
) -> str:
    """The Markdown report: one line per lab row, lab settings then our defaults."""
    lines = [*header, ""]
    lines += [
        "| # | hidden | lr | batch | epochs | lab | ours, lab settings | Δ (points) | time "
        "| ours, defaults: at best val (epoch) | ours, defaults: final | time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    misses = []
    for row in sorted({e.row for e in entries}):
        hidden, lr, batch, _, lab_figure = LAB_ROWS[row - 1]
        by_settings = {e.settings: jobs.get(e.job_id) for e in entries if e.row == row}
        epochs = next(e.config.epochs for e in entries if e.row == row)
        lab_job, ours_job = by_settings.get("lab"), by_settings.get("default")
        lab_cells = ["", "", ""]
        if "lab" in by_settings:
            final = lab_job.final_test_accuracy if lab_job else None
            delta = ""
            if lab_job and lab_job.state == "done" and final is not None:
                delta = f"{100 * final - lab_figure:+.1f}"
                if abs(100 * final - lab_figure) > TOLERANCE_POINTS:
                    misses.append(f"row {row}: lab {lab_figure}%, ours {100 * final:.2f}%")
            lab_cells = [_outcome(lab_job, final), delta, _time(lab_job)]
        ours_cells = ["", "", ""]
        if "default" in by_settings:
            at_best = ours_job.test_accuracy_at_best if ours_job else None
            best_cell = _outcome(ours_job, at_best)
            if ours_job and ours_job.state == "done":
                best_cell += f" (epoch {best_epochs.get(ours_job.id, '?')})"
            final = ours_job.final_test_accuracy if ours_job else None
            ours_cells = [best_cell, _outcome(ours_job, final), _time(ours_job)]
        cells = [str(row), str(hidden), f"{lr:g}", str(batch), str(epochs), f"{lab_figure}"]
        lines.append("| " + " | ".join(cells + lab_cells + ours_cells) + " |")
    lines += ["", "Rows more than 1 point from the lab's figure with the lab's settings:"]
    lines += [f"- {miss}" for miss in misses] or ["- none"]
    return "\n".join(lines) + "\n"


def header_lines(args: argparse.Namespace, dataset: Dataset, argv: list[str]) -> list[str]:
    reduced = []
    if args.subset:
        reduced.append(f"trained on the first {args.subset} images only")
    if args.epochs_scale != 1.0 or args.max_epochs:
        reduced.append("fewer epochs than the lab's")
    command = " ".join(["bench/lab_table.py", *argv])
    val_split = min(5000, len(dataset.train_labels) // 12)
    lines = [
        "# The lab's hyperparameter table, reproduced",
        "",
        f"Measured {datetime.now():%Y-%m-%d %H:%M} with `{command}`.",
        f"Machine: {machine_line(args.device)}. Data: {dataset.name}, "
        f"{len(dataset.train_labels):,} training and {len(dataset.test_labels):,} test images.",
        "",
        "- **lab**: the lab's figure (test accuracy after the last epoch, as reported).",
        "- **ours, lab settings**: the `lab` preset: N(0, 1) weights and biases, plain SGD "
        "(no momentum, no weight decay), constant learning rate, pixels in [0, 1], no validation "
        "split; test accuracy after the last epoch.",
        "- **ours, defaults**: the `default` preset (He init, SGD with Nesterov momentum 0.9, "
        f"weight decay 5e-4, cosine schedule, standardised pixels, {val_split:,} training images "
        "held out for validation) with the row's hidden, lr, batch and epochs; test accuracy "
        "at the best-validation epoch and after the last epoch.",
        f"- One run per row and settings, seed {args.seed}; time is the run's wall time "
        "(training, evaluation after each epoch, checkpoints).",
    ]
    if reduced:
        lines += ["", f"**Reduced run, not comparable with the lab: {'; '.join(reduced)}.**"]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = subset(load_dataset(), args.subset)
    entries = build_entries(args, len(dataset.train_labels))
    jobs: dict[int, Job] = {}
    for number, entry in enumerate(entries, start=1):
        entry.job_id = number
        jobs[number] = Job(number)
    header = header_lines(args, dataset, argv)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="lab-table-"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    best_epochs: dict[int, int] = {}
    print(f"{len(entries)} runs; table in {args.out}", flush=True)
    try:
        for entry in entries:
            job = jobs[entry.job_id]
            config = replace(entry.config, device=args.device)
            best = run_job(job, config, dataset, runs_dir)
            if best is not None:
                best_epochs[job.id] = best
            print(
                f"row {entry.row} {entry.settings:<7} {job.state:<9} "
                f"final {_percent(job.final_test_accuracy) or '-':>6}%  "
                f"{job.seconds:6.0f} s  ({time.perf_counter() - started:.0f} s so far)",
                flush=True,
            )
            args.out.write_text(render(entries, jobs, best_epochs, header), encoding="utf-8")
    except KeyboardInterrupt:
        print(f"interrupted; the table so far is in {args.out}", file=sys.stderr)
        return 130
    finally:
        if args.runs_dir is None:
            shutil.rmtree(runs_dir, ignore_errors=True)
    args.out.write_text(render(entries, jobs, best_epochs, header), encoding="utf-8")
    print(f"done in {time.perf_counter() - started:.0f} s; table in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
