"""A search's results table (trial number, state, params, figures) and its summaries.

Written from the study itself after every trial, as `results.csv` and `results.md` in the
search's folder, so the table is whatever the study holds, also after a resume.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

from mlp_core.files import atomic_write

RESULT_HEADER = ("trial", "state")
FIGURES = ("best_val_acc_%", "test_acc_at_best_%", "epochs", "seconds", "run", "error")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def result_rows(study: Any, params: list[str]) -> list[list[str]]:
    """One row per trial, in trial order: number, state, params, then FIGURES."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        state = trial.state.name.lower()
        # A waiting (enqueued) trial has its params only as the ones it was enqueued with.
        values = trial.params or trial.system_attrs.get("fixed_params", {})
        rows.append(
            [str(trial.number), state]
            + [_cell(values[p]) if p in values else "" for p in params]
            + [
                _percent(trial.value) if trial.value is not None else
                _percent(_last_value(trial)),
                _percent(attrs.get("test_accuracy_at_best")),
                str(attrs.get("epochs", "")),
                f"{attrs['seconds']:.2f}" if "seconds" in attrs else "",
                str(attrs.get("run", "")),
                str(attrs.get("error", "")),
            ]
        )
    return rows


def _last_value(trial: Any) -> float | None:
    """A pruned trial's best reported value (it has no final one)."""
    values = list(trial.intermediate_values.values())
    return max(values) if values else None


def header(params: list[str]) -> list[str]:
    return [*RESULT_HEADER, *params, *FIGURES]


def write_results(study: Any, spec: Any, sweep_dir: Path) -> None:
    params = list(spec.space.params)
    rows = result_rows(study, params)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(params))
    writer.writerows(rows)
    atomic_write(sweep_dir / "results.csv", buffer.getvalue().encode())
    cols = header(params)
    lines = [
        f"# Search {sweep_dir.name}",
        "",
        f"{len(rows)} trials; accuracies in %, time in seconds; study in study.db.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    best = best_line(study)
    if best:
        lines += ["", best]
    atomic_write(sweep_dir / "results.md", ("\n".join(lines) + "\n").encode())


def state_counts(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        counts[name] = counts.get(name, 0) + 1
    return counts


def best_line(study: Any) -> str:
    """``best: trial 3, val 97.10% (test 96.80%), lr=0.0123 hidden=512``, or ""."""
    try:
        best = study.best_trial
    except ValueError:
        return ""
    test = best.user_attrs.get("test_accuracy_at_best")
    shown = " ".join(f"{k}={_cell(v)}" for k, v in best.params.items())
    test_text = f" (test {_percent(test)}%)" if test is not None else ""
    return f"best: trial {best.number}, val {_percent(best.value)}%{test_text}, {shown}"


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA), or {} when too few trials completed."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    with warnings.catch_warnings():  # "importances will be equal" when every trial ties
        warnings.simplefilter("ignore")
        try:
            return dict(optuna.importance.get_param_importances(study))
        except (ValueError, RuntimeError):
            return {}


def importance_line(values: dict[str, float]) -> str:
    if not values:
        return "importance: too few completed trials to tell"
    return "importance: " + ", ".join(f"{name} {share:.2f}" for name, share in values.items())
