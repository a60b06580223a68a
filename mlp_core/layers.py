"""Hand-written layers: each `forward` caches what its `backward` needs.

No autograd: every derivative is written next to its forward, as micrograd does. Shapes: N is
the batch, `in`/`out` the feature sizes. Parameter names follow PyTorch (`weight` of shape
(out, in), `bias` of shape (out,)) so that weights load into PyTorch's `Linear` module unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: `add_gradient(target, beta, alpha)`: target ← β·target + α·dW, with dW this step's weight
#: gradient, made inside the call (a product, never written out on its own); `target` has the
#: weight's shape and layout.
AddGradient = Callable[[torch.Tensor, float, float], None]

#: An optimizer's update of one layer's weight, called with the layer's `AddGradient`, so that
#: the product dW = grad_outᵀ x happens inside the update (see mlp_core/optim.py, "Folding").
WeightFold = Callable[[AddGradient], None]

#: The first layer skips the input columns that are blank in every image of a batch only where
#: at most this share of them is not: above it the gathers cost more than the products save.
SKIP_BLANK_BELOW = 0.85


def column_major(weight: torch.Tensor) -> torch.Tensor:
    """The same (out, in) matrix, stored column by column (a copy), so that `weight.t()` is
    contiguous.

    Why: the forward product x Wᵀ then reaches BLAS as a plain (N, in) @ (in, out) product, which
    MKL runs up to 1.5x faster than the transposed-operand form at small batches (measured on
    this project's CPU: 78 vs 100 µs at h=128, batch 64; 233 vs 342 µs at h=1024, batch 16) and
    never slower at large ones. Shape, values, names and checkpoints are unchanged (checkpoints
    store `.contiguous()` copies); gradients and optimizer state follow the same layout because
    they are made with `zeros_like`.
    """
    return weight.t().contiguous().t()


class Linear:
    """y = x Wᵀ + b, with W: (out, in) and b: (out,).

    W may have any layout; `initialised` and `MLP.from_state_dict` store it column-major (see
    `column_major`). The constructor keeps the tensors it is given, not copies.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, needs_input_grad: bool = True):
        self.weight = weight
        self.bias = bias
        self.grad_weight = torch.zeros_like(weight)
        self.grad_bias = torch.zeros_like(bias)
        # The first layer's input is the data: its gradient is never used, so skip the matmul.
        self.needs_input_grad = needs_input_grad
        self._x: torch.Tensor | None = None
        #: This step's skipped blank columns (`forward` with `blank`), or None: every column.
        self._skip: _BlankColumns | None = None
        #: Reusable (in, out) buffers of the kept columns' rows, by role and dtype.
        self._buffers: dict[tuple[str, torch.dtype], torch.Tensor] = {}
        # Low precision only: the weight cast for this step's products, and reusable buffers.
        self._low_weight: torch.Tensor | None = None
        self._low_cache: torch.Tensor | None = None
        self._low_grad = torch.empty(0)

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
        return cls(column_major(weight).to(device), bias.to(device), needs_input_grad)

    def forward(
        self,
        x: torch.Tensor,
        compute_dtype: torch.dtype | None = None,
        blank: float | None = None,
    ) -> torch.Tensor:
        """x: (N, in) -> (N, out).

        compute_dtype (bf16, see mlp_core/precision.py): the product takes operands of that
        dtype and returns one; the float32 weight is cast into a buffer kept between steps (a
        fresh 3 MB tensor each step would cost page faults), which backward's dx reuses.

        blank (the first layer, on the CPU): the value of a blank pixel. The columns of x that
        hold it in every image of the batch are left out of the products (`_BlankColumns`).
        """
        self._skip = None
        if blank is not None and not self.needs_input_grad:
            skip = _BlankColumns.of(x, blank)
            if skip is not None:
                return self._forward_kept(x, skip, compute_dtype)
        if compute_dtype is None or compute_dtype == self.weight.dtype:
            self._x, self._low_weight = x, None
            return torch.addmm(self.bias, x, self.weight.t())
        low = self._low_buffers(compute_dtype)
        low.copy_(self.weight)
        self._x, self._low_weight = x.to(compute_dtype), low
        return torch.addmm(self.bias.to(compute_dtype), self._x, low.t())

    @property
    def skipped_columns(self) -> int:
        """Input columns the last forward left out as blank (0: it took every one)."""
        return 0 if self._skip is None else int(self._skip.skipped.numel())

    def _forward_kept(
        self, x: torch.Tensor, skip: _BlankColumns, compute_dtype: torch.dtype | None
    ) -> torch.Tensor:
        """The forward product over the kept columns only; the skipped ones, all `blank`,
        add blank·(their weights' sum) to every row, a bias of this step."""
        rows = skip.kept_rows(self.weight, self._buffer("rows", self.weight.dtype))
        bias = skip.bias(self.bias, self.weight)
        self._skip, self._low_weight = skip, None
        x_kept = x.index_select(1, skip.kept)
        if compute_dtype is not None and compute_dtype != self.weight.dtype:
            x_kept, bias = x_kept.to(compute_dtype), bias.to(compute_dtype)
            rows = skip.head(self._buffer("rows", compute_dtype)).copy_(rows)
        self._x = x_kept
        return torch.addmm(bias, x_kept, rows)

    def _buffer(self, role: str, dtype: torch.dtype) -> torch.Tensor:
        """A reusable (in, out) buffer for `role` (the kept rows of the transposed weight, or
        their gradient) in `dtype`: a fresh 3 MB tensor each step costs page faults."""
        shape, device = self.weight.t().shape, self.weight.device
        buffer = self._buffers.get((role, dtype))
        if buffer is None or buffer.shape != shape or buffer.device != device:
            buffer = self._buffers[role, dtype] = torch.empty(shape, dtype=dtype, device=device)
        return buffer

    def backward(
        self,
        grad_out: torch.Tensor,
        fold: WeightFold | None = None,
        keep_gradient: bool = True,
    ) -> torch.Tensor | None:
        """grad_out: (N, out) -> grad_in: (N, in); fills grad_weight and grad_bias.

        dW = gᵀ x;  db = Σₙ g;  dx = g W

        fold: the optimizer's update of the weight, called (after dx is computed from the
        weight as it was) with this layer's `AddGradient`: dW's product inside it in float32,
        over the kept columns where blank ones were skipped, the cast gradient in low
        precision. grad_weight is then filled only when keep_gradient (a step whose gradient
        norms are measured), by a second product.

        dW is written as (xᵀ g)ᵀ when grad_weight is column-major: the product then lands in
        contiguous memory (torch.mm into a transposed `out` computes into a temporary and
        copies). In low precision the products run in the forward's dtype, dW is cast into the
        float32 gradient, and db is summed in float32.
        """
        assert self._x is not None, "backward before forward"
        if self._skip is not None:
            self._backward_kept(self._skip, grad_out, fold, keep_gradient)
            return None
        low = self._low_weight
        if low is None:
            torch.sum(grad_out, dim=0, out=self.grad_bias)
            grad_in = grad_out.mm(self.weight) if self.needs_input_grad else None
            if fold is None or keep_gradient:
                _matmul_into(self.grad_weight, grad_out, self._x)
            if fold is not None:
                x = self._x
                fold(lambda target, beta, alpha: _add_product(target, x, grad_out, beta, alpha))
            return grad_in
        grad_low = grad_out.to(low.dtype)
        _matmul_into(self._low_grad, grad_low, self._x)
        self.grad_weight.copy_(self._low_grad)
        torch.sum(grad_out, dim=0, dtype=self.grad_bias.dtype, out=self.grad_bias)
        grad_in = grad_low.mm(low) if self.needs_input_grad else None
        if fold is not None:  # the product ran in low precision: the update reads its cast
            grad = self.grad_weight
            fold(lambda target, beta, alpha: _add_scaled(target, grad, beta, alpha))
        return grad_in

    def _backward_kept(
        self,
        skip: _BlankColumns,
        grad_out: torch.Tensor,
        fold: WeightFold | None,
        keep_gradient: bool,
    ) -> None:
        """dW over the kept columns is one product, (x_kept)ᵀ g; a skipped column's is
        blank·Σₙ g = blank·db, the same for each. Products in x_kept's dtype; db in float32."""
        assert self._x is not None
        torch.sum(grad_out, dim=0, dtype=self.grad_bias.dtype, out=self.grad_bias)
        g = grad_out.to(self._x.dtype)
        kept_grad = torch.mm(self._x.t(), g, out=skip.head(self._buffer("grad", g.dtype)))
        if kept_grad.dtype != self.grad_weight.dtype:
            cast = skip.head(self._buffer("grad", self.grad_weight.dtype))
            kept_grad = cast.copy_(kept_grad)
        if fold is None or keep_gradient:
            skip.write(self.grad_weight, kept_grad, self.grad_bias)
        if fold is not None:
            grad_bias = self.grad_bias
            fold(lambda target, beta, alpha: skip.add(target, kept_grad, grad_bias, beta, alpha))

    def _low_buffers(self, dtype: torch.dtype) -> torch.Tensor:
        """The weight's low-precision copy (and its gradient's), made once, in its layout."""
        low = self._low_cache
        if low is None or low.dtype != dtype or low.device != self.weight.device:
            low = self._low_cache = torch.empty_like(self.weight, dtype=dtype)
            self._low_grad = torch.empty_like(self.grad_weight, dtype=dtype)
        return low

    def parameters(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, gradient) pairs, weight first."""
        return [(self.weight, self.grad_weight), (self.bias, self.grad_bias)]


def _add_product(
    target: torch.Tensor, x: torch.Tensor, g: torch.Tensor, beta: float, alpha: float
) -> None:
    """target ← β·target + α·gᵀx in one BLAS call, in target's memory (an (out, in) matrix,
    either layout: transposed, a column-major target is the contiguous (in, out) = xᵀg)."""
    if target.t().is_contiguous():
        target.t().addmm_(x.t(), g, beta=beta, alpha=alpha)
    else:
        target.addmm_(g.t(), x, beta=beta, alpha=alpha)


def _add_scaled(target: torch.Tensor, grad: torch.Tensor, beta: float, alpha: float) -> None:
    """target ← β·target + α·grad, for a gradient already written out."""
    if beta != 1.0:
        target.mul_(beta)
    target.add_(grad, alpha=alpha)


class _BlankColumns:
    """The input columns of one batch that are blank (the background pixel's value) in every
    image, which the first layer leaves out of its products.

    Why: MNIST's digits fill the middle of the frame, so a batch of 128 images leaves about a
    third of the 784 pixels blank in all of them (the border, and the corners of the digits'
    box). The products x Wᵀ and gᵀx are most of a step, and their cost is proportional to the
    columns they span. A blank column j contributes blank·W[:, j] to every row of x Wᵀ (added
    as a bias of this step: exactly zero without standardisation) and blank·Σₙ g to dW[:, j];
    so the results are the dense ones up to the order of float additions (tests check it).
    The weight's transpose is (in, out) contiguous (`column_major`): a column is a row there,
    and the kept rows are gathered, updated and scattered whole.
    """

    def __init__(self, kept: torch.Tensor, skipped: torch.Tensor, blank: float) -> None:
        self.kept = kept
        self.skipped = skipped
        self.blank = blank

    @classmethod
    def of(cls, x: torch.Tensor, blank: float) -> _BlankColumns | None:
        """The blank columns of x, or None where too few are blank to gain (or x is on a GPU,
        whose products are cheap and whose captured step wants fixed shapes)."""
        if x.device.type != "cpu" or x.dim() != 2:
            return None
        # Blank in every image: its largest and its smallest value are the blank one.
        blank_column = (x.amax(dim=0) == blank) & (x.amin(dim=0) == blank)
        kept = (~blank_column).nonzero().squeeze(1)
        if kept.numel() > SKIP_BLANK_BELOW * x.shape[1] or kept.numel() == 0:
            return None
        return cls(kept, blank_column.nonzero().squeeze(1), blank)

    def head(self, buffer: torch.Tensor) -> torch.Tensor:
        """The first len(kept) rows of an (in, out) buffer: room for the kept rows."""
        return buffer[: self.kept.numel()]

    def kept_rows(self, weight: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
        """The kept columns of the (out, in) weight as rows of its transpose, (kept, out)."""
        return torch.index_select(weight.t(), 0, self.kept, out=self.head(buffer))

    def bias(self, bias: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """This step's bias: b + blank·Σ over the skipped columns of W."""
        if self.blank == 0.0:
            return bias
        skipped_sum = weight.t().index_select(0, self.skipped).sum(dim=0)
        return torch.add(bias, skipped_sum, alpha=self.blank)

    def write(self, grad: torch.Tensor, kept_grad: torch.Tensor, grad_bias: torch.Tensor) -> None:
        """Fill the (out, in) gradient: the kept columns' product, blank·db in the others."""
        rows = grad.t()
        rows.index_copy_(0, self.kept, kept_grad)
        rows.index_put_((self.skipped,), grad_bias * self.blank)  # one row, broadcast

    def add(
        self,
        target: torch.Tensor,
        kept_grad: torch.Tensor,
        grad_bias: torch.Tensor,
        beta: float,
        alpha: float,
    ) -> None:
        """target ← β·target + α·dW (the `AddGradient` of a step that skipped columns)."""
        if beta != 1.0:
            target.mul_(beta)
        rows = target.t()
        rows.index_add_(0, self.kept, kept_grad, alpha=alpha)
        if self.blank != 0.0:  # one row, broadcast (index_add_ of an expanded row: 4x slower)
            rows.index_put_((self.skipped,), grad_bias * (alpha * self.blank), accumulate=True)


def _matmul_into(out: torch.Tensor, grad_out: torch.Tensor, x: torch.Tensor) -> None:
    """out = grad_outᵀ x, written so that the product lands directly in `out`'s memory."""
    if out.t().is_contiguous():
        torch.mm(x.t(), grad_out, out=out.t())
    else:
        torch.mm(grad_out.t(), x, out=out)


class ReLU:
    """y = max(x, 0), applied in place: the output alone tells where x was positive."""

    def __init__(self) -> None:
        self._y: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, d) -> (N, d). Overwrites x, which no one needs after this layer."""
        self._y = x.clamp_min_(0.0)
        return self._y

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dx = g · [y > 0] (computed in place on grad_out).

        One kernel, aten's threshold_backward (g where y > 0, else 0), written into grad_out:
        a sign(y) mask and a multiply take two passes and a temporary (15 against 35 µs at
        (128, 1024) float32, 31 against 64 µs in bf16, one thread); `y > 0` takes three.
        """
        assert self._y is not None, "backward before forward"
        return torch.ops.aten.threshold_backward.grad_input(
            grad_out, self._y, 0.0, grad_input=grad_out
        )


