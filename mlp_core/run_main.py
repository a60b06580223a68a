"""The run process: `python -m mlp_core.run_main ...`, spawned by `runproc.launch_run`.

    launch_run ──Popen(setsid)──> run_main --daemonize ──fork──> run_main (trains)
         │  reaps the first at once       exits at once              │
         └──── polls <runs_dir>/.launch/<token>.json <── ticket ─────┘

The first process only forks and exits (so the trainer is not a session leader and can never
get a controlling terminal again); the grandchild trains with `train()`, the one source of
truth, and writes the launch ticket once the run folder exists, its lock is held and run.json
written (or the one-line reason it could not start). Its stdout and stderr go to
`<run>/stdout.log` from then on: never a pipe, which would kill it once the parent is gone.
Only the standard library is imported before the fork.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlp_core.events import Event
    from mlp_core.runproc import RunControl

EXIT_SETUP = 2
EXIT_FAILED = 1
EXIT_DIVERGED = 3


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlp_core.run_main")
    parser.add_argument("--ticket", type=Path, required=True)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--config", required=True, help="the TrainConfig as JSON")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--start", type=Path, default=None, help="checkpoint to continue from")
    parser.add_argument("--device-lock", type=Path, default=None)
    parser.add_argument("--fork", action="store_true", help="a new run even if it could resume")
    parser.add_argument("--daemonize", action="store_true")
    return parser.parse_args(argv)


def write_ticket(ticket: Path, **values: object) -> None:
    """The launcher's answer, written whole (tmp + rename) so it never reads half of it."""
    tmp = ticket.with_name(ticket.name + ".tmp")
    tmp.write_text(json.dumps(values), encoding="utf-8")
    os.replace(tmp, ticket)


def _daemonize(ticket: Path) -> None:
    """Second fork: the first process records the trainer's pid and exits (to be reaped)."""
    pid = os.fork()
    if pid:
        write_ticket(ticket.with_name(ticket.name + ".pid"), pid=pid)
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.daemonize:
        _daemonize(args.ticket)
    from mlp_core.runproc import RunControl, one_line

    control = RunControl()
    control.install_signals()
    try:
        events = _start(args, control)
        first = next(events)
    except Exception as exc:  # before training: the launcher reports it
        write_ticket(args.ticket, error=one_line(exc))
        return EXIT_SETUP
    control.started(first)  # stdout.log, STOP cleared, RunStarted recorded
    write_ticket(args.ticket, run_dir=first.run_dir, pid=os.getpid())
    return _train(events, control)


def _start(args: argparse.Namespace, control: RunControl) -> Generator[Event, None, None]:
    """Device lock, config, checkpoint, data set: everything that may fail before training."""
    from data import load_dataset
    from mlp_core.checkpoint import load_checkpoint
    from mlp_core.config import TrainConfig
    from mlp_core.liveness import LockBusy, try_lock
    from mlp_core.trainer import train

    if args.device_lock is not None:
        try:
            control.device_lock_fd = try_lock(args.device_lock)
        except LockBusy:
            raise RuntimeError(f"device lock {args.device_lock} is held: device busy") from None
    config = TrainConfig.from_dict(json.loads(args.config))
    start = load_checkpoint(args.start) if args.start else None
    dataset = load_dataset(args.data_dir)
    return train(
        config,
        dataset,
        runs_dir=args.runs_dir,
        start=start,
        should_stop=control.should_stop,
        fork=args.fork,
    )


def _train(events: Generator[Event, None, None], control: RunControl) -> int:
    from mlp_core.events import Diverged, EpochEnd, Finished

    status = EXIT_FAILED
    try:
        for event in events:
            control.observe(event)
            if isinstance(event, EpochEnd):
                print(f"epoch {event.epoch}: test accuracy {event.test_accuracy:.4f}", flush=True)
            elif isinstance(event, Finished):
                print(f"{event.status} after {event.epochs_done} epochs", flush=True)
                status = 0
            elif isinstance(event, Diverged):
                print(f"diverged: {event.reason}", flush=True)
                status = EXIT_DIVERGED
    except KeyboardInterrupt:
        print("stopped by a second signal", flush=True)
        status = 0
    finally:
        events.close()
        control.close()
    return status


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
