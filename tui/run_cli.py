"""`mnist-tui train --detach`, `stop RUN` and `attach RUN`: runs as processes (mlp_core.runproc).

    mnist-tui train --detach ...   prints the run folder once its process trains, and returns
    mnist-tui attach RUN           follows it as `train` prints it; Ctrl-C detaches (status 0),
                                   the run goes on. At the run's end: 0 finished or stopped,
                                   3 diverged, 1 failed, interrupted or lost.
    mnist-tui stop RUN             STOP file, then SIGTERM, then SIGKILL; prints the status

RUN is a run's name in --runs-dir or its folder.
"""

from __future__ import annotations

import argparse
import sys
import time

from mlp_core.config import TrainConfig
from mlp_core.events import Diverged, Event, Finished, Progress, RunClosed, RunStarted
from mlp_core.runproc import (
    LaunchError,
    RunFollower,
    find_run,
    launch_run,
    logind_warning,
    stop_run,
)
from mlp_core.runs import RunError
from tui.cli_common import EXIT_DIVERGED, EXIT_RUN_FAILED, fail, print_json
from tui.cli_print import ProgressLine, print_event

#: How often `attach` reads the run folder (the run writes its progress 4 times a second).
POLL_SECONDS = 0.25


def launch_detached(args: argparse.Namespace, config: TrainConfig) -> int:
    """`train --detach`: spawn the run, print its folder (or a JSON line), return."""
    try:
        run_dir = launch_run(args.runs_dir, config, data_dir=args.data_dir, start=args.resume)
    except LaunchError as exc:
        return fail(str(exc))
    if args.json:
        print_json({"event": "Detached", "run_dir": str(run_dir)})
    else:
        print(run_dir)
        print(
            f"training in the background; `mnist-tui attach {run_dir.name}` follows it, "
            f"`mnist-tui stop {run_dir.name}` stops it",
            file=sys.stderr,
        )
    hint = logind_warning()
    if hint:
        print(hint, file=sys.stderr)
    return 0


def stop_command(args: argparse.Namespace) -> int:
    """`mnist-tui stop RUN`: a run already ended says so; a dead one is marked interrupted."""
    try:
        run = find_run(args.runs_dir, args.run)
        status = stop_run(run, grace=args.grace, wait=not args.no_wait)
    except RunError as exc:
        return fail(str(exc))
    if args.no_wait and status == "running":
        print(f"{run.name}: asked to stop (STOP written)")
    else:
        print(f"{run.name}: {status}")
    return 0


def attach_command(args: argparse.Namespace) -> int:
    """`mnist-tui attach RUN`: replay the run's epochs, then follow it live until it ends."""
    try:
        run = find_run(args.runs_dir, args.run)
    except RunError as exc:
        return fail(str(exc))
    follower = RunFollower(run)
    progress = ProgressLine(sys.stdout)
    epochs = 0
    try:
        while True:
            for event in follower.poll():
                if isinstance(event, RunStarted):
                    epochs = event.epochs
                if args.json:
                    print_json(event.to_dict())
                else:
                    _show(event, epochs, progress)
                if isinstance(event, Finished):
                    return 0
                if isinstance(event, Diverged):
                    return EXIT_DIVERGED
                if isinstance(event, RunClosed):
                    return EXIT_RUN_FAILED
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        progress.clear()
        print(
            f"detached from {run.name}; it goes on (`mnist-tui stop {run.name}` stops it)",
            file=sys.stderr,
        )
        return 0


def _show(event: Event, epochs: int, progress: ProgressLine) -> None:
    if not isinstance(event, Progress):
        progress.clear()
    if isinstance(event, RunClosed):
        print(f"run {event.status}: {event.reason}", file=sys.stderr)
    else:
        print_event(event, epochs, progress)
        sys.stdout.flush()
