"""A search as a reader sees it from its folder: trials, the best so far, and its end.

    folder = latest_search(Path("runs"))       # the running search, else the newest one
    status = read_search_status(folder)
    status.running, status.trials[0].state, status.best, status.importances

Only the controller touches study.db, so a reader (the app's queue view) never opens it: it
reads `results.csv` (rewritten by the controller after every ask and tell), `search.json` (the
trial count), `summary.json` (written at the end, with Optuna's importances) and whether
`controller.lock` is held. No Optuna and no torch here: it is read 1 time a second.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from mlp_core.liveness import file_locked

# The names mlp_core.search, search_results and sweep use (they import torch, which a reader
# polling the folder must not wait for); tests/core/test_search_status.py checks they agree.
SWEEPS_DIR = "sweeps"
SPEC_FILE = "search.json"
LOCK_FILE = "controller.lock"
SUMMARY_FILE = "summary.json"
RESULT_HEADER = ("trial", "state")
FIGURES = ("best_val_acc_%", "test_acc_at_best_%", "epochs", "seconds", "run", "error")


@dataclass(frozen=True)
class TrialRow:
    """One trial of results.csv: its number, state, params (as text) and figures."""

    number: int
    state: str
    params: dict[str, str]
    val: float | None  # best validation accuracy, in %
    test: float | None
    epochs: str
    run: str
    error: str


@dataclass(frozen=True)
class SearchStatus:
    folder: Path
    running: bool
    total: int
    trials: list[TrialRow] = field(default_factory=list)
    #: Set once the search ended (summary.json written and no controller holds the lock).
    importances: dict[str, float] | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        """The completed trial with the best validation accuracy so far."""
        done = [t for t in self.trials if t.state == "complete" and t.val is not None]
        return max(done, key=lambda t: t.val or 0.0) if done else None


def latest_search(runs_dir: Path) -> Path | None:
    """The search folder a controller is running (the newest such), else the newest search."""
    parent = Path(runs_dir) / SWEEPS_DIR
    try:
        folders = sorted(p for p in parent.iterdir() if (p / SPEC_FILE).is_file())
    except OSError:
        return None
    running = [p for p in folders if file_locked(p / LOCK_FILE)]
    chosen = running or folders
    return chosen[-1] if chosen else None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _trial(row: dict[str, str]) -> TrialRow:
    known = {*RESULT_HEADER, *FIGURES}
    return TrialRow(
        number=int(row["trial"]),
        state=row["state"],
        params={k: v for k, v in row.items() if k not in known and v},
        val=_number(row.get("best_val_acc_%", "")),
        test=_number(row.get("test_acc_at_best_%", "")),
        epochs=row.get("epochs", ""),
        run=row.get("run", ""),
        error=row.get("error", ""),
    )


def read_trials(folder: Path) -> list[TrialRow]:
    """results.csv's trials ([] before the first is written or when it cannot be read)."""
    try:
        with (folder / "results.csv").open(newline="") as handle:
            return [_trial(row) for row in csv.DictReader(handle)]
    except (OSError, ValueError, KeyError):
        return []


def read_search_status(folder: Path) -> SearchStatus:
    """The search in `folder` as its files say now."""
    running = file_locked(folder / LOCK_FILE)
    try:
        total = int(json.loads((folder / SPEC_FILE).read_text()).get("trials", 0))
    except (OSError, ValueError, AttributeError):
        total = 0
    importances, counts = None, {}
    if not running:
        try:
            summary = json.loads((folder / SUMMARY_FILE).read_text())
            importances = {str(k): float(v) for k, v in summary.get("importances", {}).items()}
            counts = {str(k): int(v) for k, v in summary.get("counts", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError):
            importances = None
    return SearchStatus(folder, running, total, read_trials(folder), importances, counts)
