"""CSV export of a run's metrics."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.export import COLUMNS, export_metrics_csv, metrics_csv
from mlp_core.runs import RunError, read_metrics
from mlp_core.trainer import train

CONFIG = TrainConfig(hidden=16, epochs=2, batch_size=64, val_split=100, device="cpu")


def test_export_writes_header_and_one_row_per_epoch(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = list(train(CONFIG, tiny_dataset, runs_dir=tmp_path / "runs"))
    run = Path(events[0].run_dir)
    path = export_metrics_csv(run)
    assert path == run / "metrics.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    metrics = read_metrics(run)
    assert len(rows) == len(metrics) == 2
    columns = list(rows[0].keys())
    assert columns[: len(COLUMNS)] == list(COLUMNS)
    # The training figures follow, one column each (nested in metrics.jsonl).
    figure_columns = [f"figures.{key}" for key in sorted(metrics[0]["figures"])]
    assert columns[len(COLUMNS) :] == figure_columns and "figures.dead_relu" in columns
    for row, epoch in zip(rows, metrics, strict=True):
        assert int(row["epoch"]) == epoch["epoch"]
        assert float(row["train_loss"]) == epoch["train_loss"]  # repr round-trips exactly
        assert float(row["val_accuracy"]) == epoch["val_accuracy"]
        assert float(row["test_accuracy"]) == epoch["test_accuracy"]
        assert row["is_best"] == ("true" if epoch["is_best"] else "false")
        assert row["inherited"] == "false"
        assert (
            float(row["figures.update_ratio.fc1.weight"])
            == (epoch["figures"]["update_ratio.fc1.weight"])
        )


def test_missing_values_are_empty_and_extra_keys_kept() -> None:
    rows = [
        {"epoch": 1, "train_loss": 0.5, "val_loss": None, "val_accuracy": None, "is_best": True},
        {"epoch": 2, "train_loss": 0.25, "inherited": True, "grad_norm": 3.0},
    ]
    text = metrics_csv(rows)
    lines = text.splitlines()
    assert lines[0] == ",".join([*COLUMNS, "grad_norm"])
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["val_accuracy"] == "" and parsed[0]["is_best"] == "true"
    assert parsed[1]["inherited"] == "true" and parsed[1]["grad_norm"] == "3.0"
    assert metrics_csv([]) == ",".join(COLUMNS) + "\n"


def test_export_to_a_chosen_path_and_refuse_a_non_run(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    events = list(train(replace(CONFIG, epochs=1), tiny_dataset, runs_dir=tmp_path / "runs"))
    run = Path(events[0].run_dir)
    target = export_metrics_csv(run, tmp_path / "out.csv")
    assert target.read_text().count("\n") == 2
    assert json.loads((run / "run.json").read_text())["name"] == run.name
    with pytest.raises(RunError, match="not a run folder"):
        export_metrics_csv(tmp_path)
