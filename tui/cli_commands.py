"""What `mnist-tui train`, `runs` and `eval` do: iterate the core and print.

Kept apart from `tui/cli.py` so that parsing options (and `--help`) never waits for torch.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Generator
from pathlib import Path

import torch

from data import DatasetError, load_dataset
from mlp_core import (
    CheckpointError,
    DeviceError,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunStarted,
    TrainingError,
    load_checkpoint,
    preset,
    train,
)
from mlp_core.runproc import RunControl
from mlp_core.runs import RunError, check_runs_dir, list_runs, run_summary
from mlp_core.text import printable
from tui.cli_common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    config_from_args,
    fail,
    locate_run,
    print_json,
)
from tui.cli_print import ProgressLine, _percent, format_epoch, print_event  # noqa: F401

CORE_ERRORS = (DatasetError, DeviceError, CheckpointError, TrainingError, RunError)


def train_command(args: argparse.Namespace) -> int:
    """`mnist-tui train`: build the config, train, print each event."""
    if args.resume and args.preset:
        return fail("--preset and --resume: a resumed run starts from the checkpoint's config")
    printer = _EventPrinter(args.json)
    try:
        start = load_checkpoint(args.resume) if args.resume else None
        base = start.config if start else preset(args.preset or "default")
        config = config_from_args(args, base)
        if args.detach:
            from tui.run_cli import launch_detached

            return launch_detached(args, config)
        dataset = load_dataset(args.data_dir)
        # In this process, but held, beaten and stoppable like a detached run (runproc);
        # SIGTERM and SIGHUP stop after the batch and exit 143 or 129.
        signals = printer.control.signals
        with signals:
            events = train(
                config,
                dataset,
                runs_dir=args.runs_dir,
                start=start,
                should_stop=printer.control.should_stop,
            )
            status = printer.print_all(events, config.epochs)
        if signals.received is not None and printer.status == "stopped":
            name = signals.received.name
            print(f"stopped by {name}: the run is saved as stopped", file=sys.stderr)
            return signals.exit_status
        return status
    except KeyboardInterrupt:
        return printer.interrupted()
    except BrokenPipeError:
        raise  # stdout was closed (`| head`): main() ends quietly
    except CORE_ERRORS as exc:
        return fail(str(exc))
    except OSError as exc:  # an unwritable --runs-dir, a full disk
        return fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    except torch.OutOfMemoryError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "out of memory"
        return fail(f"{first_line}; try a smaller --batch-size or --hidden")


class _EventPrinter:
    """Prints a run's events and remembers where it was, for the line Ctrl-C leaves."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.progress = ProgressLine(sys.stdout)
        self.control = RunControl()
        self.run_dir = ""
        self.current_epoch = 0  # the epoch in progress; 0 before the run has started
        self.status = ""  # the Finished event's status, once it came

    def print_all(self, events: Generator[Event, None, None], epochs: int) -> int:
        try:
            for event in events:
                self._track(event)
                if isinstance(event, RunStarted):
                    self.control.started(event, redirect=False)
                self.control.observe(event)
                if self.as_json:
                    print_json(event.to_dict())
                else:
                    if not isinstance(event, Progress):
                        self.progress.clear()
                    print_event(event, epochs, self.progress)
                if isinstance(event, Diverged):
                    return EXIT_DIVERGED
        finally:
            events.close()  # on Ctrl-C too: the run records that it stopped
            self.control.close()
        return 0

    def _track(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_dir, self.current_epoch = event.run_dir, event.start_epoch + 1
        elif isinstance(event, Progress):
            self.current_epoch = event.epoch
        elif isinstance(event, EpochEnd):
            self.current_epoch = event.epoch + 1
        elif isinstance(event, Finished):
            self.status = event.status

    def interrupted(self) -> int:
        self.progress.clear()
        if self.run_dir:
            where = f"during epoch {self.current_epoch}; its checkpoints are whole ({self.run_dir})"
            print(f"interrupted: run stopped {where}", file=sys.stderr)
        else:
            print("interrupted before training started", file=sys.stderr)
        return EXIT_INTERRUPTED


def runs_command(args: argparse.Namespace) -> int:
    """`mnist-tui runs`: one row per run, newest first."""
    try:
        check_runs_dir(args.runs_dir)
    except RunError as exc:
        return fail(str(exc))
    runs = list_runs(args.runs_dir)
    if args.json:
        for run in runs:
            print_json(run_summary(run))
        return 0
    if not runs:
        print(f"no runs in {args.runs_dir}")
        return 0
    descending = args.reverse if args.reverse is not None else args.sort in ("name", "val", "test")
    rows = sort_rows([run_summary(run) for run in runs], args.sort, descending)
    for row in rows:
        if row.get("status") == "running":
            row["status"] = live_status(args.runs_dir / str(row["name"]))
    columns = ("name", "config", "epochs", "best val", "test at best", "time", "status")
    table = [[printable(_cell(row, column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for cells in table:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return 0


def _cell(row: dict[str, object], column: str) -> str:
    def pct(value: object) -> str:
        return f"{100 * value:.2f}%" if isinstance(value, float) and math.isfinite(value) else "-"

    if column == "name":
        name = str(row["name"])
        return f"{name} [{row['label']}]" if row.get("label") else name
    if column == "config":
        return str(row.get("config", ""))
    if column == "epochs":
        return f"{row.get('epochs_done', '-')}/{row.get('epochs') or '-'}"
    if column == "best val":
        return pct(row.get("best_val_accuracy"))
    if column == "test at best":
        return pct(row.get("test_accuracy_at_best"))
    if column == "time":
        seconds = row.get("seconds")
        return f"{seconds:.0f}s" if isinstance(seconds, float) else "-"
    return str(row.get("status", ""))


def live_status(run_dir: Path) -> str:
    """ "running" with where the run is, from its progress file (epoch, % of it)."""
    import json

    try:
        progress = json.loads((run_dir / "progress.json").read_text(encoding="utf-8"))
        share = 100 * progress["step"] // progress["steps"]
        return f"running (epoch {progress['epoch']}, {share}%)"
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return "running"


#: `mnist-tui runs --sort` keys: the run_summary field each sorts by.
SORT_KEYS = {
    "name": "name",
    "hidden": "hidden",
    "lr": "lr",
    "batch": "batch_size",
    "epochs": "epochs_done",
    "val": "best_val_accuracy",
    "test": "test_accuracy_at_best",
    "time": "seconds",
    "status": "status",
}


def sort_rows(rows: list[dict[str, object]], key: str, reverse: bool) -> list[dict[str, object]]:
    """Rows ordered by `key` (a SORT_KEYS name); runs without that figure go last."""
    field = SORT_KEYS[key]
    present = [row for row in rows if row.get(field) is not None]
    missing = [row for row in rows if row.get(field) is None]
    present.sort(key=lambda row: row[field], reverse=reverse)  # type: ignore[arg-type, return-value]
    return present + missing


def eval_command(args: argparse.Namespace) -> int:
    """`mnist-tui eval CHECKPOINT|RUN`: test loss, accuracy, per-class accuracy, confusion."""
    from mlp_core.inspect import dataset_for_checkpoint, evaluate_checkpoint

    try:
        path, which = checkpoint_to_evaluate(args.checkpoint, args.runs_dir)
        checkpoint = load_checkpoint(path)  # a bad file fails before the data
        dataset, note = dataset_for_checkpoint(checkpoint, args.data_dir)
        result = evaluate_checkpoint(path, dataset, args.device or "auto")
    except CORE_ERRORS as exc:
        return fail(str(exc))
    non_finite = checkpoint.non_finite()
    for line in ([f"note: {note}"] if note else []) + (
        [f"warning: {', '.join(non_finite)} hold NaN or infinite values"] if non_finite else []
    ):
        print(printable(line), file=sys.stderr)
    if args.json:
        chosen = {"chosen": which} if which else {}
        print_json({"checkpoint": str(path), **chosen, "non_finite": non_finite,
                    **result.to_dict()})  # fmt: skip
        return 0
    print(f"checkpoint {path}" + (f" (the run's {CHOSEN[which]})" if which else ""))
    print(
        f"test loss {result.loss:.4f}  accuracy {_percent(result.accuracy)}"
        f"  ({result.count} images)"
    )
    print(
        "per class:  "
        + "  ".join(f"{c}:{100 * a:5.1f}%" for c, a in enumerate(result.per_class_accuracy))
    )
    print("confusion (rows: true class, columns: predicted)")
    print("      " + "".join(f"{c:>6}" for c in range(len(result.confusion))))
    for true_class, row in enumerate(result.confusion):
        print(f"{true_class:>6}" + "".join(f"{n:>6}" for n in row))
    return 0


#: What `eval RUN` says it chose: "best" or "last".
CHOSEN = {"best": "best checkpoint", "last": "last checkpoint; it has no best"}


def checkpoint_to_evaluate(target: Path, runs_dir: Path) -> tuple[Path, str | None]:
    """(checkpoint, None) for a checkpoint file; for a run (its folder or its name in
    `runs_dir`), (its best checkpoint, "best"), else (its last, "last")."""
    if target.is_file() or target.suffix == ".safetensors":  # a missing file: load says so
        return target, None
    try:
        run = locate_run(runs_dir, target)
    except RunError:
        raise RunError(
            f"{target}: no such checkpoint, and no such run (neither a run folder nor a run "
            f"in {runs_dir})"
        ) from None
    for which in ("best", "last"):
        path = run / "checkpoints" / f"{which}.safetensors"
        if path.is_file():
            return path, which
    raise RunError(f"{run}: the run has no checkpoint yet (no epoch has finished)")


def export_command(args: argparse.Namespace) -> int:
    """`mnist-tui export RUN`: the run's metrics as CSV, one row per epoch."""
    from mlp_core.export import export_metrics_csv

    try:
        run = locate_run(args.runs_dir, args.run)
        if str(args.out) == "-":
            return _export_to_stdout(run)
        path = export_metrics_csv(run, args.out)
    except RunError as exc:
        return fail(str(exc))
    print(path)
    return 0


def _export_to_stdout(run: Path) -> int:
    """`export RUN --out -`: the CSV on stdout, for a pipe (`| head`, `| column -ts,`)."""
    from mlp_core.export import metrics_csv
    from mlp_core.runs import RUN_FILE, read_metrics

    if not (run / RUN_FILE).is_file():
        raise RunError(f"{run}: not a run folder (no {RUN_FILE})")
    sys.stdout.write(metrics_csv(read_metrics(run)))
    return 0
