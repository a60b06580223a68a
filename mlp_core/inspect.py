"""Looking back at what was trained: evaluate a checkpoint, list its mistakes, follow lineage.

The app's evaluation and misclassified views and `mnist-tui eval` all call these functions, so the
figures are the same everywhere. Nothing here imports the UI; results are plain Python values
(lists, ints, floats), safe to hand from a worker thread to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.idx import DatasetError
from data.loader import Split, to_float
from data.mnist import Dataset, load_dataset
from mlp_core.checkpoint import Checkpoint, load_checkpoint
from mlp_core.device import resolve_device
from mlp_core.evaluate import EvalResult, evaluate, predict
from mlp_core.model import MLP
from mlp_core.runs import RUN_FILE, RunError, load_run

#: progress(stage, fraction in [0, 1]): told before each slow step of an evaluation.
ProgressCallback = Callable[[str, float], None]

TOP_K = 3


@dataclass(frozen=True)
class Misclassified:
    """One test image the network got wrong.

    index: position in the test split (file order), to fetch its pixels from the dataset.
    top: the `TOP_K` most probable classes as (class, probability), most probable first.
    """

    index: int
    true_label: int
    predicted: int
    top: tuple[tuple[int, float], ...]


@dataclass(frozen=True, eq=False)
class Inspection:
    """What the evaluation view shows: the figures, every mistake, and the data set used (its
    uint8 test images are what the misclassified view draws)."""

    checkpoint: str
    run: str
    epoch: int
    standardize: bool
    result: EvalResult
    mistakes: tuple[Misclassified, ...]
    dataset: Dataset


def checkpoint_test_split(checkpoint: Checkpoint, dataset: Dataset, device: torch.device) -> Split:
    """The test split as this checkpoint was trained to see it (standardised or not)."""
    return Split(
        images=to_float(dataset.test_images, checkpoint.config.standardize, device),
        labels=torch.from_numpy(dataset.test_labels.astype(np.int64)).to(device),
    )


def recorded_dataset(checkpoint: Checkpoint) -> str:
    """The name of the data set `checkpoint` was trained on: its metadata, or for files from
    before it was recorded, its run folder's run.json; "" when neither says."""
    if checkpoint.dataset:
        return checkpoint.dataset
    run_path = checkpoint.path.parent.parent
    if (run_path / RUN_FILE).is_file():
        try:
            return load_run(run_path).dataset
        except RunError:
            return ""
    return ""


def check_dataset(checkpoint: Checkpoint, dataset: Dataset) -> None:
    """Refuse to score a checkpoint on a data set other than its own (MNIST figures of an
    optdigits model mean nothing), naming the --data-dir to give."""
    recorded = recorded_dataset(checkpoint)
    if not recorded or recorded == dataset.name:
        return
    where = (
        f"--data-dir {checkpoint.data_dir}"
        if checkpoint.data_dir
        else (
            "no --data-dir (the bundled MNIST)"
            if recorded == "MNIST"
            else f"the --data-dir of {recorded!r}"
        )
    )
    raise DatasetError(
        f"{checkpoint.path}: trained on {recorded!r}, not on {dataset.name!r}; give {where}"
    )


def dataset_for_checkpoint(
    checkpoint: Checkpoint, data_dir: Path | str | None
) -> tuple[Dataset, str | None]:
    """The data set to evaluate `checkpoint` on, and a note when it was not the one asked for.

    With `data_dir`, that one (refused if it is another data set). Without it, the bundled
    MNIST, unless the checkpoint records another data set whose folder still exists: then that
    folder, said in the note. Raises DatasetError.
    """
    recorded = recorded_dataset(checkpoint)
    note = None
    own_folder = bool(checkpoint.data_dir) and Path(checkpoint.data_dir).is_dir()
    if data_dir is None and recorded not in ("", "MNIST") and own_folder:
        data_dir = checkpoint.data_dir
        note = f"using the data set the checkpoint was trained on: {data_dir}"
    dataset = load_dataset(data_dir)
    check_dataset(checkpoint, dataset)
    return dataset, note


def _report(progress: ProgressCallback | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, fraction)


def _prepare(
    path: Path | str,
    dataset: Dataset | None,
    device: str,
    progress: ProgressCallback | None,
    data_dir: Path | str | None = None,
) -> tuple[Checkpoint, MLP, Split, Dataset]:
    """Load checkpoint, data and model: the checkpoint first, so a bad file fails at once.

    Raises CheckpointError, DatasetError (another data set than the checkpoint's), DeviceError.
    """
    _report(progress, "reading checkpoint", 0.0)
    checkpoint = load_checkpoint(path)
    torch_device = resolve_device(device)
    if dataset is None:
        _report(progress, "loading data", 0.2)
        dataset, _note = dataset_for_checkpoint(checkpoint, data_dir)
    check_dataset(checkpoint, dataset)
    _report(progress, "preparing test split", 0.4)
    model = MLP.from_state_dict(checkpoint.weights(), torch_device)
    split = checkpoint_test_split(checkpoint, dataset, torch_device)
    return checkpoint, model, split, dataset


