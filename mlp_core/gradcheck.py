"""Check the hand-written backward pass: against finite differences, and against autograd.

This is the one product module allowed autograd (its file name says `gradcheck`, which the
purity test exempts): autograd is the oracle here, as in the tests, and nothing on the training
path imports this module (tested). The network under test is the real `MLP` with its real
layers, in a float64 copy, so that the finite differences are accurate to about 1e-7.

For every parameter (fc1.weight, fc1.bias, fc2.weight, fc2.bias):

- finite differences: (L(w + ε) − L(w − ε)) / 2ε with ε = 1e-5, on a sample of entries
  (`entries_per_parameter`, always including the largest gradient: 784·h entries at two forward
  passes each would take minutes at h=1024), in float64;
- autograd: the same loss written with `torch.nn.functional` and differentiated by
  `torch.autograd`, on every entry.

The error of one entry is |a − n| / max(|a|, |n|, 1e-3·max|a|), a relative error that treats
entries a thousand times below the parameter's largest gradient on that parameter's scale (a
dead unit's gradient is 0 and its finite difference rounding noise of about 1e-10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mlp_core.layers import Linear, SoftmaxCrossEntropy
from mlp_core.model import INPUT_SIZE, MLP, PARAMETER_NAMES

F64 = torch.float64
EPSILON = 1e-5
#: Pass below these. Measured with the correct backward in float64, batch 8: at fresh weights
#: (h=32..2048) finite differences 3e-10..5e-7 (ε=1e-5; ε=1e-6 gave up to 1e-5 from rounding
#: at h=2048) and autograd about 1e-13; at a checkpoint trained to a loss of 3e-4 the gradients
#: are tiny and rounding in the loss (log of a sum near 1) and in p - 1 shows: 1e-5 and 2e-10.
#: A real bug is far above: a flipped sign gives 2, a forgotten ReLU mask about 1.
FINITE_DIFFERENCE_TOLERANCE = 1e-4
AUTOGRAD_TOLERANCE = 1e-7
SCALE_FLOOR = 1e-3


@dataclass(frozen=True)
class ParameterCheck:
    """One row of the table: a parameter's worst errors against both oracles."""

    name: str
    shape: tuple[int, ...]
    entries_checked: int
    finite_difference_error: float
    autograd_error: float

    @property
    def passed(self) -> bool:
        return (
            self.finite_difference_error < FINITE_DIFFERENCE_TOLERANCE
            and self.autograd_error < AUTOGRAD_TOLERANCE
        )


@dataclass(frozen=True)
class GradcheckReport:
    """Every parameter's row, the batch it was computed on, and the loss there."""

    rows: tuple[ParameterCheck, ...]
    batch: int
    hidden: int
    loss: float
    source: str
    #: Blank pixel columns the first layer left out, as in a CPU training step (0: none).
    skipped_columns: int = 0

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)


def float64_model(state: dict[str, torch.Tensor]) -> MLP:
    """The real MLP with float64 copies of `state`'s four tensors (CPU)."""
    w1, b1, w2, b2 = (state[name].detach().to("cpu", F64).clone() for name in PARAMETER_NAMES)
    return MLP(Linear(w1, b1, needs_input_grad=False), Linear(w2, b2))


