"""Evaluation: loss, accuracy, per-class accuracy and the confusion matrix, batched."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from data.loader import Split, ordered_batches
from mlp_core.model import MLP

EVAL_BATCH = 8192


@dataclass(frozen=True)
class EvalResult:
    """Figures over one split. confusion[t][p] counts images of true class t predicted as p."""

    loss: float
    accuracy: float
    per_class_accuracy: list[float]
    confusion: list[list[int]]
    count: int

    def to_dict(self) -> dict[str, object]:
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion": self.confusion,
            "count": self.count,
        }


@torch.no_grad()
def loss_and_accuracy(model: MLP, split: Split) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over `split` (one host sync at the end)."""
    loss_sum = torch.zeros((), device=split.images.device, dtype=torch.float64)
    correct = torch.zeros((), device=split.images.device, dtype=torch.int64)
    for x, y in ordered_batches(split, EVAL_BATCH):
        logits = model.logits(x)
        log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
        loss_sum -= log_probs.gather(1, y.unsqueeze(1)).sum().double()
        correct += (logits.argmax(dim=1) == y).sum()
    n = len(split)
    return loss_sum.item() / n, correct.item() / n


@torch.no_grad()
def predict(model: MLP, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, 10), predicted class (N,)) for every image, on the CPU."""
    probs = [model.predict_proba(x).cpu() for x, _ in ordered_batches(split, EVAL_BATCH)]
    all_probs = torch.cat(probs) if probs else torch.zeros((0, 10))
    return all_probs, all_probs.argmax(dim=1)


def confusion_matrix(
    labels: torch.Tensor, predicted: torch.Tensor, classes: int = 10
) -> torch.Tensor:
    """(classes, classes) int64 counts: row = true class, column = predicted."""
    flat = labels.to(torch.int64) * classes + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=classes * classes).reshape(classes, classes)


@torch.no_grad()
def evaluate(model: MLP, split: Split) -> EvalResult:
    """Every figure `mnist-tui eval` and the app's evaluation view show."""
    loss, accuracy = loss_and_accuracy(model, split)
    _, predicted = predict(model, split)
    matrix = confusion_matrix(split.labels.cpu(), predicted)
    per_class_total = matrix.sum(dim=1).clamp_min(1)
    per_class = (matrix.diagonal() / per_class_total).tolist()
    return EvalResult(
        loss=loss,
        accuracy=accuracy,
        per_class_accuracy=[float(v) for v in per_class],
        confusion=matrix.tolist(),
        count=len(split),
    )
