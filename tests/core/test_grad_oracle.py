"""Every hand-written backward against torch.autograd (float64) and central finite differences.

Autograd is the oracle here and only here: the product never uses it. Layers run in the dtype
of their tensors, so float64 layers are built for tight tolerances.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from mlp_core.layers import Linear, ReLU, SoftmaxCrossEntropy
from mlp_core.model import MLP

F64 = torch.float64
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _central_difference(
    f: Callable[[], float], tensor: torch.Tensor, index: tuple[int, ...], eps: float = 1e-6
) -> float:
    """(f(t + eps) - f(t - eps)) / 2eps for one entry of `tensor`, restored afterwards."""
    original = tensor[index].item()
    tensor[index] = original + eps
    plus = f()
    tensor[index] = original - eps
    minus = f()
    tensor[index] = original
    return (plus - minus) / (2 * eps)


def _all_indices(tensor: torch.Tensor) -> list[tuple[int, ...]]:
    return [
        tuple(int(i) for i in idx)
        for idx in torch.cartesian_prod(*[torch.arange(s) for s in tensor.shape]).reshape(
            -1, tensor.dim()
        )
    ]


# -- Linear -------------------------------------------------------------------------------


@pytest.mark.parametrize("needs_input_grad", [True, False])
def test_linear_backward_matches_autograd(needs_input_grad: bool) -> None:
    x, w, b = _randn(6, 5, seed=1), _randn(4, 5, seed=2), _randn(4, seed=3)
    g = _randn(6, 4, seed=4)
    layer = Linear(w.clone(), b.clone(), needs_input_grad=needs_input_grad)
    y = layer.forward(x.clone())
    grad_in = layer.backward(g.clone())

    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    yr = F.linear(xr, wr, br)
    yr.backward(g)
    torch.testing.assert_close(y, yr.detach(), **TIGHT)
    torch.testing.assert_close(layer.grad_weight, wr.grad, **TIGHT)
    torch.testing.assert_close(layer.grad_bias, br.grad, **TIGHT)
    if needs_input_grad:
        assert grad_in is not None
        torch.testing.assert_close(grad_in, xr.grad, **TIGHT)
    else:
        assert grad_in is None


def test_linear_backward_matches_finite_differences() -> None:
    x, w, b = _randn(3, 4, seed=5), _randn(2, 4, seed=6), _randn(2, seed=7)
    g = _randn(3, 2, seed=8)
    layer = Linear(w, b)
    layer.forward(x)
    grad_x = layer.backward(g)
    assert grad_x is not None

    def objective() -> float:  # <g, y>: its gradient is the backward of g
        return float((layer.forward(x) * g).sum())

    for tensor, grad in (
        (w, layer.grad_weight.clone()),
        (b, layer.grad_bias.clone()),
        (x, grad_x.clone()),
    ):
        numeric = torch.tensor(
            [_central_difference(objective, tensor, i) for i in _all_indices(tensor)], dtype=F64
        )
        torch.testing.assert_close(numeric.reshape(tensor.shape), grad, rtol=1e-6, atol=1e-8)


# -- ReLU ---------------------------------------------------------------------------------


def test_relu_backward_matches_autograd() -> None:
    x = _randn(7, 9, seed=9)
    assert (x != 0).all()
    g = _randn(7, 9, seed=10)
    relu = ReLU()
    y = relu.forward(x.clone())
    grad_in = relu.backward(g.clone())

    xr = x.clone().requires_grad_()
    yr = torch.relu(xr)
    yr.backward(g)
    torch.testing.assert_close(y, yr.detach(), **TIGHT)
    torch.testing.assert_close(grad_in, xr.grad, **TIGHT)
    assert (grad_in[x < 0] == 0).all()


def test_relu_backward_matches_finite_differences() -> None:
    x = _randn(3, 5, seed=11)
    x[x.abs() < 0.05] = 0.5  # keep away from the kink
    g = _randn(3, 5, seed=12)
    relu = ReLU()
    relu.forward(x.clone())
    analytic = relu.backward(g.clone())

    def objective() -> float:
        return float((ReLU().forward(x.clone()) * g).sum())

    numeric = torch.tensor([_central_difference(objective, x, i) for i in _all_indices(x)])
    torch.testing.assert_close(numeric.reshape(x.shape).to(F64), analytic, rtol=1e-6, atol=1e-8)


# -- Softmax + cross-entropy --------------------------------------------------------------


def test_softmax_cross_entropy_matches_autograd() -> None:
    logits, labels = _randn(8, 10, seed=13) * 3, torch.randint(0, 10, (8,), generator=_gen(14))
    criterion = SoftmaxCrossEntropy()
    loss = criterion.forward(logits.clone(), labels)
    grad = criterion.backward()

    lr_ = logits.clone().requires_grad_()
    loss_ref = F.cross_entropy(lr_, labels)
    loss_ref.backward()
    torch.testing.assert_close(loss, loss_ref.detach(), **TIGHT)
    torch.testing.assert_close(grad, lr_.grad, **TIGHT)


def test_softmax_cross_entropy_backward_scales_by_the_upstream_gradient() -> None:
    logits, labels = _randn(8, 10, seed=15) * 3, torch.randint(0, 10, (8,), generator=_gen(16))
    criterion = SoftmaxCrossEntropy()
    criterion.forward(logits.clone(), labels)
    scaled = criterion.backward(grad_loss=2.5)

    lr_ = logits.clone().requires_grad_()
    (2.5 * F.cross_entropy(lr_, labels)).backward()
    torch.testing.assert_close(scaled, lr_.grad, **TIGHT)


def test_softmax_cross_entropy_matches_finite_differences() -> None:
    logits, labels = _randn(4, 5, seed=15), torch.tensor([0, 3, 4, 3])
    criterion = SoftmaxCrossEntropy()
    criterion.forward(logits.clone(), labels)
    analytic = criterion.backward().clone()

    def objective() -> float:
        return float(SoftmaxCrossEntropy().forward(logits.clone(), labels))

    numeric = torch.tensor(
        [_central_difference(objective, logits, i) for i in _all_indices(logits)], dtype=F64
    )
    torch.testing.assert_close(numeric.reshape(logits.shape), analytic, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_cross_entropy_is_stable_with_huge_logits(dtype: torch.dtype) -> None:
    logits = torch.tensor(
        [[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4], [1e4, 1e4, -1e4]], dtype=dtype
    )
    labels = torch.tensor([0, 2, 1, 1])
    criterion = SoftmaxCrossEntropy()
    loss = criterion.forward(logits.clone(), labels)
    grad = criterion.backward()
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # Row losses: 0, 1e4 (label's logit 1e4 below the max), 1e4, log 2.
    expected_loss = (0 + 1e4 + 1e4 + torch.log(torch.tensor(2.0, dtype=F64)).item()) / 4
    assert loss.item() == pytest.approx(expected_loss, rel=1e-6)
    p = torch.softmax(logits.to(F64), dim=1)
    onehot = F.one_hot(labels, 3).to(F64)
    torch.testing.assert_close(grad.to(F64), (p - onehot) / 4, rtol=1e-6, atol=1e-7)


# -- The whole MLP ------------------------------------------------------------------------


def _small_mlp(n_in: int = 7, hidden: int = 5, classes: int = 3, seed: int = 16) -> MLP:
    """An MLP of float64 layers at small sizes (the class does not fix the sizes)."""
    fc1 = Linear(
        _randn(hidden, n_in, seed=seed), _randn(hidden, seed=seed + 1) * 0.1, needs_input_grad=False
    )
    fc2 = Linear(_randn(classes, hidden, seed=seed + 2), _randn(classes, seed=seed + 3) * 0.1)
    return MLP(fc1, fc2)


def test_mlp_gradients_match_autograd_at_full_size() -> None:
    gen = _gen(17)
    model = MLP.create(hidden=32, init="he", generator=gen, device=torch.device("cpu"))
    for layer in (model.fc1, model.fc2):  # the float64 twin of the float32 network
        layer.weight, layer.bias = layer.weight.double(), layer.bias.double()
        layer.grad_weight = torch.zeros_like(layer.weight)
        layer.grad_bias = torch.zeros_like(layer.bias)
        layer.bias += torch.randn(layer.bias.shape, generator=gen, dtype=F64) * 0.1
    x = torch.rand(16, 784, generator=gen, dtype=F64)
    y = torch.randint(0, 10, (16,), generator=gen)
    ref = {name: p.clone().requires_grad_() for name, p, _ in model.named_parameters()}
    loss = model.loss_and_backward(x.clone(), y)

    hidden = torch.relu(F.linear(x, ref["fc1.weight"], ref["fc1.bias"]))
    loss_ref = F.cross_entropy(F.linear(hidden, ref["fc2.weight"], ref["fc2.bias"]), y)
    loss_ref.backward()
    torch.testing.assert_close(loss, loss_ref.detach(), **TIGHT)
    for name, _param, grad in model.named_parameters():
        torch.testing.assert_close(grad, ref[name].grad, **TIGHT, msg=name)


def test_mlp_gradients_match_finite_differences() -> None:
    model = _small_mlp()
    x = _randn(6, 7, seed=20)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    model.loss_and_backward(x.clone(), y)
    analytic = {name: grad.clone() for name, _p, grad in model.named_parameters()}

    def objective() -> float:
        return float(SoftmaxCrossEntropy().forward(model.logits(x.clone()), y))

    for name, param, _grad in model.named_parameters():
        numeric = torch.tensor(
            [_central_difference(objective, param, i) for i in _all_indices(param)], dtype=F64
        )
        torch.testing.assert_close(
            numeric.reshape(param.shape), analytic[name], rtol=1e-5, atol=1e-8, msg=name
        )


def test_mlp_gradients_are_overwritten_not_accumulated() -> None:
    model = _small_mlp()
    x, y = _randn(6, 7, seed=21), torch.tensor([0, 1, 2, 2, 1, 0])
    model.loss_and_backward(x.clone(), y)
    first = [g.clone() for _n, _p, g in model.named_parameters()]
    model.loss_and_backward(x.clone(), y)
    for before, (_n, _p, after) in zip(first, model.named_parameters(), strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_predict_proba_is_a_stable_softmax() -> None:
    model = _small_mlp()
    x = _randn(5, 7, seed=22)
    probs = model.predict_proba(x.clone())
    torch.testing.assert_close(probs, torch.softmax(model.logits(x.clone()), dim=1), **TIGHT)
    model.fc2.weight.mul_(1e6)  # logits in the millions
    huge = model.predict_proba(x.clone())
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge.sum(dim=1), torch.ones(5, dtype=F64), **TIGHT)
