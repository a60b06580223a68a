"""Start a search whose controller is a detached process, for every front-end alike.

    folder = launch_search(spec, runs_dir=Path("runs"), data_dir=None, ray=None)
    # or, with a Search already made (the study created): detach_search(search, ...)

The study is created here, in the caller, before anything trains (two creators at once trip
over Optuna's schema table), and a bad spec or a second controller fails here as SearchError;
then the controller lock passes to `python -m mlp_core.search_launch --resume FOLDER`, a process
of its own in a new session (it outlives the terminal and the app) whose output goes to
`FOLDER/controller.log`. It asks and tells until the search's trials are done, then exits.
`mnist-tui search --detach` and the app's Search screen both call this, so they start the same
controller. No UI here: the controller's log lines are plain text.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mlp_core.search import SearchError, SearchSpec

LOG_FILE = "controller.log"
OPTUNA_EXTRA = "pip install 'mnist-tui[optuna]'"


def launch_search(
    spec: SearchSpec,
    *,
    runs_dir: Path,
    name: str | None = None,
    data_dir: Path | None = None,
    ray: str | None = None,
) -> Path:
    """Create the search's folder and study, then detach its controller; returns the folder.

    Raises SearchError (Optuna or Ray missing, a Ray address nobody answers at)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        missing = f"a search needs Optuna, which is not installed: {OPTUNA_EXTRA}"
        raise SearchError(missing) from None
    from mlp_core.search import Search

    if ray:  # only check that Ray is there and the address answers; the controller connects
        from mlp_core.executors import ExecutorError, import_ray, probe_address

        try:
            import_ray()
            probe_address(ray)
        except ExecutorError as exc:
            raise SearchError(str(exc)) from None
    search = Search(spec, runs_dir=Path(runs_dir), name=name)
    return detach_search(search, data_dir=data_dir, ray=ray)


def detach_search(search: Any, *, data_dir: Path | None = None, ray: str | None = None) -> Path:
    """Hand `search` (its study already created) to a detached controller; returns its folder.

    Raises SearchError when the controller process could not be started.
    """
    from mlp_core.runproc import spawn_detached

    folder = Path(search.sweep_dir).absolute()
    search.close()  # the controller lock passes to the detached process
    argv = ["mlp_core.search_launch", "--resume", str(folder)]
    if data_dir is not None:
        argv += ["--data-dir", str(Path(data_dir).expanduser().absolute())]
    if ray:
        argv += ["--ray", ray]
    if spawn_detached(argv, folder / LOG_FILE) != 0:
        raise SearchError(f"could not start the controller; see {folder / LOG_FILE}")
    return folder


# -- the controller process -------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, flush=True)


def _report(search: Any, event: Any) -> None:
    """One log line per trial and at the end (the figures a reader of controller.log wants)."""
    from mlp_core.search import SearchFinished, SearchStarted, TrialFinished
    from mlp_core.search_results import best_line, importance_line

    if isinstance(event, SearchStarted):
        verb = "resuming" if event.trials_done else "search"
        _say(f"{verb}: {event.trials} trials ({event.trials_done} done) in {event.sweep_dir}")
    elif isinstance(event, TrialFinished):
        value = "" if event.value is None else f" val {100 * event.value:.2f}%"
        error = f" ({event.error})" if event.error else ""
        _say(f"trial {event.number} {event.state}{value} {event.params}{error}")
    elif isinstance(event, SearchFinished):
        counts = ", ".join(f"{n} {state}" for state, n in event.counts.items())
        _say(f"done in {event.seconds:.1f} s: {counts or 'no trials'}")
        _say(best_line(search.study) or "best: no trial completed")
        _say(importance_line(event.importances))


def _controller(folder: Path, data_dir: Path | None, ray: str | None) -> int:
    from data import DatasetError, load_dataset
    from mlp_core.executors import ExecutorError, make_executor
    from mlp_core.search import Search

    try:
        dataset = load_dataset(data_dir)
        executor = make_executor(f"ray:{ray}" if ray else None)
    except (DatasetError, ExecutorError) as exc:
        _say(f"controller: error: {exc}")
        return 2
    try:
        search = Search.resume(folder, dataset=dataset, executor=executor)
    except SearchError as exc:
        executor.close()
        _say(f"controller: error: {exc}")
        return 2
    try:
        for event in search.run():
            _report(search, event)
    finally:
        search.close()
        executor.close()
    return 0


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlp_core.search_launch")
    parser.add_argument("--resume", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--ray", default=None)
    parser.add_argument("--daemonize", action="store_true")
    args = parser.parse_args(argv)
    if args.daemonize and os.fork():  # the session leader exits; its child is the controller
        os._exit(0)
    return _controller(args.resume, args.data_dir, args.ray)


if __name__ == "__main__":
    sys.exit(_main())
