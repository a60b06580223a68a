"""The `mnist-tui` command: the app with no subcommand; `train`, `runs`, `eval` headless.

A thin front-end over `mlp_core`: it builds a `TrainConfig` from options (the same dataclass the
app's form builds), iterates `train()`'s events and prints them. Textual is imported only when
the app is opened, so headless commands start fast on a GPU server.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

from mlp_core.config import PRESETS, ConfigError, TrainConfig

EXIT_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
#: TrainConfig fields that are options of the command rather than hyperparameters.
RUN_OPTIONS = ("device",)


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, typed and documented from the dataclass.

    Defaults are None so that only the options given on the command line override the preset
    (or the checkpoint's config, when resuming).
    """
    group = parser.add_argument_group("hyperparameters (default: the preset's)")
    for spec in fields(TrainConfig):
        if spec.name in RUN_OPTIONS:
            continue
        help_text = spec.metadata.get("help", "")
        default = spec.default if spec.default is not MISSING else None
        kwargs: dict[str, Any] = {"dest": spec.name, "default": None}
        if spec.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.metadata.get("choices"):
            kwargs["choices"] = spec.metadata["choices"]
        else:
            kwargs["type"] = {"int": int, "float": float}.get(str(spec.type), str)
            kwargs["metavar"] = spec.name.upper()
        group.add_argument(
            _option_name(spec.name), help=f"{help_text} (default preset: {default})", **kwargs
        )


def add_common_options(
    parser: argparse.ArgumentParser, *, data: bool = True, device: bool = True, top: bool = False
) -> None:
    """--runs-dir, --data-dir and --device, on the main parser and on each command.

    Only the main parser (`top`) holds their defaults: a command's copy defaults to nothing
    (argparse.SUPPRESS), so `mnist-tui --device cpu train` and `mnist-tui train --device cpu`
    mean the same, and a command never overwrites what was given before it.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=default(Path("runs")),
        help="folder of runs (default: ./runs)",
    )
    if data:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=default(None),
            help="folder with the four IDX files (default: the bundled MNIST)",
        )
    if device:
        parser.add_argument(
            "--device", default=default(None), help="auto (default), cpu, cuda or cuda:N"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-tui",
        description="Train, watch and compare a hand-written MLP on MNIST. "
        "With no command, opens the terminal app.",
    )
    add_common_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    add_common_options(train)
    add_config_options(train)

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
    add_common_options(runs, data=False, device=False)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on the test set")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_common_options(evaluate)

    export = commands.add_parser("export", help="write a run's metrics as CSV")
    export.add_argument("run", type=Path, help="the run's folder")
    export.add_argument(
        "--out", type=Path, default=None, help="where to write (default: RUN/metrics.csv)"
    )

    from tui.sweep_cli import add_sweep_parser

    add_sweep_parser(commands)
    from tui.search_cli import add_search_parser  # issue 9 hook

    add_search_parser(commands)
    return parser


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """`base` with every option given on the command line replaced (validated again)."""
    overrides = {
        spec.name: getattr(args, spec.name)
        for spec in fields(TrainConfig)
        if getattr(args, spec.name, None) is not None
    }
    return replace(base, **overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _open_app(args)
    from tui import cli_commands
    from tui.search_cli import run_search_command  # issue 9 hook
    from tui.sweep_cli import run_sweep_command

    handler = {
        "train": cli_commands.train_command,
        "runs": cli_commands.runs_command,
        "eval": cli_commands.eval_command,
        "export": cli_commands.export_command,
        "sweep": run_sweep_command,
        "search": run_search_command,
    }[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        return fail(f"invalid setting: {exc}")


def fail(message: str) -> int:
    """Print one clear error line and return the error status."""
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


def _open_app(args: argparse.Namespace) -> int:
    try:
        from tui.app import run_app
    except ImportError as exc:  # the app's dependencies are missing
        return fail(f"cannot open the app ({exc}); see `mnist-tui --help` for the commands")
    run_app(runs_dir=args.runs_dir, data_dir=args.data_dir, device=args.device or "auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