def evaluate_checkpoint(
    path: Path | str,
    dataset: Dataset | None = None,
    device: str = "auto",
    *,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Loss, accuracy, per-class accuracy and confusion matrix of a checkpoint on the test set.

    dataset: the bundled MNIST when None. Raises CheckpointError for a bad file.
    """
    _checkpoint, model, split, _dataset = _prepare(path, dataset, device, progress)
    _report(progress, "evaluating", 0.6)
    result = evaluate(model, split)
    _report(progress, "done", 1.0)
    return result


def inspect_checkpoint(
    path: Path | str,
    dataset: Dataset | None = None,
    device: str = "auto",
    *,
    progress: ProgressCallback | None = None,
    data_dir: Path | str | None = None,
) -> Inspection:
    """`evaluate_checkpoint` plus the list of misclassified test images (for the app).

    dataset: when None, loaded from `data_dir` (the bundled MNIST when that is None too) after
    the checkpoint has been read.
    """
    checkpoint, model, split, dataset = _prepare(path, dataset, device, progress, data_dir)
    _report(progress, "evaluating", 0.6)
    result = evaluate(model, split)
    _report(progress, "finding mistakes", 0.85)
    probabilities, _ = predict(model, split)
    mistakes = misclassified_from_probabilities(probabilities, split.labels.cpu())
    _report(progress, "done", 1.0)
    return Inspection(
        checkpoint=str(checkpoint.path),
        run=checkpoint.run,
        epoch=checkpoint.epoch,
        standardize=checkpoint.config.standardize,
        result=result,
        mistakes=tuple(mistakes),
        dataset=dataset,
    )


def misclassified_from_probabilities(
    probabilities: torch.Tensor,
    labels: torch.Tensor,
    cell: tuple[int, int] | None = None,
    top: int = TOP_K,
) -> list[Misclassified]:
    """Every wrong prediction, in test-set order; `cell=(true, predicted)` keeps only those.

    probabilities: (N, C) on any device; labels: (N,) int. Batched: one sort, one gather.
    """
    probabilities = probabilities.cpu()
    labels = labels.cpu().to(torch.int64)
    predicted = probabilities.argmax(dim=1)
    wrong = predicted != labels
    if cell is not None:
        wrong &= (labels == cell[0]) & (predicted == cell[1])
    indices = wrong.nonzero().flatten()
    k = min(top, probabilities.shape[1])
    top_p, top_c = probabilities[indices].topk(k, dim=1)
    return [
        Misclassified(
            index=index,
            true_label=true_label,
            predicted=guess,
            top=tuple(zip(classes, (float(p) for p in probs), strict=True)),
        )
        for index, true_label, guess, classes, probs in zip(
            indices.tolist(),
            labels[indices].tolist(),
            predicted[indices].tolist(),
            top_c.tolist(),
            top_p.tolist(),
            strict=True,
        )
    ]


def misclassified(
    model: MLP, split: Split, cell: tuple[int, int] | None = None, top: int = TOP_K
) -> list[Misclassified]:
    """The wrong predictions of `model` on `split` (see `misclassified_from_probabilities`)."""
    probabilities, _ = predict(model, split)
    return misclassified_from_probabilities(probabilities, split.labels, cell, top)


def filter_cell(
    mistakes: tuple[Misclassified, ...] | list[Misclassified], cell: tuple[int, int] | None
) -> list[Misclassified]:
    """Only the mistakes of one confusion-matrix cell (true, predicted); all when None."""
    if cell is None:
        return list(mistakes)
    return [m for m in mistakes if (m.true_label, m.predicted) == cell]


# -- lineage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ancestor:
    """One step up a run's lineage: the run it was forked from and at which checkpoint.

    exists: False when that run's folder is gone (deleted); the chain stops there.
    """

    run: str
    checkpoint: str
    epoch: int | None
    exists: bool


def lineage(run_path: Path) -> list[Ancestor]:
    """The chain of parents of the run at `run_path`, nearest first (empty for a fresh run).

    Parents are looked up beside the run (same runs folder). A loop (hand-edited files) or an
    unreadable parent ends the chain rather than raising.
    """
    chain: list[Ancestor] = []
    seen = {run_path.name}
    parent = _parent_of(run_path)
    while parent is not None:
        name = str(parent.get("run", ""))
        folder = run_path.parent / name
        exists = bool(name) and (folder / RUN_FILE).is_file()
        chain.append(
            Ancestor(
                run=name,
                checkpoint=str(parent.get("checkpoint", "")),
                epoch=parent.get("epoch"),
                exists=exists,
            )
        )
        if not exists or name in seen:
            break
        seen.add(name)
        parent = _parent_of(folder)
    return chain


def _parent_of(run_path: Path) -> dict[str, Any] | None:
    try:
        parent = load_run(run_path).parent
    except RunError:
        return None
    return parent if isinstance(parent, dict) else None


def lineage_text(run_path: Path) -> str:
    """One line for the checkpoint panel: ``forked from a@3 ← b@1`` or "" for a fresh run."""
    chain = lineage(run_path)
    if not chain:
        return ""
    return "forked from " + " ← ".join(_ancestor_text(a) for a in chain)


def _ancestor_text(ancestor: Ancestor) -> str:
    text = ancestor.run if ancestor.epoch is None else f"{ancestor.run}@{ancestor.epoch}"
    return text if ancestor.exists else f"{text} (deleted)"


def children(runs_dir: Path, run_name: str) -> list[str]:
    """Names of the runs forked directly from `run_name`, oldest first."""
    found = []
    if not runs_dir.is_dir():
        return found
    for folder in sorted(p for p in runs_dir.iterdir() if (p / RUN_FILE).is_file()):
        parent = _parent_of(folder)
        if parent is not None and parent.get("run") == run_name:
            found.append(folder.name)
    return found
