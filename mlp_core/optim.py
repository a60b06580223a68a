"""Optimizers and learning-rate schedules, by hand, matching PyTorch's optimizers' update rules.

The tests check each against PyTorch's optimizers over several steps. State lives in tensors
(`momentum_buffer`, `exp_avg`, `exp_avg_sq`) so that a checkpoint can store and restore it.

Each update applies one `torch._foreach_*` call to all four parameters at once (as
PyTorch's own foreach code path does): the arithmetic per element is the same as four
separate calls, but the Python and dispatch cost is paid once, which matters at small batches
where a step's kernels take microseconds. Intermediate results (g + λ·p, the Nesterov step,
Adam's denominator) go into `scratch` tensors made once: a fresh 3 MB tensor per step costs
page faults that took 1.6 ms of a 6.4 ms step at h=1024, batch 128 (measured with
torch.profiler, one thread).

Folding. The weight gradient dW = gᵀx is one matrix product, and BLAS computes C = αAB + βC
as cheaply as AB: the β·C term is read inside the product, which is bound by arithmetic, not
memory. `SGD.fold` uses that to put the product straight into the tensor the update writes
anyway, instead of writing dW and then reading it back for the update:
- plain SGD: p ← (1 − lr·λ)·p − lr·gᵀx, the whole update in the product;
- heavy-ball momentum: b ← μ·(b + (λ/μ)·p) + gᵀx, then p −= lr·b;
- Nesterov: d ← λ·p + gᵀx, b ← d + μ·b, then p −= lr·(d + μ·b).
The same values as PyTorch's SGD up to rounding (the tests check it), with the 3 MB gradient
of the 784x1024 weight never written and 1-3 fewer passes over it. Measured at h=1024,
batch 128, one thread (this project's Xeon): plain SGD 3.49 -> 3.15 ms a step, Nesterov with
weight decay 4.65 -> 4.45 ms. The layer decides how dW reaches the update (its `AddGradient`):
one product into the target in float32; over the kept columns only where the first layer
skips a batch's blank pixels (layers.py, `_BlankColumns`: the kept rows' product is added in,
never the whole gradient written); from the cast gradient where bf16 products made it. Only on
the CPU (`can_fold`): a CUDA graph captures the backward once, with no learning rate in it.
A step whose gradient norms are measured (training_figures) computes dW once more, beside the
folded update, so that folding never depends on when figures are taken: a run is the same
run whether or not anyone watched it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import torch

from mlp_core.config import TrainConfig
from mlp_core.layers import AddGradient, WeightFold

if TYPE_CHECKING:
    from mlp_core.model import MLP

NamedParams = list[tuple[str, torch.Tensor, torch.Tensor]]


def _scratch_like(params: NamedParams) -> list[torch.Tensor]:
    """One reusable tensor per parameter, in its layout, for a step's intermediate results."""
    return [torch.empty_like(p) for _, p, _ in params]


def _add_into(out: list[torch.Tensor], a: list[torch.Tensor], b: list[torch.Tensor], alpha: float):
    """a + alpha·b, element for element as torch._foreach_add(a, b, alpha=alpha).

    On the CPU into `out` (no fresh tensors: see the module doc); on CUDA, where the caching
    allocator makes a fresh tensor free, as one multi-tensor kernel instead of one per tensor.
    """
    if a[0].is_cuda:
        return torch._foreach_add(a, b, alpha=alpha)
    for o, x, y in zip(out, a, b, strict=True):
        torch.add(x, y, alpha=alpha, out=o)
    return out


def can_fold(optimizer: Optimizer, model: MLP) -> bool:
    """Whether this run's steps fold the weights' updates into their backward (module doc):
    SGD, on the CPU."""
    return isinstance(optimizer, SGD) and model.fc1.weight.device.type == "cpu"


