"""The `mnist-tui` command: the app with no subcommand; `train`, `runs`, `stop`, `attach`, ...

A thin front-end over `mlp_core`: it builds a `TrainConfig` from options (the same dataclass the
app's form builds), iterates `train()`'s events and prints them. Textual is imported only when
the app is opened, so headless commands start fast on a GPU server.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mlp_core.config import PRESETS, ConfigError
from tui.cli_common import (  # noqa: F401  (re-exported: older imports name tui.cli)
    EXIT_BROKEN_PIPE,
    EXIT_DIVERGED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    add_common_options,
    add_config_options,
    config_from_args,
    fail,
    print_json,
)


class CommandParser(argparse.ArgumentParser):
    """A command's parser: an option it does not know is its error, with its own usage.

    argparse hands a command's unknown options back to the main parser, which then prints the
    top-level usage; `mnist-tui train --bogus` should show `train`'s.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mnist-tui")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-tui",
        description="Train, watch and compare a hand-written MLP on MNIST. "
        "With no command, opens the terminal app.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {package_version()}",
        help="print the installed version and exit",
    )
    add_common_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)

    train = commands.add_parser("train", help="train headless, a line per epoch")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="starting point (default: default; not with --resume)",
    )
    train.add_argument(
        "--resume", type=Path, metavar="CHECKPOINT", help="continue from a checkpoint"
    )
    train.add_argument("--json", action="store_true", help="one JSON object per event")
    train.add_argument(
        "--detach",
        action="store_true",
        help="train in a process of its own: print the run folder and return at once "
        "(follow it with `attach`, stop it with `stop`)",
    )
    add_common_options(train)
    add_config_options(train)

    stop = commands.add_parser("stop", help="stop a run after its current batch")
    stop.add_argument("run", metavar="RUN", help="the run's name (in --runs-dir) or its folder")
    stop.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds to wait for the run before SIGTERM, then as long again before SIGKILL "
        "(default: 10)",
    )
    stop.add_argument("--no-wait", action="store_true", help="ask it to stop and return")
    add_common_options(stop)

    attach = commands.add_parser(
        "attach", help="follow a run as `train` prints it (Ctrl-C detaches, the run goes on)"
    )
    attach.add_argument("run", metavar="RUN", help="the run's name (in --runs-dir) or its folder")
    attach.add_argument("--json", action="store_true", help="one JSON object per event")
    add_common_options(attach)

    runs = commands.add_parser("runs", help="table of the runs in the runs folder")
    runs.add_argument("--json", action="store_true", help="one JSON object per run")
    runs.add_argument(
        "--sort",
        default="name",
        choices=("name", "hidden", "lr", "batch", "epochs", "val", "test", "time", "status"),
        help="column to sort by (default: name, i.e. by start time)",
    )
    runs.add_argument(
        "--reverse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="descending order (default: newest first by name, best first by val and test)",
    )
    add_common_options(runs)

    evaluate = commands.add_parser(
        "eval", help="evaluate a checkpoint, or a run's best checkpoint, on the test set"
    )
    evaluate.add_argument(
        "checkpoint",
        type=Path,
        metavar="CHECKPOINT|RUN",
        help="a checkpoint file, or a run (its name in --runs-dir or its folder): its best "
        "checkpoint, else its last",
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_common_options(evaluate)

    export = commands.add_parser("export", help="write a run's metrics as CSV")
    export.add_argument("run", metavar="RUN", help="the run's name (in --runs-dir) or its folder")
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write, - for stdout (default: RUN/metrics.csv)",
    )
    add_common_options(export)

    from tui.sweep_cli import add_sweep_parser

    add_sweep_parser(commands)
    from tui.gradcheck_cli import add_gradcheck_parser

    add_gradcheck_parser(commands)

    from tui.search_cli import add_search_parser

    add_search_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _open_app(args)
    handler = _handler(args.command)
    try:
        status = handler(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the handler below
        return status
    except BrokenPipeError:
        return _stdout_went_away()
    except ConfigError as exc:
        return fail(f"invalid setting: {exc}")


#: Each command's (module, function): the module is imported only when its command runs, so
#: that the commands that read run folders never wait for torch (cli_commands imports it).
HANDLERS = {
    "train": ("tui.cli_commands", "train_command"),
    "eval": ("tui.cli_commands", "eval_command"),
    "runs": ("tui.runs_cli", "runs_command"),
    "export": ("tui.runs_cli", "export_command"),
    "stop": ("tui.run_cli", "stop_command"),
    "attach": ("tui.run_cli", "attach_command"),
    "sweep": ("tui.sweep_cli", "run_sweep_command"),
    "search": ("tui.search_cli", "run_search_command"),
    "gradcheck": ("tui.gradcheck_cli", "run_gradcheck_command"),
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, function = HANDLERS[command]
    return getattr(importlib.import_module(module), function)


def _stdout_went_away() -> int:
    """`mnist-tui runs | head`: the reader closed the pipe. Python's documented recipe: point
    stdout at /dev/null so the interpreter's final flush does not fail again, and exit 141."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _open_app(args: argparse.Namespace) -> int:
    try:
        from tui.app import run_app
    except ImportError as exc:  # the app's dependencies are missing
        return fail(f"cannot open the app ({exc}); see `mnist-tui --help` for the commands")
    run_app(runs_dir=args.runs_dir, data_dir=args.data_dir, device=args.device or "auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
