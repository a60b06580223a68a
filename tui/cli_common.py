"""What every `mnist-tui` command module shares: exit codes, the error line, common options.

Its own module so that tui/cli.py (the parser and the dispatch) and the command modules
(cli_commands, run_cli, sweep_cli) import it and never each other in a circle.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path
from types import FrameType
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.stopsignals import StopOnSignals

EXIT_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE: what a shell reports for a command whose reader went away (`| head`).
EXIT_BROKEN_PIPE = 141
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
    """Print one clear error line (terminal escapes made visible) and return the error status."""
    from mlp_core.text import printable  # no torch: this stays fast

    print(f"mnist-tui: error: {printable(message)}", file=sys.stderr)
    return EXIT_ERROR


def print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


def locate_run(runs_dir: Path, name: str | Path) -> Path:
    """A run given by its folder, or by its name in `runs_dir` (the folder wins, as in
    `mlp_core.runproc.find_run`); RunError naming both places when neither is a folder."""
    from mlp_core.runs import RunError

    for candidate in (Path(name), Path(runs_dir) / str(name)):
        if candidate.is_dir():
            return candidate
    raise RunError(f"{name}: no such run (neither a run folder nor a run in {runs_dir})")


class InterruptOnSignals(StopOnSignals):
    """SIGTERM and SIGHUP as Ctrl-C for a command that follows processes of its own (`sweep`,
    `search`): the first raises KeyboardInterrupt in the main thread, so the command's Ctrl-C
    path cancels and stops what it started; later ones are ignored while it cleans up.
    `exit_status` is then 128 plus the signal (143, 129), as a shell reports it.

    (`train` uses StopOnSignals itself: it stops after the batch, where Ctrl-C stops at once.)
    """

    def status_or(self, otherwise: int) -> int:
        """The signal's exit status, or `otherwise` when no signal came (a plain Ctrl-C)."""
        return self.exit_status if self.received is not None else otherwise

    def describe(self) -> str:
        """ "interrupted" or "stopped by SIGTERM", for the command's last line."""
        return "interrupted" if self.received is None else f"stopped by {self.received.name}"

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            raise KeyboardInterrupt