class SGD:
    """SGD with momentum, Nesterov and weight decay, as PyTorch's SGD (dampening 0).

    d = g + λ·p;  b = μ·b + d;  step = d + μ·b (Nesterov) or b;  p -= lr·step.
    With μ = 0 this is the lab's plain p -= lr·g.
    """

    def __init__(self, params: NamedParams, momentum: float, nesterov: bool, weight_decay: float):
        self.params = params
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.steps = 0
        self.state: dict[str, torch.Tensor] = {}
        self.scratch = _scratch_like(params)
        if momentum:
            self.state = {f"{name}.momentum_buffer": torch.zeros_like(p) for name, p, _ in params}

    def fold(self, name: str, lr: float) -> WeightFold:
        """The update of weight `name` with learning rate `lr`, its gradient's product inside
        (module doc, "Folding"); `step(lr, folded=...)` must then skip it."""
        index = [n for n, _, _ in self.params].index(name)
        param, scratch = self.params[index][1], self.scratch[index]
        mu, decay = self.momentum, self.weight_decay
        if not mu:
            return lambda add_gradient: add_gradient(param, 1 - lr * decay, -lr)
        buf = self.state[f"{name}.momentum_buffer"]

        def heavy_ball(add_gradient: AddGradient) -> None:
            if decay:
                buf.add_(param, alpha=decay / mu)  # b + (λ/μ)·p
            add_gradient(buf, mu, 1.0)  # b ← μ·b + λ·p + gᵀx
            param.add_(buf, alpha=-lr)

        def nesterov(add_gradient: AddGradient) -> None:
            if decay:
                scratch.copy_(param)
            add_gradient(scratch, decay, 1.0)  # d ← λ·p + gᵀx
            torch.add(scratch, buf, alpha=mu, out=buf)  # b ← d + μ·b
            scratch.add_(buf, alpha=mu)  # d + μ·b
            param.add_(scratch, alpha=-lr)

        return nesterov if self.nesterov else heavy_ball

    def step(self, lr: float, folded: Collection[str] = ()) -> None:
        """Apply one update with learning rate `lr` (gradients are used, then left as they are).

        folded: parameters whose update `fold` already made in this step's backward."""
        if folded:
            self._step_of([i for i, (n, _, _) in enumerate(self.params) if n not in folded], lr)
        else:
            self._step_of(range(len(self.params)), lr)
        self.steps += 1

    def _step_of(self, indices: Sequence[int], lr: float) -> None:
        """The update of the parameters at `indices`, each as PyTorch's SGD makes it."""
        named = [self.params[i] for i in indices]
        params = [p for _, p, _ in named]
        grads = [g for _, _, g in named]
        scratch = [self.scratch[i] for i in indices]
        d = grads
        if self.weight_decay:
            d = _add_into(scratch, grads, params, self.weight_decay)  # d = g + λ·p
        if self.momentum:
            bufs = [self.state[f"{name}.momentum_buffer"] for name, _, _ in named]
            torch._foreach_mul_(bufs, self.momentum)  # b = μ·b + d
            torch._foreach_add_(bufs, d)
            if not self.nesterov:
                d = bufs
            elif d is grads:  # step = d + μ·b, never written over the gradients
                d = _add_into(scratch, grads, bufs, self.momentum)
            else:
                torch._foreach_add_(d, bufs, alpha=self.momentum)
        torch._foreach_add_(params, d, alpha=-lr)  # p -= lr·step


class Adam:
    """Adam with L2 weight decay, as PyTorch's Adam (amsgrad off).

    m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  p -= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
    """

    def __init__(
        self,
        params: NamedParams,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = params
        self.weight_decay = weight_decay
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.state: dict[str, torch.Tensor] = {}
        self.scratch = _scratch_like(params)
        self.denom = _scratch_like(params)
        for name, p, _ in params:
            self.state[f"{name}.exp_avg"] = torch.zeros_like(p)
            self.state[f"{name}.exp_avg_sq"] = torch.zeros_like(p)

    def step(self, lr: float) -> None:
        """Apply one Adam update with learning rate `lr`."""
        self.steps += 1
        bias1 = 1 - self.beta1**self.steps
        bias2_sqrt = math.sqrt(1 - self.beta2**self.steps)
        params = [p for _, p, _ in self.params]
        g = [g for _, _, g in self.params]
        if self.weight_decay:
            g = _add_into(self.scratch, g, params, self.weight_decay)  # g + λ·p
        m = [self.state[f"{name}.exp_avg"] for name, _, _ in self.params]
        v = [self.state[f"{name}.exp_avg_sq"] for name, _, _ in self.params]
        torch._foreach_lerp_(m, g, 1 - self.beta1)  # m = β₁m + (1−β₁)g
        torch._foreach_mul_(v, self.beta2)  # v = β₂v + (1−β₂)g²
        torch._foreach_addcmul_(v, g, g, value=1 - self.beta2)
        denom = self.denom  # √v/√(1−β₂ᵗ) + ε
        if v[0].is_cuda:
            denom = torch._foreach_sqrt(v)
        else:
            for out, v_i in zip(denom, v, strict=True):
                torch.sqrt(v_i, out=out)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-lr / bias1)


Optimizer = SGD | Adam


def make_optimizer(config: TrainConfig, params: NamedParams) -> Optimizer:
    """The optimizer the config names."""
    if config.optimizer == "adam":
        return Adam(params, weight_decay=config.weight_decay)
    return SGD(params, config.momentum, config.nesterov, config.weight_decay)


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate for global step `step` (0-based) of a run.

    constant: lr.  step: lr·γ^⌊epoch / period⌋.  cosine: lr·½(1 + cos(π·step / total)), per
    step, from lr at the first step to nearly 0 at the last, so the curve is smooth; a run
    resumed with the same `epochs` continues it exactly (with more epochs, the curve is
    stretched over the new total from that step on).
    """
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":
        return config.lr * config.lr_gamma ** (step // steps_per_epoch // config.lr_step_epochs)
    total = config.epochs * steps_per_epoch
    progress = min(step / total, 1.0)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
