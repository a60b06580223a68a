"""Evaluation of a checkpoint, its mistakes, lineage, labels and checkpoint deletion."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from data.mnist import Dataset
from mlp_core.checkpoint import CheckpointError, load_checkpoint
from mlp_core.config import TrainConfig
from mlp_core.evaluate import predict
from mlp_core.inspect import (
    checkpoint_test_split,
    children,
    evaluate_checkpoint,
    filter_cell,
    inspect_checkpoint,
    lineage,
    lineage_text,
    misclassified,
    misclassified_from_probabilities,
)
from mlp_core.model import MLP
from mlp_core.runs import RunError, delete_checkpoint, load_run, set_label_and_note
from mlp_core.trainer import train

CONFIG = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")


def run_dir_of(events: list) -> Path:
    return Path(events[0].run_dir)


@pytest.fixture
def trained_run(tiny_dataset: Dataset, tmp_path: Path) -> Path:
    """A run of one epoch on the tiny set; returns its folder."""
    return run_dir_of(list(train(CONFIG, tiny_dataset, runs_dir=tmp_path / "runs")))


def test_confusion_matrix_adds_up_to_the_figures(trained_run: Path, tiny_dataset: Dataset) -> None:
    result = evaluate_checkpoint(trained_run / "checkpoints/last.safetensors", tiny_dataset, "cpu")
    matrix = np.array(result.confusion)
    assert matrix.shape == (10, 10)
    assert matrix.sum() == len(tiny_dataset.test_labels) == result.count
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.accuracy)
    # Row sums are the class counts of the test set; per-class accuracy is diagonal / row sum.
    counts = np.bincount(tiny_dataset.test_labels, minlength=10)
    assert matrix.sum(axis=1).tolist() == counts.tolist()
    for label in range(10):
        expected = matrix[label, label] / counts[label]
        assert result.per_class_accuracy[label] == pytest.approx(expected)
    # The same test figures the trainer measured at the end of the epoch.
    metrics = json.loads((trained_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert result.accuracy == pytest.approx(metrics["test_accuracy"])
    assert result.loss == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_evaluation_standardises_as_the_checkpoint_was_trained(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    for standardize in (True, False):
        config = replace(CONFIG, standardize=standardize)
        run = run_dir_of(list(train(config, tiny_dataset, runs_dir=tmp_path / str(standardize))))
        checkpoint = load_checkpoint(run / "checkpoints/last.safetensors")
        split = checkpoint_test_split(checkpoint, tiny_dataset, torch.device("cpu"))
        raw = torch.from_numpy(tiny_dataset.test_images.astype(np.float32)) / 255
        assert torch.allclose(split.images, (raw - 0.1307) / 0.3081 if standardize else raw)
        result = evaluate_checkpoint(checkpoint.path, tiny_dataset, "cpu")
        metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        assert result.accuracy == pytest.approx(metrics["test_accuracy"])


def test_progress_is_reported_up_to_done(trained_run: Path, tiny_dataset: Dataset) -> None:
    seen: list[tuple[str, float]] = []
    evaluate_checkpoint(
        trained_run / "checkpoints/last.safetensors",
        tiny_dataset,
        "cpu",
        progress=lambda stage, fraction: seen.append((stage, fraction)),
    )
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions)
    assert seen[-1] == ("done", 1.0)


def test_misclassified_are_really_wrong(trained_run: Path, tiny_dataset: Dataset) -> None:
    inspection = inspect_checkpoint(
        trained_run / "checkpoints/last.safetensors", tiny_dataset, "cpu"
    )
    result, mistakes = inspection.result, inspection.mistakes
    assert len(mistakes) == result.count - sum(result.confusion[i][i] for i in range(10))
    assert mistakes, "one epoch of a 16-unit net should still make some mistakes"
    checkpoint = load_checkpoint(trained_run / "checkpoints/last.safetensors")
    model = MLP.from_state_dict(checkpoint.weights(), torch.device("cpu"))
    split = checkpoint_test_split(checkpoint, tiny_dataset, torch.device("cpu"))
    probabilities, predicted = predict(model, split)
    for mistake in mistakes:
        assert mistake.true_label == int(tiny_dataset.test_labels[mistake.index])
        assert mistake.predicted == int(predicted[mistake.index]) != mistake.true_label
        assert len(mistake.top) == 3
        assert mistake.top[0][0] == mistake.predicted
        probs = [p for _, p in mistake.top]
        assert probs == sorted(probs, reverse=True)
        assert probs[0] == pytest.approx(float(probabilities[mistake.index].max()))
    assert [m.index for m in mistakes] == sorted(m.index for m in mistakes)
    assert misclassified(model, split) == list(mistakes)


def test_misclassified_filtered_by_cell_matches_the_confusion_count(
    trained_run: Path, tiny_dataset: Dataset
) -> None:
    inspection = inspect_checkpoint(
        trained_run / "checkpoints/last.safetensors", tiny_dataset, "cpu"
    )
    confusion = inspection.result.confusion
    for true_label in range(10):
        for guess in range(10):
            chosen = filter_cell(inspection.mistakes, (true_label, guess))
            expected = 0 if true_label == guess else confusion[true_label][guess]
            assert len(chosen) == expected
            assert all((m.true_label, m.predicted) == (true_label, guess) for m in chosen)


def test_misclassified_from_known_probabilities() -> None:
    probabilities = torch.tensor(
        [
            [0.7, 0.2, 0.1],  # label 0, right
            [0.1, 0.3, 0.6],  # label 1, predicted 2
            [0.5, 0.4, 0.1],  # label 1, predicted 0
            [0.2, 0.7, 0.1],  # label 2, predicted 1
        ]
    )
    labels = torch.tensor([0, 1, 1, 2])
    everything = misclassified_from_probabilities(probabilities, labels, top=2)
    assert [(m.index, m.true_label, m.predicted) for m in everything] == [
        (1, 1, 2),
        (2, 1, 0),
        (3, 2, 1),
    ]
    assert [c for c, _ in everything[0].top] == [2, 1]
    assert [p for _, p in everything[0].top] == pytest.approx([0.6, 0.3])
    only = misclassified_from_probabilities(probabilities, labels, cell=(1, 0))
    assert [m.index for m in only] == [2]
    assert misclassified_from_probabilities(probabilities, labels, cell=(0, 0)) == []


def test_corrupted_checkpoint_is_a_checkpoint_error(
    trained_run: Path, tiny_dataset: Dataset
) -> None:
    path = trained_run / "checkpoints/last.safetensors"
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(CheckpointError, match=r"last\.safetensors"):
        evaluate_checkpoint(path, tiny_dataset, "cpu")
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        inspect_checkpoint(path, tiny_dataset, "cpu")
    with pytest.raises(CheckpointError, match="no such"):
        evaluate_checkpoint(trained_run / "missing.safetensors", tiny_dataset, "cpu")


def test_lineage_follows_parents(trained_run: Path, tiny_dataset: Dataset) -> None:
    runs_dir = trained_run.parent
    assert lineage(trained_run) == []
    assert lineage_text(trained_run) == ""
    first = load_checkpoint(trained_run / "checkpoints/last.safetensors")
    fork_config = replace(CONFIG, epochs=2, lr=0.01)
    fork = run_dir_of(list(train(fork_config, tiny_dataset, runs_dir=runs_dir, start=first)))
    second = load_checkpoint(fork / "checkpoints/last.safetensors")
    grandchild_config = replace(CONFIG, epochs=3, lr=0.005)
    grandchild = run_dir_of(
        list(train(grandchild_config, tiny_dataset, runs_dir=runs_dir, start=second))
    )
    chain = lineage(grandchild)
    assert [(a.run, a.epoch, a.exists) for a in chain] == [
        (fork.name, 2, True),
        (trained_run.name, 1, True),
    ]
    assert chain[0].checkpoint == str(fork / "checkpoints/last.safetensors")
    assert lineage_text(grandchild) == f"forked from {fork.name}@2 ← {trained_run.name}@1"
    assert children(runs_dir, trained_run.name) == [fork.name]
    assert children(runs_dir, fork.name) == [grandchild.name]
    # A deleted parent ends the chain, marked.
    shutil.rmtree(trained_run)
    assert lineage_text(grandchild).endswith(f"{trained_run.name}@1 (deleted)")


def test_lineage_survives_a_loop(tmp_path: Path, trained_run: Path) -> None:
    info = json.loads((trained_run / "run.json").read_text())
    info["parent"] = {"run": trained_run.name, "checkpoint": "x", "epoch": 1}
    (trained_run / "run.json").write_text(json.dumps(info))
    assert [a.run for a in lineage(trained_run)] == [trained_run.name]


def test_label_and_note_round_trip(trained_run: Path) -> None:
    before = load_run(trained_run)
    set_label_and_note(trained_run, label="  wide  ", note="first try\nlr too high?")
    after = load_run(trained_run)
    assert (after.label, after.note) == ("wide", "first try\nlr too high?")
    assert (after.status, after.config, after.metrics) == (
        before.status,
        before.config,
        before.metrics,
    )
    set_label_and_note(trained_run, note="")
    again = load_run(trained_run)
    assert (again.label, again.note) == ("wide", "")
    assert not list(trained_run.glob(".run.json.*")), "no temporary file left behind"


def test_a_label_set_while_training_survives_the_status_change(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    config = TrainConfig(hidden=16, batch_size=64, epochs=2, val_split=100, device="cpu")
    events = train(config, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    started = next(events)
    next(events)  # the first epoch ends; the run is still running
    assert load_run(Path(started.run_dir)).status == "running"
    set_label_and_note(Path(started.run_dir), label="wide", note="try me")
    list(events)
    info = load_run(Path(started.run_dir))
    assert (info.status, info.label, info.note) == ("finished", "wide", "try me")


def test_delete_checkpoint(trained_run: Path) -> None:
    best = trained_run / "checkpoints/best.safetensors"
    assert best.is_file()
    delete_checkpoint(best)
    assert not best.exists()
    assert (trained_run / "checkpoints/last.safetensors").is_file()
    with pytest.raises(RunError, match="no such"):
        delete_checkpoint(best)
    with pytest.raises(RunError, match="not a checkpoint"):
        delete_checkpoint(trained_run / "run.json")
