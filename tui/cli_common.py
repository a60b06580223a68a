"""What every `mnist-tui` command module shares: exit codes, the error line, common options.

Its own module so that tui/cli.py (the parser and the dispatch) and the command modules
(cli_commands, run_cli, sweep_cli) import it and never each other in a circle.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig

EXIT_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
#: A followed run that ended failed, interrupted or lost (`attach`).
EXIT_RUN_FAILED = 1
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


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """`base` with every option given on the command line replaced (validated again)."""
    overrides = {
        spec.name: getattr(args, spec.name)
        for spec in fields(TrainConfig)
        if getattr(args, spec.name, None) is not None
    }
    return replace(base, **overrides)


def fail(message: str) -> int:
    """Print one clear error line and return the error status."""
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)
