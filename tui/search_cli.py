"""`mnist-tui search`: Optuna's TPE over ranges and lists, pruning the poor trials early.

    mnist-tui search --lr 1e-3..0.3:log --hidden 128..2048:log --batch-size 32,64,128 --trials 40
    mnist-tui search --resume runs/sweeps/<name> [--trials 60]

Every TrainConfig field (but `device`) is an option: `LOW..HIGH[:log]` is a range, a comma
list a choice (the lists' grid is tried first), a single value fixes the field. A line per
trial as it ends, with the best trial so far; at the end the parameter importances. The study
is `runs-dir/sweeps/<name>/study.db` beside `results.{csv,md}`; `--resume` continues it.

Exit status: 0 done, 2 bad options or setup, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (each stops
the trials after their batch; the study keeps what was done), 141 a closed output pipe.
Only the option parser is built at import; torch and Optuna load when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
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
from tui.executor_cli import add_ray_option

EXIT_OK = 0
__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "add_search_parser"]
OPTUNA_EXTRA = "pip install 'mnist-tui[optuna]'"


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `search` subcommand to `subparsers`."""
    parser = subparsers.add_parser(
        "search",
        help="search hyperparameters with Optuna (TPE, median pruning)",
        description="Search ranges (LOW..HIGH, :log for a log scale) and lists of "
        "hyperparameters with Optuna's TPE sampler; poor trials are pruned by the median rule.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--trials", type=int, default=None, help="trials in all (default 20)")
    parser.add_argument(
        "--no-prune", dest="prune", action="store_false", help="train every trial to its last epoch"
    )
    parser.add_argument(
        "--prune-after",
        type=int,
        default=5,
        metavar="N",
        help="trials completed before any is pruned (default 5)",
    )
    parser.add_argument(
        "--prune-warmup",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="epochs every trial trains before it may be pruned (default 0)",
    )
    parser.add_argument("--sampler-seed", type=int, default=0, help="TPE's seed (default 0)")
    parser.add_argument("--name", default=None, help="the search folder's name after the time")
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="SEARCH_DIR",
        help="continue the search in this folder (runs/sweeps/<name>)",
    )
    add_common_options(parser)
    add_ray_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per event")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="run the controller as a detached process (it outlives this "
        "terminal; output in SEARCH_DIR/controller.log)",
    )
    parser.add_argument("--daemonize", action="store_true", help=argparse.SUPPRESS)
    group = parser.add_argument_group("space (LOW..HIGH[:log], A,B,C, or one value)")
    for spec in fields(TrainConfig):
        if spec.name == "device":
            continue
        group.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=f"space_{spec.name}",
            default=None,
            metavar="VALUES",
            help=spec.metadata.get("help", ""),
        )
    return parser


def _space_options(args: argparse.Namespace) -> dict[str, str]:
    return {
        spec.name: getattr(args, f"space_{spec.name}")
        for spec in fields(TrainConfig)
        if getattr(args, f"space_{spec.name}", None) is not None
    }


