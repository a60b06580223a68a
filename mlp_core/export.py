"""Export a run's metrics as CSV, for a spreadsheet or a plotting script.

One header line, then one row per epoch in the order of `metrics.jsonl`. A missing figure (no
validation split) is an empty cell; booleans are `true`/`false`, as in the JSON they come from.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mlp_core.files import atomic_write
from mlp_core.runs import RUN_FILE, RunError, read_metrics

#: Columns first in this order; keys a newer trainer adds follow, sorted.
COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "lr",
    "seconds",
    "samples_per_second",
    "is_best",
    "inherited",
)
CSV_NAME = "metrics.csv"
#: A row written by this run itself has no `inherited` key: it was not inherited.
_DEFAULTS: dict[str, Any] = {"inherited": False}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts (the `figures` of mlp_core/training_figures.py) as `figures.<key>` columns."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """The CSV text of metric rows (EpochEnd dicts)."""
    rows = [_flat(row) for row in rows]
    extra = sorted({key for row in rows for key in row} - set(COLUMNS))
    columns = [*COLUMNS, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column, _DEFAULTS.get(column))) for column in columns])
    return buffer.getvalue()


def export_metrics_csv(run_path: Path, destination: Path | None = None) -> Path:
    """Write the run's metrics as CSV (default `<run>/metrics.csv`) atomically; return the path."""
    run_path = Path(run_path)
    if not (run_path / RUN_FILE).is_file():
        raise RunError(f"{run_path}: not a run folder (no {RUN_FILE})")
    destination = destination or run_path / CSV_NAME
    try:
        atomic_write(destination, metrics_csv(read_metrics(run_path)).encode("utf-8"))
    except OSError as exc:
        raise RunError(f"{destination}: cannot write ({exc})") from exc
    return destination
