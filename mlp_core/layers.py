"""Hand-written layers: each `forward` caches what its `backward` needs.

No autograd: every derivative is written next to its forward, as micrograd does. Shapes: N is
the batch, `in`/`out` the feature sizes. Parameter names follow PyTorch (`weight` of shape
(out, in), `bias` of shape (out,)) so that weights load into `torch.nn.Linear` unchanged.
"""

from __future__ import annotations

import math

import torch


class Linear:
    """y = x Wᵀ + b, with W: (out, in) and b: (out,)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, needs_input_grad: bool = True):
        self.weight = weight
        self.bias = bias
        self.grad_weight = torch.zeros_like(weight)
        self.grad_bias = torch.zeros_like(bias)
        # The first layer's input is the data: its gradient is never used, so skip the matmul.
        self.needs_input_grad = needs_input_grad
        self._x: torch.Tensor | None = None

    @classmethod
    def initialised(
        cls,
        in_features: int,
        out_features: int,
        init: str,
        generator: torch.Generator,
        device: torch.device,
        needs_input_grad: bool = True,
    ) -> Linear:
        """A layer with weights drawn on the CPU from `generator` (same values on every device).

        normal: W, b ~ N(0, 1) (the lab's); he: W ~ N(0, 2/in), b = 0;
        xavier: W ~ U(±sqrt(6/(in+out))), b = 0.
        """
        shape = (out_features, in_features)
        if init == "normal":
            weight = torch.randn(shape, generator=generator)
            bias = torch.randn(out_features, generator=generator)
        elif init == "he":
            weight = torch.randn(shape, generator=generator) * math.sqrt(2.0 / in_features)
            bias = torch.zeros(out_features)
        elif init == "xavier":
            bound = math.sqrt(6.0 / (in_features + out_features))
            weight = (torch.rand(shape, generator=generator) * 2 - 1) * bound
            bias = torch.zeros(out_features)
        else:
            raise ValueError(f"unknown init {init!r}")
        return cls(weight.to(device), bias.to(device), needs_input_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in) -> (N, out)."""
        self._x = x
        return torch.addmm(self.bias, x, self.weight.t())

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor | None:
        """grad_out: (N, out) -> grad_in: (N, in); fills grad_weight and grad_bias.

        dW = gᵀ x;  db = Σₙ g;  dx = g W
        """
        assert self._x is not None, "backward before forward"
        torch.mm(grad_out.t(), self._x, out=self.grad_weight)
        torch.sum(grad_out, dim=0, out=self.grad_bias)
        if not self.needs_input_grad:
            return None
        return grad_out.mm(self.weight)

    def parameters(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, gradient) pairs, weight first."""
        return [(self.weight, self.grad_weight), (self.bias, self.grad_bias)]


class ReLU:
    """y = max(x, 0), applied in place: the output alone tells where x was positive."""

    def __init__(self) -> None:
        self._y: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, d) -> (N, d). Overwrites x, which no one needs after this layer."""
        self._y = x.clamp_min_(0.0)
        return self._y

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dx = g · [y > 0]  (computed in place on grad_out)."""
        assert self._y is not None, "backward before forward"
        return grad_out.mul_(self._y > 0)


class SoftmaxCrossEntropy:
    """Softmax and mean cross-entropy fused: stable, and its gradient is simply (p − onehot)/N.

    loss = mean over n of (logsumexp(zₙ) − zₙ[yₙ]), with logsumexp taken after subtracting the
    row maximum, so no exp overflows and no log(0) is ever taken.
    """

    def __init__(self) -> None:
        self._probs: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """logits: (N, C), labels: (N,) int64 -> loss: () tensor (not synced to the host)."""
        shifted = logits - logits.max(dim=1, keepdim=True).values
        log_sum = shifted.exp().sum(dim=1, keepdim=True).log_()
        log_probs = shifted.sub_(log_sum)
        self._probs = log_probs.exp()
        self._labels = labels
        return -log_probs.gather(1, labels.unsqueeze(1)).mean()

    def backward(self) -> torch.Tensor:
        """d loss / d logits = (softmax(z) − onehot(y)) / N, shape (N, C)."""
        assert self._probs is not None and self._labels is not None, "backward before forward"
        grad = self._probs
        grad.scatter_add_(1, self._labels.unsqueeze(1), grad.new_full((grad.shape[0], 1), -1.0))
        return grad.div_(grad.shape[0])