def run_search_command(args: argparse.Namespace) -> int:
    """Run or resume the search the options describe; returns the exit status."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        return fail(f"search needs Optuna, which is not installed: {OPTUNA_EXTRA}")
    from data import DatasetError
    from mlp_core.device import DeviceError
    from mlp_core.search import SearchError

    if args.trials is not None and args.trials < 1:
        return fail("invalid setting: --trials must be at least 1")
    if args.daemonize:  # the detached controller (spawned by --detach): the session's child
        import os

        if os.fork():
            os._exit(0)
    try:
        search = _make_search(args, local_only=args.detach)
    except ConfigError as exc:
        return fail(f"invalid setting: {exc}")
    except (SearchError, DatasetError) as exc:
        return fail(str(exc))
    if args.detach:
        return _detach(args, search)
    try:
        with InterruptOnSignals() as signals:  # SIGTERM, SIGHUP: as Ctrl-C
            return _follow(args, search, signals)
    except (ConfigError, DeviceError, DatasetError) as exc:
        return fail(str(exc))
    finally:
        search.close()
        search.executor.close()


def _detach(args: argparse.Namespace, search: Any) -> int:
    """Hand the search (its study already created) to a detached controller process."""
    from mlp_core.search import SearchError
    from mlp_core.search_launch import LOG_FILE, detach_search

    try:
        folder = detach_search(search, data_dir=args.data_dir, ray=args.ray)
    except SearchError as exc:
        return fail(str(exc))
    print(f"search: {search.spec.trials} trials, controller detached; log: {folder / LOG_FILE}")
    print(f"folder: {folder}  (after a kill: mnist-tui search --resume {folder})", flush=True)
    return EXIT_OK


def _make_search(args: argparse.Namespace, local_only: bool = False) -> Any:
    from data import load_dataset
    from mlp_core.config import preset
    from mlp_core.executors import ExecutorError
    from mlp_core.search import Search, SearchError, SearchSpec
    from mlp_core.search_space import parse_space
    from tui.executor_cli import executor_from_args

    if args.resume is None:
        base = preset(args.preset)
        if getattr(args, "device", None):  # `--device` before or after the command
            base = replace(base, device=args.device)
        spec = SearchSpec(
            base,
            parse_space(_space_options(args), base),
            trials=args.trials or 20,
            prune=args.prune,
            prune_after=args.prune_after,
            prune_warmup=args.prune_warmup,
            sampler_seed=args.sampler_seed,
        )
    elif _space_options(args) or getattr(args, "device", None):
        raise SearchError(
            "--resume continues a search as it was given; drop the space options and --device"
        )
    try:
        if local_only:  # --detach: only check that Ray is there; the controller connects
            from mlp_core.executors import import_ray

            executor = None
            if args.ray:
                import_ray()
        else:
            executor = executor_from_args(args)
    except ExecutorError as exc:
        raise SearchError(str(exc)) from None
    dataset = load_dataset(args.data_dir)  # a bad --data-dir fails here, in the terminal
    options = {"dataset": None if local_only else dataset, "executor": executor}
    if args.resume is not None:
        return Search.resume(args.resume, trials=args.trials, **options)
    return Search(spec, runs_dir=args.runs_dir, name=args.name, **options)


def _follow(args: argparse.Namespace, search: Any, signals: InterruptOnSignals) -> int:
    from mlp_core.events import EpochEnd
    from mlp_core.search import SearchFinished, SearchStarted, TrialEvent, TrialFinished
    from mlp_core.search_results import best_line, importance_line

    events = search.run()
    try:
        for event in events:
            if args.json:
                print(json.dumps(event.to_dict(), default=str), flush=True)
            elif isinstance(event, SearchStarted):
                _started(search, event)
            elif isinstance(event, TrialEvent) and isinstance(event.event, EpochEnd):
                epoch = event.event
                val = "" if epoch.val_accuracy is None else f" val {100 * epoch.val_accuracy:.2f}%"
                print(
                    f"  trial {event.number} epoch {epoch.epoch}:{val}", file=sys.stderr, flush=True
                )
            elif isinstance(event, TrialFinished):
                _trial_line(event)
                print(f"    {best_line(search.study) or 'best: none completed yet'}", flush=True)
            elif isinstance(event, SearchFinished):
                counts = ", ".join(f"{n} {state}" for state, n in event.counts.items())
                print(f"done in {event.seconds:.1f} s: {counts or 'no trials'}")
                print(best_line(search.study) or "best: no trial completed")
                print(importance_line(event.importances))
                print(f"results: {event.sweep_dir}/results.csv", flush=True)
    except KeyboardInterrupt:
        events.close()  # the trials stop after their batch, the table is written
        print(
            f"{signals.describe()}; resume with: mnist-tui search --resume {search.sweep_dir}",
            file=sys.stderr,
        )
        return signals.status_or(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `search | head`: stop as Ctrl-C does, main() ends quietly
        events.close()
        raise
    return EXIT_OK


def _started(search: Any, event: Any) -> None:
    from tui.executor_cli import describe_executor

    space = ", ".join(p.describe() for p in search.spec.space.params.values())
    verb = "resuming" if event.resumed else "search"
    prune = "median pruning" if search.spec.prune else "no pruning"
    line = f"{verb}: {event.trials} trials ({event.trials_done} done) over {space}; {prune}, x"
    print(
        describe_executor(
            search.executor if search.executor.name == "ray" else None, line
        ).removesuffix(", x")
    )
    print(f"folder: {event.sweep_dir} (study: {event.study_path})", flush=True)


def _trial_line(event: Any) -> None:
    params = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in event.params.items()
    )
    value = "" if event.value is None else f" val {100 * event.value:.2f}%"
    error = f" ({event.error})" if event.error else ""
    print(f"trial {event.number} {event.state}{value} {params}{error}", flush=True)
