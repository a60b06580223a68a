"""`mnist-tui sweep`: a grid of runs headless, a table line as each job finishes.

    mnist-tui sweep --hidden 128,256,512 --lr 0.01,0.1 --epochs 5 --devices cuda:0,cuda:1

Every TrainConfig field (but `device`, which `--devices` replaces) is an option taking a
comma-separated list; the grid is every combination over `--preset`. The count is printed before
anything trains. The grid is queued as jobs (`mlp_core.jobqueue`); the queue runner, started
here if none runs, trains each as an ordinary run process in `--runs-dir`, and this command
follows the job files and run folders, printing a row as each job ends. The table is written to
`runs-dir/sweeps/<time-name>/results.{csv,md}` whenever a job starts or ends. Ctrl-C (exit 130)
cancels the sweep's jobs (the running one stops after its batch) and keeps the table; SIGTERM
and SIGHUP do the same (exit 143, 129), and so does a closed output pipe (exit 141);
`--detach` queues the jobs and returns at once (they train on without this command).

Exit status: 0 every job done, 1 some job failed or diverged, 2 bad options or setup, 130 Ctrl-C,
143 SIGTERM, 129 SIGHUP, 141 a closed pipe.
Only the option parser is built at import; torch loads when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from mlp_core.config import PRESETS, ConfigError, TrainConfig
from tui.cli_common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    InterruptOnSignals,
    add_common_options,
    fail,
)

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
    add_common_options(parser)
    from tui.executor_cli import add_ray_option  # issue 9 hook

    add_ray_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument(
        "--detach", action="store_true", help="queue the jobs and return; they train on"
    )
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
    """Queue the sweep the options describe and follow it, printing as it goes."""
    from data import DatasetError
    from mlp_core.config import preset
    from mlp_core.device import DeviceError, resolve_device
    from mlp_core.grid import expand_grid, parse_grid

    try:
        grid = grid_from_args(args)
        configs = expand_grid(preset(args.preset), grid)
        devices = [d.strip() for d in args.devices.split(",")] if args.devices else None
        if devices is None and getattr(args, "device", None):
            devices = [args.device]  # `mnist-tui --device cpu sweep ...`
        for device in devices or []:
            resolve_device(replace(TrainConfig(), device=device).device)
        if args.data_dir is not None:
            from data import load_dataset

            load_dataset(args.data_dir)  # a bad --data-dir is an error now, not per job
    except ConfigError as exc:
        return fail(f"invalid setting: {exc}")
    except (DeviceError, DatasetError) as exc:
        return fail(str(exc))
    distinct = list(dict.fromkeys(devices)) if devices else None
    from tui.executor_cli import ExecutorError, describe_executor, ray_spec

    try:  # issue 9 hook: --ray ADDRESS, the queue runner becomes the Ray driver
        executor = ray_spec(args)
    except ExecutorError as exc:
        return fail(str(exc))
    line = _describe(len(configs), parse_grid(grid), args.preset, distinct)
    _out(args, describe_executor(executor, line))
    try:
        follower = SweepFollower(
            args.runs_dir, configs, distinct or [], args.data_dir, executor=executor
        )
    except OSError as exc:
        return fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
    from mlp_core.runproc import logind_warning

    hint = logind_warning()
    if hint:
        print(hint, file=sys.stderr)
    if args.detach:
        _out(args, f"queued in {follower.sweep_dir}; the jobs train on without this command")
        return EXIT_OK
    with InterruptOnSignals() as signals:  # SIGTERM, SIGHUP: as Ctrl-C
        try:
            printer = _TablePrinter(follower, args.json)
            for event in follower.events():
                printer.show(event)
        except KeyboardInterrupt:
            csv_path, md_path = follower.cancel()
            print(
                f"{signals.describe()}; results so far in {csv_path} and {md_path}", file=sys.stderr
            )
            return signals.status_or(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `sweep | head`: no one reads on, the sweep ends as Ctrl-C
            follower.cancel()
            raise  # main() ends quietly, status 141
    counts = follower.counts()
    return EXIT_JOBS_FAILED if counts.get("failed") or counts.get("diverged") else EXIT_OK


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


class SweepFollower:
    """Queues the sweep's jobs, keeps a runner going, and turns what the job files and run
    folders say into the sweep's events (the same events `--json` prints)."""

    def __init__(
        self,
        runs_dir: Path,
        configs: list[Any],
        devices: list[str],
        data_dir: Path | None,
        executor: str | None = None,
    ) -> None:
        from mlp_core.jobqueue import ensure_runner
        from mlp_core.sweep import new_sweep

        self.runs_dir, self.devices, self.data_dir = runs_dir, devices, data_dir
        self.sweep_dir = new_sweep(runs_dir, configs)
        self.name = self.sweep_dir.name
        self.started = time.perf_counter()
        self.stopped = False
        self.executor = executor  # issue 9 hook: "ray:ADDRESS" or None
        ensure_runner(runs_dir, devices, data_dir=data_dir, executor=executor)

    def rows(self) -> list[Any]:
        from mlp_core.sweep import sweep_results

        return sweep_results(self.runs_dir, self.name)

    def counts(self) -> dict[str, int]:
        """Jobs per state, in JOB_STATES order."""
        from mlp_core.jobqueue import JOB_STATES

        states = [row.state for row in self.rows()]
        return {state: states.count(state) for state in JOB_STATES}

    def events(self) -> Iterator[Any]:
        """SweepStarted, then JobStarted / JobEvent(EpochEnd) / JobFinished as the files
        change, then SweepFinished once every job has ended."""
        from mlp_core.events import EpochEnd
        from mlp_core.jobqueue import FINAL_STATES, ensure_runner, reconcile
        from mlp_core.runproc import RunFollower
        from mlp_core.sweep import (
            JobEvent,
            JobStarted,
            SweepFinished,
            SweepStarted,
            varying_fields,
            write_sweep_results,
        )

        rows = self.rows()
        yield SweepStarted(
            str(self.sweep_dir), len(rows), self.devices, varying_fields(r.config for r in rows)
        )
        followers: dict[int, RunFollower] = {}
        ended: set[int] = set()
        next_check = time.monotonic() + 5.0
        while len(ended) < len(rows):
            reconcile(self.runs_dir)
            rows = self.rows()
            for row in rows:
                if row.run_dir and row.id not in followers:
                    followers[row.id] = RunFollower(Path(row.run_dir))
                    yield JobStarted(row.id, asdict(row.config), row.device, row.run_dir)
                if row.id in followers:
                    for event in followers[row.id].poll():
                        if isinstance(event, EpochEnd):
                            yield JobEvent(row.id, event)
                if row.state in FINAL_STATES and row.id not in ended:
                    ended.add(row.id)
                    yield row.finished_event()
            if any(r.state == "waiting" for r in rows) and time.monotonic() > next_check:
                ensure_runner(  # if it died
                    self.runs_dir, self.devices, data_dir=self.data_dir, executor=self.executor
                )
                next_check = time.monotonic() + 5.0  # a runner takes a moment to lock
            time.sleep(0.2)
        csv_path, md_path = write_sweep_results(self.runs_dir, self.name)
        yield SweepFinished(
            str(self.sweep_dir),
            str(csv_path),
            str(md_path),
            self.counts(),
            time.perf_counter() - self.started,
            self.stopped,
        )

    def cancel(self) -> tuple[Path, Path]:
        """Ctrl-C: waiting jobs cancelled, running ones stopped (waited for); the table."""
        from mlp_core.jobqueue import QueueError, cancel_job, list_jobs, reconcile
        from mlp_core.runproc import stop_run
        from mlp_core.sweep import write_sweep_results

        self.stopped = True
        for job in list_jobs(self.runs_dir):
            if job.sweep == self.name and job.state in ("waiting", "running"):
                with contextlib.suppress(QueueError):
                    cancel_job(self.runs_dir, job.id)
        for job in list_jobs(self.runs_dir):
            if job.sweep == self.name and job.state == "running" and job.run_dir:
                stop_run(job.run_dir, grace=30)
        reconcile(self.runs_dir)
        return write_sweep_results(self.runs_dir, self.name)


