"""How training moves the weights, per epoch: gradient norms, update ratios, dead ReLU units.

Recorded in each metrics.jsonl row (and EpochEnd) under "figures":

- `grad_norm.<param>`: ‖∇‖₂ of each parameter's gradient at the epoch's last step;
- `update_ratio.<param>`: ‖Δw‖₂ / ‖w‖₂ of that step's update, where Δw is what the optimizer
  really changed (momentum, weight decay and Adam included). The rule of thumb is about 1e-3;
  far above it the weights are being thrown around and the run is likely to diverge;
- `dead_relu`: the share of hidden units that are zero for every image of the validation split
  (of the test split when there is none): units that no longer learn anything.

Why at one step per epoch rather than averaged over all steps: the average needs a copy of the
weights and four norms at every step, about 5-10% of a small step's time (h=128, batch 64 is
~300 µs a step on the CPU); one step per epoch costs one weight copy and eight norms an epoch,
which nothing can measure. The figures stay on the device (no host sync) until the epoch's end,
where the trainer synchronises anyway. The dead units come from the validation pass that the
trainer makes anyway (`loss_accuracy_dead` replaces `loss_and_accuracy` there): no extra pass.

A diverging run: the step after each progress report is measured too, and the latest finite
figures are kept, so the Diverged reason can say what the update ratio was just before the NaN.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from data.loader import Split, ordered_batches
from mlp_core.evaluate import EVAL_BATCH
from mlp_core.model import MLP

FIGURES_KEY = "figures"


class FigureMeter:
    """Measures chosen steps: `before_step` snapshots the weights, `after_step` takes norms."""

    def __init__(self) -> None:
        self._before: list[torch.Tensor] | None = None
        #: Device tensors of the latest measured step (no host sync yet).
        self.pending: dict[str, torch.Tensor] = {}
        #: The latest measured step whose figures were all finite, as floats.
        self.last_finite: dict[str, float] = {}

    def before_step(self, model: MLP, measure: bool) -> None:
        self._before = [p.clone() for _n, p, _g in model.named_parameters()] if measure else None

    def after_step(self, model: MLP) -> None:
        if self._before is None:
            return
        figures: dict[str, torch.Tensor] = {}
        for (name, param, grad), before in zip(model.named_parameters(), self._before, strict=True):
            figures[f"grad_norm.{name}"] = torch.linalg.vector_norm(grad)
            change = torch.linalg.vector_norm(param - before)
            figures[f"update_ratio.{name}"] = change / torch.linalg.vector_norm(before)
        self.pending, self._before = figures, None

    def poll(self) -> dict[str, float]:
        """The pending figures as floats (one host sync); kept as `last_finite` if finite."""
        if not self.pending:
            return {}
        names = list(self.pending)
        values = torch.stack([self.pending[n].float() for n in names]).tolist()
        floats = dict(zip(names, values, strict=True))
        if all(math.isfinite(v) for v in values):
            self.last_finite = floats
        return floats

    def divergence_note(self) -> str:
        """What the last finite measurement said, for the Diverged reason ("" if none)."""
        ratios = {k.split(".", 1)[1]: v for k, v in self.last_finite.items() if "update_ratio" in k}
        if not ratios:
            return ""
        worst = max(ratios, key=ratios.__getitem__)
        return (
            f"; before it, the update/weight ratio of {worst} was {ratios[worst]:.3g} "
            "(rule of thumb 1e-3)"
        )


@torch.no_grad()
def loss_accuracy_dead(model: MLP, split: Split) -> tuple[float, float, float]:
    """Mean cross-entropy, accuracy and share of dead hidden units over `split`.

    As `mlp_core.evaluate.loss_and_accuracy` (one host sync at the end), plus, per hidden unit,
    whether any image activates it.
    """
    device = split.images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    alive = torch.zeros(model.hidden, device=device, dtype=torch.bool)
    for x, y in ordered_batches(split, EVAL_BATCH):
        hidden = model.relu.forward(model.fc1.forward(x))
        alive |= (hidden > 0).any(dim=0)
        logits = model.fc2.forward(hidden)
        log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
        loss_sum -= log_probs.gather(1, y.unsqueeze(1)).sum().double()
        correct += (logits.argmax(dim=1) == y).sum()
    n = len(split)
    dead = 1.0 - alive.sum().item() / model.hidden
    return loss_sum.item() / n, correct.item() / n, dead


def epoch_figures(meter: FigureMeter, dead_relu: float) -> dict[str, Any]:
    """The `figures` entry of an epoch's metrics row."""
    return {**meter.poll(), "dead_relu": dead_relu}


def figure_series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one figure over a run's metrics rows, skipping rows without it."""
    epochs, values = [], []
    for row in rows:
        figures = row.get(FIGURES_KEY)
        value = figures.get(key) if isinstance(figures, dict) else None
        if isinstance(value, int | float) and isinstance(row.get("epoch"), int):
            epochs.append(row["epoch"])
            values.append(float(value))
    return epochs, values