def random_state(hidden: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialised weights with small random biases (zero biases would hide bias bugs)."""
    gen = torch.Generator().manual_seed(seed)
    model = MLP.create(hidden, "he", gen, torch.device("cpu"))
    state = {name: p.clone() for name, p in model.state_dict().items()}
    for name in ("fc1.bias", "fc2.bias"):
        state[name] = torch.randn(state[name].shape, generator=gen) * 0.1
    return state


def relative_errors(analytic: torch.Tensor, reference: torch.Tensor, scale: float) -> torch.Tensor:
    """|a − n| / max(|a|, |n|, 1e-3·scale) per entry (see the module docstring)."""
    floor = max(SCALE_FLOOR * scale, 1e-300)
    denominator = torch.maximum(analytic.abs(), reference.abs()).clamp_min(floor)
    return (analytic - reference).abs() / denominator


def autograd_gradients(
    state: dict[str, torch.Tensor], x: torch.Tensor, labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The oracle: the same loss through torch.nn.functional, differentiated by autograd."""
    params = {
        name: state[name].detach().to("cpu", F64).clone().requires_grad_()
        for name in PARAMETER_NAMES
    }
    hidden = torch.relu(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
    loss = F.cross_entropy(F.linear(hidden, params["fc2.weight"], params["fc2.bias"]), labels)
    grads = torch.autograd.grad(loss, [params[name] for name in PARAMETER_NAMES])
    return dict(zip(PARAMETER_NAMES, grads, strict=True))


def _sample_entries(grad: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
    """Flat indices to check: the largest gradient, then random distinct others."""
    total = grad.numel()
    if total <= count:
        return torch.arange(total)
    largest = grad.abs().flatten().argmax().reshape(1)
    others = torch.randperm(total, generator=gen)[: count - 1]
    return torch.unique(torch.cat([largest, others]))


@torch.no_grad()
def finite_differences(
    model: MLP, x: torch.Tensor, labels: torch.Tensor, param: torch.Tensor, flat: torch.Tensor
) -> torch.Tensor:
    """Central differences of the loss at each flat index of `param` (perturbed in place)."""
    values = []
    for index in flat.tolist():
        position = torch.unravel_index(torch.tensor(index), param.shape)
        original = float(param[position])
        losses = []
        for sign in (1.0, -1.0):
            param[position] = original + sign * EPSILON
            losses.append(float(SoftmaxCrossEntropy().forward(model.logits(x), labels)))
        param[position] = original
        values.append((losses[0] - losses[1]) / (2 * EPSILON))
    return torch.tensor(values, dtype=F64)


def check_gradients(
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    make_model: Callable[[dict[str, torch.Tensor]], MLP] = float64_model,
    entries_per_parameter: int = 64,
    seed: int = 0,
    source: str = "",
    blank: float | None = None,
) -> GradcheckReport:
    """Compare `make_model(state)`'s hand-written gradients with both oracles on (x, labels).

    x: (N, 784) float64; labels: (N,) int64. `make_model` lets a test put in a broken backward.
    blank: the blank pixel's value (`data.loader.background`): the first layer then skips the
    batch's blank columns as a CPU training step does, so that path is checked too.
    """
    x = x.to(F64)
    model = make_model(state)
    model.blank_input = blank
    with torch.no_grad():
        loss = float(model.loss_and_backward(x.clone(), labels))
    analytic = {name: g.clone() for name, _p, g in model.named_parameters()}
    skipped = model.fc1.skipped_columns
    oracle = autograd_gradients(state, x, labels)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for name, param, _grad in model.named_parameters():
        grad = analytic[name]
        scale = float(grad.abs().max())
        flat = _sample_entries(grad, entries_per_parameter, gen)
        numeric = finite_differences(model, x, labels, param, flat)
        fd_error = relative_errors(grad.reshape(-1)[flat], numeric, scale).max()
        ag_error = relative_errors(grad, oracle[name].to(F64), scale).max()
        rows.append(
            ParameterCheck(
                name=name,
                shape=tuple(param.shape),
                entries_checked=int(flat.numel()),
                finite_difference_error=float(fd_error),
                autograd_error=float(ag_error),
            )
        )
    return GradcheckReport(
        rows=tuple(rows),
        batch=int(x.shape[0]),
        hidden=model.hidden,
        loss=loss,
        source=source,
        skipped_columns=skipped,
    )


def batch_from_images(
    images: torch.Tensor, labels: torch.Tensor, size: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` images (float, as the network sees them) and labels, in float64."""
    if images.shape[1] != INPUT_SIZE:
        raise ValueError(f"images must have {INPUT_SIZE} columns, not {images.shape[1]}")
    return images[:size].to("cpu", F64), labels[:size].to("cpu", torch.int64)


def report_table(report: GradcheckReport) -> str:
    """The plain-text table `mnist-tui gradcheck` prints (and the app shows)."""
    header = (
        f"{'parameter':<11} {'shape':>11} {'entries':>7} {'finite diff':>11} "
        f"{'autograd':>9}  result"
    )
    lines = [
        f"gradcheck of {report.source or 'the hand-written MLP'}: hidden {report.hidden}, "
        f"batch of {report.batch}, loss {report.loss:.6f}",
        f"max relative error; pass below {FINITE_DIFFERENCE_TOLERANCE:g} (finite differences, "
        f"ε={EPSILON:g}, float64) and {AUTOGRAD_TOLERANCE:g} (autograd)",
        header,
        "-" * len(header),
    ]
    if report.skipped_columns:  # the training step's own path, checked too
        lines.insert(1, f"the first layer skips {report.skipped_columns} blank pixel columns")
    for row in report.rows:
        shape = "x".join(str(d) for d in row.shape)
        lines.append(
            f"{row.name:<11} {shape:>11} {row.entries_checked:>7} "
            f"{row.finite_difference_error:>11.2e} {row.autograd_error:>9.2e}  "
            f"{'pass' if row.passed else 'FAIL'}"
        )
    lines.append("all gradients pass" if report.passed else "gradient check FAILED")
    return "\n".join(lines)