class _TablePrinter:
    """Prints the table's header at the start, a row per finished job, the paths at the end."""

    def __init__(self, follower: SweepFollower, as_json: bool) -> None:
        from mlp_core.sweep import table_columns, table_header

        self.follower = follower
        self.as_json = as_json
        rows = follower.rows()
        self.columns = table_columns(rows)
        self.header = [h for h in table_header(self.columns) if h not in ("device", "error")]
        self.widths = [max(len(h), 9 if h == "status" else 6) for h in self.header]
        self.total = len(rows)

    def show(self, event: Any) -> None:
        from mlp_core.sweep import JobEvent, JobFinished, SweepFinished, SweepStarted, result_row

        if self.as_json:
            print(json.dumps(event.to_dict()), flush=True)
            return
        if isinstance(event, SweepStarted):
            print(f"folder: {event.sweep_dir}")
            print(self._line(self.header), flush=True)
        elif isinstance(event, JobEvent):
            epoch = event.event
            val = "" if epoch.val_accuracy is None else f", val {100 * epoch.val_accuracy:.2f}%"
            print(
                f"  job {event.job_id}/{self.total} epoch {epoch.epoch}: "
                f"test {100 * epoch.test_accuracy:.2f}%{val} ({epoch.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, JobFinished):
            (row,) = [r for r in self.follower.rows() if r.id == event.job_id]
            print(self._line(result_row(row, self.columns)[: len(self.header)]), flush=True)
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
