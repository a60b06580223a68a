"""Run folders (mlp_core/runs.py) and evaluation figures (mlp_core/evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data.loader import Split
from mlp_core.config import TrainConfig
from mlp_core.evaluate import confusion_matrix, evaluate, loss_and_accuracy
from mlp_core.layers import Linear
from mlp_core.model import MLP
from mlp_core.runs import (
    RunError,
    append_metrics,
    checkpoint_paths,
    create_run,
    delete_checkpoint,
    delete_run,
    list_runs,
    load_run,
    read_metrics,
    save_run_info,
)

CONFIG = TrainConfig(hidden=8, device="cpu")
DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


def test_create_run_writes_run_json_and_names_sort_by_time(tmp_path: Path) -> None:
    first = create_run(tmp_path, CONFIG, device="cpu", dataset="tiny")
    second = create_run(tmp_path, CONFIG, device="cpu", dataset="tiny")
    assert first.path != second.path and (first.path / "checkpoints").is_dir()
    assert first.name.split("-")[0].isdigit() and "h8" in first.name
    raw = json.loads((first.path / "run.json").read_text())
    assert raw["status"] == "running" and raw["dataset"] == "tiny"
    assert TrainConfig.from_dict(raw["config"]) == CONFIG
    assert [r.name for r in list_runs(tmp_path)] == [second.name, first.name]  # newest first


def test_metrics_append_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    append_metrics(info.path, {"epoch": 1, "val_accuracy": 0.5, "is_best": True})
    append_metrics(info.path, {"epoch": 2, "val_accuracy": 0.4, "is_best": False})
    with open(info.path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "val_acc')
    rows = read_metrics(info.path)
    assert [r["epoch"] for r in rows] == [1, 2]
    loaded = load_run(info.path)
    assert loaded.epochs_done == 2 and loaded.best() == rows[0]


def test_run_json_fields_of_the_wrong_type_read_as_text(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    raw = json.loads((info.path / "run.json").read_text())
    raw.update(status=5, label=["x"], parent="nope", pid="12")
    (info.path / "run.json").write_text(json.dumps(raw))
    loaded = load_run(info.path)
    assert (loaded.status, loaded.label, loaded.parent, loaded.pid) == ("5", "['x']", None, None)


def test_metrics_lines_that_are_not_epoch_objects_are_skipped(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    append_metrics(info.path, {"epoch": 1, "train_loss": 0.5})
    with open(info.path / "metrics.jsonl", "a") as handle:
        handle.write('3\n"text"\n{"no_epoch": 1}\n')
    append_metrics(info.path, {"epoch": 2, "train_loss": 0.4})
    assert [row["epoch"] for row in read_metrics(info.path)] == [1, 2]


def test_a_running_run_whose_lock_is_free_reads_interrupted(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    assert load_run(info.path).status == "running"  # this process holds the run's lock
    info.pid = DEAD_PID
    save_run_info(info)
    assert load_run(info.path).status == "running"  # the lock decides, not the pid
    info.release()  # as the kernel does when the process dies
    assert load_run(info.path).status == "interrupted"
    info.status = "finished"
    save_run_info(info)
    assert load_run(info.path).status == "finished"


def test_unreadable_runs_are_reported_not_raised(tmp_path: Path) -> None:
    good = create_run(tmp_path, CONFIG)
    broken = tmp_path / "20200101-000000-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    bad_config = tmp_path / "20200101-000001-badconfig"
    bad_config.mkdir()
    (bad_config / "run.json").write_text(json.dumps({"config": {"hidden": -3}}))
    not_an_object = tmp_path / "20200101-000002-list"
    not_an_object.mkdir()
    (not_an_object / "run.json").write_text("[1, 2]")
    (tmp_path / "not-a-run").mkdir()
    found = list_runs(tmp_path)
    assert len(found) == 4
    assert found[0].name == good.name
    errors = [f for f in found if isinstance(f, RunError)]
    assert len(errors) == 3 and all("run.json" in str(e) for e in errors)
    with pytest.raises(RunError, match=r"run\.json"):
        load_run(broken)
    assert list_runs(tmp_path / "absent") == []


def test_checkpoint_paths_order_and_delete(tmp_path: Path) -> None:
    info = create_run(tmp_path, CONFIG)
    for name in ("epoch-0002", "best", "epoch-0001", "last"):
        (info.path / "checkpoints" / f"{name}.safetensors").write_bytes(b"")
    (info.path / "checkpoints" / ".last.safetensors.x.tmp").write_bytes(b"")
    names = [p.name for p in checkpoint_paths(info.path)]
    assert names == [
        "last.safetensors",
        "best.safetensors",
        "epoch-0001.safetensors",
        "epoch-0002.safetensors",
    ]
    with pytest.raises(RunError):
        delete_run(tmp_path)  # not a run folder: refused
    last = info.path / "checkpoints" / "last.safetensors"
    with pytest.raises(RunError, match="is training"):
        delete_checkpoint(last)  # this process holds the run's lock: it trains
    with pytest.raises(RunError, match="is training"):
        delete_run(info.path)
    assert last.exists()
    info.release()  # its process ended
    delete_checkpoint(last)
    assert not last.exists()
    delete_run(info.path)
    assert not info.path.exists()


# -- evaluation -----------------------------------------------------------------------------


def _model_that_reads_the_first_ten_pixels() -> MLP:
    """logits = the first ten inputs: predictions are easy to set up."""
    fc1 = Linear(torch.eye(10, 784), torch.zeros(10), needs_input_grad=False)
    fc2 = Linear(torch.eye(10), torch.zeros(10))
    return MLP(fc1, fc2)


def test_evaluate_figures() -> None:
    labels = torch.tensor([0, 1, 2, 2, 3])
    predicted = torch.tensor([0, 1, 1, 2, 0])
    images = torch.zeros(5, 784)
    images[torch.arange(5), predicted] = 5.0
    result = evaluate(_model_that_reads_the_first_ten_pixels(), Split(images, labels))
    assert result.count == 5 and result.accuracy == pytest.approx(0.6)
    assert result.confusion[2] == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert result.confusion[3][0] == 1
    assert result.per_class_accuracy[:4] == pytest.approx([1.0, 1.0, 0.5, 0.0])
    assert result.per_class_accuracy[4:] == [0.0] * 6  # absent classes: 0, not NaN
    expected_loss = torch.nn.functional.cross_entropy(images[:, :10], labels).item()
    assert result.loss == pytest.approx(expected_loss, rel=1e-6)
    assert loss_and_accuracy(_model_that_reads_the_first_ten_pixels(), Split(images, labels)) == (
        pytest.approx(expected_loss, rel=1e-6),
        pytest.approx(0.6),
    )
    assert json.loads(json.dumps(result.to_dict()))["count"] == 5


def test_confusion_matrix_counts() -> None:
    matrix = confusion_matrix(torch.tensor([1, 1, 9]), torch.tensor([1, 3, 9]))
    assert matrix.shape == (10, 10) and matrix.sum() == 3
    assert matrix[1, 1] == 1 and matrix[1, 3] == 1 and matrix[9, 9] == 1