#: Exponents below this are raised to it before exp: exp(−40) ≈ 4e−18 (see SoftmaxCrossEntropy).
EXP_FLOOR = -40.0


class SoftmaxCrossEntropy:
    """Softmax and mean cross-entropy fused: stable, and its gradient is simply (p − onehot)/N.

    With m = max(z) per row and s = Σⱼ exp(zⱼ − m) (so s ≥ 1: no log(0) is ever taken):
    loss = mean over n of (log sₙ − (zₙ[yₙ] − mₙ)) = mean of (logsumexp(zₙ) − zₙ[yₙ]);
    p = exp(z − m) / s. One exp serves both the loss and the probabilities.

    Speed, not accuracy, sets one detail: before the exp, z − m is raised to EXP_FLOOR (−40).
    The lab's N(0, 1) weights give logits that span hundreds, so exp(z − m) underflows to
    subnormal floats, and every later product with a subnormal (p/N, dh = g W₂, dW₁ = dhᵀ x)
    is 10-100x slower on x86: that alone doubled a step at h=128, batch 64. A probability below
    e⁻⁴⁰ ≈ 4e−18 changes s not at all (s ≥ 1, and float32 resolves 6e−8 there, float64
    1e−16), and the gradient by under 4e−18/N per entry; the loss uses the exact z − m.
    """

    def __init__(self) -> None:
        self._probs: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        # A column of −1 to scatter onto the labels' entries, kept between calls: (N, 1).
        self._minus_one: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """logits: (N, C), labels: (N,) int64 -> loss: () tensor (not synced to the host)."""
        labels = labels.unsqueeze(1)  # (N, 1), as gather and scatter want it
        shifted = logits - logits.amax(dim=1, keepdim=True)  # z − m ≤ 0
        picked = shifted.gather(1, labels)  # zₙ[yₙ] − mₙ
        exp = shifted.clamp_min_(EXP_FLOOR).exp_()  # no subnormal results: see the class doc
        total = exp.sum(dim=1, keepdim=True)  # s ≥ 1
        self._probs = exp.div_(total)  # p = exp(z − m) / s
        self._labels = labels
        return (total.log_() - picked).mean()

    def backward(self, grad_loss: float = 1.0) -> torch.Tensor:
        """d loss / d logits = grad_loss · (softmax(z) − onehot(y)) / N, shape (N, C).

        grad_loss is d objective / d loss, where the chain rule starts: 1 when the loss is the
        objective. Computed in place on the cached probabilities: scatter −1 onto each row's
        label, then scale.
        """
        assert self._probs is not None and self._labels is not None, "backward before forward"
        grad = self._probs
        minus_one = self._minus_one
        if (
            minus_one is None
            or minus_one.shape[0] < grad.shape[0]
            or minus_one.dtype != grad.dtype
            or minus_one.device != grad.device
        ):
            minus_one = self._minus_one = grad.new_full((grad.shape[0], 1), -1.0)
        # A slice of the largest column seen: the last, partial batch of an epoch reuses the
        # full batches' column, so its memory never changes (a captured CUDA graph reads it).
        grad.scatter_add_(1, self._labels, minus_one[: grad.shape[0]])
        if grad_loss != 1.0:
            grad.mul_(grad_loss)
        return grad.div_(grad.shape[0])
