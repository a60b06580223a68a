"""What the queue view reads besides the jobs: its runner (executor, address, alive) and the
search a controller runs, and the words and cells it shows them with.

Read in the view's worker thread from files alone (queue/runner.json and runner.lock, the
search folder's results.csv and summary.json), so it shows a runner or a controller started by
the CLI, another app or this one the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from mlp_core.search_status import SearchStatus, TrialRow, latest_search, read_search_status

#: Each trial state (Optuna's names, lower case) and its look.
TRIAL_STYLES = {
    "complete": "bold green",
    "pruned": "magenta",
    "fail": "bold red",
    "running": "bold yellow",
    "waiting": "grey62",
}
TRIAL_KEY = "trial-"


@dataclass(frozen=True)
class RunnerInfo:
    """The queue runner as its files say: the executor it was started with, and if it lives."""

    executor: str  # "local" or "ray"
    address: str
    alive: bool
    pid: int | None
    known: bool  # runner.json exists (some runner ran on this queue)


def read_runner(runs_dir: Path) -> RunnerInfo:
    """queue/runner.json ("executor": None for local, "ray:ADDRESS") and runner.lock."""
    from mlp_core.jobqueue import RUNNER_FILE, queue_dir, runner_alive

    folder = queue_dir(runs_dir)
    try:
        record = json.loads((folder / RUNNER_FILE).read_text())
        known = isinstance(record, dict)
    except (OSError, ValueError):
        record, known = {}, False
    record = record if isinstance(record, dict) else {}
    kind, _, address = str(record.get("executor") or "local").partition(":")
    pid = record.get("pid")
    alive = runner_alive(runs_dir) if folder.is_dir() else False
    return RunnerInfo(kind, address, alive, pid if isinstance(pid, int) else None, known)


def runner_words(info: RunnerInfo) -> str:
    """``local (a run process per device), runner alive (pid 42)`` or ``Ray at HOST:6379 ...``."""
    where = (
        f"Ray at {info.address}" if info.executor == "ray" else ("local (a run process per device)")
    )
    if info.alive:
        state = f"runner alive (pid {info.pid})" if info.pid else "runner alive"
    else:
        state = "no runner" if not info.known else "runner not running"
    return f"{where}, {state}"


def read_search(runs_dir: Path, watched: set[Path]) -> SearchStatus | None:
    """The running search, or the newest one if it ran while this view watched (or was started
    from it); None otherwise (an old search from another day does not crowd the queue)."""
    folder = latest_search(runs_dir)
    if folder is None:
        return None
    status = read_search_status(folder)
    if not (status.running or folder.absolute() in watched):
        return None
    trials = [_with_progress(runs_dir, t) if t.state == "running" else t for t in status.trials]
    return replace(status, trials=trials)


def _with_progress(runs_dir: Path, trial: TrialRow) -> TrialRow:
    """A running trial with its run's last epoch and best accuracies so far (results.csv has
    them only when the trial ends)."""
    from mlp_core.runs import read_metrics

    run_dir = Path(runs_dir) / trial.run if trial.run else None
    rows = read_metrics(run_dir) if run_dir is not None and run_dir.is_dir() else []
    if not rows:
        return trial
    best = next((r for r in reversed(rows) if r.get("is_best")), rows[-1])

    def percent(value: object) -> float | None:
        return 100 * value if isinstance(value, int | float) else None

    return replace(
        trial,
        epochs=str(rows[-1].get("epoch", "")),
        val=percent(best.get("val_accuracy")),
        test=percent(best.get("test_accuracy")),
    )


def _params_text(params: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def trial_cells(trial: TrialRow) -> list[str]:
    """A trial in the queue's columns: job, config, state, epoch, val %, test %, run."""
    return [
        f"trial {trial.number}",
        _params_text(trial.params),
        trial.state,
        trial.epochs,
        _figure(trial.val),
        _figure(trial.test),
        trial.run,
    ]


def best_words(status: SearchStatus) -> str:
    """``best: trial 3, val 97.10% (test 96.80%), lr=0.0123 hidden=512`` or ``best: none yet``."""
    best = status.best
    if best is None:
        return "best: none completed yet"
    test = f" (test {best.test:.2f}%)" if best.test is not None else ""
    return f"best: trial {best.number}, val {_figure(best.val)}%{test}, {_params_text(best.params)}"


def importance_words(status: SearchStatus) -> str:
    """Optuna's parameter importances once the search ended, else ""."""
    if status.importances is None:
        return ""
    if not status.importances:
        return "importance: too few completed trials to tell"
    shares = ", ".join(f"{name} {share:.2f}" for name, share in status.importances.items())
    return f"importance: {shares}"


def search_words(status: SearchStatus) -> str:
    """``search 2/5 trials, running`` or ``search ended: 4 complete, 1 pruned``."""
    ended = [t for t in status.trials if t.state not in ("running", "waiting")]
    if status.running:
        return f"search {len(ended)}/{status.total} trials, running"
    counts = ", ".join(f"{n} {state}" for state, n in status.counts.items())
    return f"search ended: {counts or f'{len(ended)} trials'}"
