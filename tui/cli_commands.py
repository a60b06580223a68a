"""What `mnist-tui train` and `eval` do: iterate the core and print.

The only command modules that import torch (about 1.7 s): `tui/cli.py` imports each command's
module when that command runs, so `--help`, `runs`, `stop`, `attach`, `export`, `sweep` and
`search` never wait for it (`runs_cli.py` holds the run-folder commands).
"""

from __future__ import annotations

import argparse
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
from mlp_core.runs import RunError
from mlp_core.text import printable
from tui.cli_common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    config_from_args,
    fail,
    locate_run,
    print_json,
)
from tui.cli_print import ProgressLine, _percent, print_event

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
