"""`mnist-tui sweep`: a grid of runs headless, a table line as each job finishes.

    mnist-tui sweep --hidden 128,256,512 --lr 0.01,0.1 --epochs 5 --devices cuda:0,cuda:1

Every TrainConfig field (but `device`, which `--devices` replaces) is an option taking a
comma-separated list; the grid is every combination over `--preset`. The count is printed before
anything trains. Each job is an ordinary run in `--runs-dir`; the table is written to
`runs-dir/sweeps/<time-name>/results.{csv,md}` after every job, so Ctrl-C (exit 130) keeps it.

Exit status: 0 every job done, 1 some job failed or diverged, 2 bad options or setup, 130 Ctrl-C.
Only the option parser is built at import; torch loads when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any

from mlp_core.config import PRESETS, ConfigError, TrainConfig
from tui.cli import EXIT_ERROR, EXIT_INTERRUPTED, add_common_options, fail

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_JOBS_FAILED", "EXIT_OK"]
#: TrainConfig fields that are not grid options (`--devices` chooses where jobs run).
NOT_GRID = ("device",)


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `sweep` subcommand to `subparsers` (from `parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "sweep",
        help="train a grid of configs, one run each, and tabulate them",
        description="Train every combination of the comma-separated values given, one "
        "ordinary run each, and write the results as CSV and Markdown.",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="default", help="base config (default)"
    )
    parser.add_argument(
        "--devices",
        default=None,
        metavar="DEV[,DEV...]",
        help="run one job per device side by side, e.g. cuda:0,cuda:1 "
        "(default: one at a time on the preset's device, auto)",
    )
    add_common_options(parser, device=False)
    from tui.executor_cli import add_ray_option  # issue 9 hook

    add_ray_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    group = parser.add_argument_group("grid (comma-separated values; default: the preset's)")
    for spec in fields(TrainConfig):
        if spec.name in NOT_GRID:
            continue
        choices = spec.metadata.get("choices")
        kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
        shown = "|".join(choices) if choices else {"bool": "true|false"}.get(kind, kind.upper())
        group.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=f"grid_{spec.name}",
            default=None,
            metavar=f"{shown}[,...]",
            help=spec.metadata.get("help", ""),
        )
    return parser


def grid_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The grid options given on the command line, field name -> comma-separated text."""
    return {
        spec.name: getattr(args, f"grid_{spec.name}")
        for spec in fields(TrainConfig)
        if getattr(args, f"grid_{spec.name}", None) is not None
    }


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the sweep the options describe, printing as it goes; returns the exit status."""
    from data import DatasetError
    from mlp_core.config import preset
    from mlp_core.device import DeviceError
    from mlp_core.grid import expand_grid, parse_grid
    from mlp_core.sweep import Sweep

    try:
        grid = grid_from_args(args)
        configs = expand_grid(preset(args.preset), grid)
        devices = [d.strip() for d in args.devices.split(",")] if args.devices else None
        if devices is None and getattr(args, "device", None):
            devices = [args.device]  # `mnist-tui --device cpu sweep ...`
        sweep = Sweep(configs, runs_dir=args.runs_dir, data_dir=args.data_dir, devices=devices)
    except ConfigError as exc:
        return fail(f"invalid setting: {exc}")
    from tui.executor_cli import ExecutorError, describe_executor, executor_from_args

    try:  # issue 9 hook: --ray (a local instance is shut down by Ray's own exit handler)
        sweep.executor = executor_from_args(args)
    except ExecutorError as exc:
        return fail(str(exc))
    line = _describe(len(configs), parse_grid(grid), args.preset, sweep.devices)
    _out(args, describe_executor(sweep.executor, line))
    printer = _TablePrinter(sweep, args.json)
    events = sweep.run()
    try:
        for event in events:
            printer.show(event)
    except (ConfigError, DeviceError, DatasetError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        events.close()
        if sweep.sweep_dir is not None:
            csv_path, md_path = sweep.results_paths()
            print(f"interrupted; results so far in {csv_path} and {md_path}", file=sys.stderr)
        else:
            print("interrupted before the first job started", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = sweep.queue.counts()
    return EXIT_JOBS_FAILED if counts["failed"] or counts["diverged"] else EXIT_OK


def _describe(
    count: int, grid: dict[str, list[Any]], preset_name: str, devices: list[str] | None
) -> str:
    """``sweep: 6 runs (hidden 3 x lr 2), preset default, one at a time``."""
    sizes = " x ".join(f"{name} {len(values)}" for name, values in grid.items() if len(values) > 1)
    if not devices:
        where = "one at a time"
    elif len(devices) == 1:
        where = f"on {devices[0]}"
    else:
        where = f"one job per device on {', '.join(devices)}"
    runs = "run" if count == 1 else "runs"
    return f"sweep: {count} {runs} ({sizes or 'one config'}), preset {preset_name}, {where}"


class _TablePrinter:
    """Prints the table's header at the start, a row per finished job, the paths at the end."""

    def __init__(self, sweep: Any, as_json: bool) -> None:
        from mlp_core.sweep import table_columns, table_header

        self.sweep = sweep
        self.as_json = as_json
        self.columns = table_columns(sweep.queue.jobs())
        self.header = [h for h in table_header(self.columns) if h not in ("device", "error")]
        self.widths = [max(len(h), 9 if h == "status" else 6) for h in self.header]
        self.total = len(sweep.queue)

    def show(self, event: Any) -> None:
        from mlp_core.events import EpochEnd
        from mlp_core.sweep import JobEvent, JobFinished, SweepFinished, SweepStarted, result_row

        if self.as_json:
            print(json.dumps(event.to_dict()), flush=True)
            return
        if isinstance(event, SweepStarted):
            print(f"folder: {event.sweep_dir}")
            print(self._line(self.header), flush=True)
        elif isinstance(event, JobEvent) and isinstance(event.event, EpochEnd):
            epoch = event.event
            val = "" if epoch.val_accuracy is None else f", val {100 * epoch.val_accuracy:.2f}%"
            print(
                f"  job {event.job_id}/{self.total} epoch {epoch.epoch}: "
                f"test {100 * epoch.test_accuracy:.2f}%{val} ({epoch.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, JobFinished):
            row = result_row(self.sweep.queue.get(event.job_id), self.columns)
            print(self._line(row[: len(self.header)]), flush=True)
            if event.error:
                print(f"    {event.error}", flush=True)
        elif isinstance(event, SweepFinished):
            counts = ", ".join(f"{n} {state}" for state, n in event.counts.items() if n)
            print(f"done in {event.seconds:.1f} s: {counts or 'no jobs'}")
            print(f"results: {event.results_csv}")
            print(f"         {event.results_md}", flush=True)

    def _line(self, cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, self.widths, strict=False)).rstrip()


def _out(args: argparse.Namespace, text: str) -> None:
    """A human line: on stdout, or on stderr when stdout carries JSON."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)
