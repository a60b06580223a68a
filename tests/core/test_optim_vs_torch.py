"""Optimizers against torch.optim over several steps, schedules, and initialisations."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch

from mlp_core.config import TrainConfig
from mlp_core.layers import Linear
from mlp_core.model import MLP
from mlp_core.optim import SGD, Adam, can_fold, learning_rate, make_optimizer

F64 = torch.float64
STEPS = 5
LRS = [0.1, 0.05, 0.2, 0.01, 0.07]  # varying, as a schedule would


def _params(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "fc1.weight": torch.randn(4, 3, generator=gen, dtype=F64),
        "fc1.bias": torch.randn(4, generator=gen, dtype=F64),
        "fc2.weight": torch.randn(2, 4, generator=gen, dtype=F64),
    }


def _gradient(name: str, param: torch.Tensor, step: int) -> torch.Tensor:
    """A gradient that changes with each step and depends on the parameter (like a real one)."""
    gen = torch.Generator().manual_seed(1000 * step + len(name))
    return torch.randn(param.shape, generator=gen, dtype=F64) + 0.3 * param.sin()


def _run_ours(make, steps: int = STEPS) -> dict[str, torch.Tensor]:
    params = _params()
    grads = {name: torch.zeros_like(p) for name, p in params.items()}
    optimizer = make([(name, params[name], grads[name]) for name in params])
    for step in range(steps):
        for name, p in params.items():
            grads[name].copy_(_gradient(name, p, step))
        optimizer.step(LRS[step])
    return params


def _run_torch(make, steps: int = STEPS) -> dict[str, torch.Tensor]:
    params = {name: p.clone().requires_grad_() for name, p in _params().items()}
    optimizer = make(list(params.values()))
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = LRS[step]
        for name, p in params.items():
            p.grad = _gradient(name, p.detach(), step)
        optimizer.step()
    return {name: p.detach() for name, p in params.items()}


def _assert_same(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    for name in ref:
        torch.testing.assert_close(ours[name], ref[name], rtol=1e-12, atol=1e-14, msg=name)
    # The run must actually have moved the parameters (else the comparison is empty).
    assert not torch.equal(ours["fc1.weight"], _params()["fc1.weight"])


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay"),
    [
        (0.0, False, 0.0),
        (0.9, False, 0.0),
        (0.9, True, 0.0),
        (0.0, False, 0.01),
        (0.8, True, 5e-3),
        (0.5, False, 1e-2),
    ],
)
def test_sgd_matches_torch(momentum: float, nesterov: bool, weight_decay: float) -> None:
    ours = _run_ours(lambda p: SGD(p, momentum, nesterov, weight_decay))
    ref = _run_torch(
        lambda p: torch.optim.SGD(
            p, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
    )
    _assert_same(ours, ref)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_torch(weight_decay: float) -> None:
    ours = _run_ours(lambda p: Adam(p, weight_decay=weight_decay))
    ref = _run_torch(lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=weight_decay))
    _assert_same(ours, ref)


def test_make_optimizer_follows_the_config() -> None:
    params = [(n, p, torch.zeros_like(p)) for n, p in _params().items()]
    sgd = make_optimizer(TrainConfig(momentum=0.7, nesterov=False, weight_decay=0.1), params)
    assert isinstance(sgd, SGD)
    assert (sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.7, False, 0.1)
    assert set(sgd.state) == {f"{n}.momentum_buffer" for n, _p, _g in params}
    adam = make_optimizer(TrainConfig(optimizer="adam", weight_decay=0.0), params)
    assert isinstance(adam, Adam)
    assert len(adam.state) == 2 * len(params)


# -- folded updates (optim.py, "Folding") --------------------------------------------------

SGD_VARIANTS = [
    (0.0, False, 0.0),
    (0.0, False, 0.01),
    (0.9, False, 0.0),
    (0.5, False, 1e-2),
    (0.9, True, 0.0),
    (0.8, True, 5e-3),
]
FOLDED = ("fc1.weight", "fc2.weight")


def _float64_mlp(hidden: int = 12) -> MLP:
    """An MLP in float64 (row-major fc2, column-major fc1: both layouts of `_add_product`)."""
    model = MLP.create(hidden, "he", torch.Generator().manual_seed(3), torch.device("cpu"))
    state = {n: p.double() for n, p in model.state_dict().items()}
    model = MLP.from_state_dict(state, torch.device("cpu"))
    for layer in (model.fc1, model.fc2):
        layer.weight = layer.weight.double()
        layer.bias = layer.bias.double()
        layer.grad_weight = torch.zeros_like(layer.weight)
        layer.grad_bias = torch.zeros_like(layer.bias)
    model.fc2.weight = model.fc2.weight.contiguous()
    model.fc2.grad_weight = torch.zeros_like(model.fc2.weight)
    return model


def _batches(steps: int = STEPS) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(11)
    return [
        (torch.randn(9, 784, generator=gen, dtype=F64), torch.randint(0, 10, (9,), generator=gen))
        for _ in range(steps)
    ]


def _train_ours_folded(momentum: float, nesterov: bool, decay: float, keep: bool) -> MLP:
    model = _float64_mlp()
    assert not model.fc2.weight.t().is_contiguous() and model.fc1.weight.t().is_contiguous()
    optimizer = SGD(model.named_parameters(), momentum, nesterov, decay)
    for (x, y), lr in zip(_batches(), LRS, strict=True):
        folds = {name: optimizer.fold(name, lr) for name in FOLDED}
        model.loss_and_backward(x.clone(), y, folds, keep_gradients=keep)
        optimizer.step(lr, folded=FOLDED)
    return model


@pytest.mark.parametrize(("momentum", "nesterov", "weight_decay"), SGD_VARIANTS)
def test_folded_sgd_matches_autograd_and_torch_optim(
    momentum: float, nesterov: bool, weight_decay: float
) -> None:
    """The weights' updates folded into the backward's products: the same training as
    nn.Linear + autograd + torch.optim.SGD, step for step, in float64."""
    ours = _train_ours_folded(momentum, nesterov, weight_decay, keep=False)
    start = _float64_mlp().state_dict()
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 12), torch.nn.ReLU(), torch.nn.Linear(12, 10)
    ).double()
    with torch.no_grad():
        for param, name in zip(net.parameters(), start, strict=True):
            param.copy_(start[name])
    optimizer = torch.optim.SGD(
        net.parameters(), lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )
    for (x, y), lr in zip(_batches(), LRS, strict=True):
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    for (name, param, _grad), ref in zip(ours.named_parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(param, ref.detach(), rtol=1e-10, atol=1e-12, msg=name)
        assert not torch.equal(param, start[name]), name  # it trained


@pytest.mark.parametrize(("momentum", "nesterov", "weight_decay"), SGD_VARIANTS)
def test_a_measured_folded_step_still_fills_the_gradients(
    momentum: float, nesterov: bool, weight_decay: float
) -> None:
    """keep_gradients: the weights' gradients are those of the unfolded backward, and the
    update is the same as when they are not kept (watching never changes a run)."""
    kept = _train_ours_folded(momentum, nesterov, weight_decay, keep=True)
    not_kept = _train_ours_folded(momentum, nesterov, weight_decay, keep=False)
    for (name, a, _), (_, b, _) in zip(
        kept.named_parameters(), not_kept.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    reference = _float64_mlp()
    probe = reference.state_dict()
    for name, param in kept.state_dict().items():
        probe[name].copy_(param)  # the kept run's weights, in the reference's layouts
    x, y = _batches(1)[0]
    reference.loss_and_backward(x.clone(), y)
    kept.loss_and_backward(x.clone(), y, {}, keep_gradients=True)  # unfolded: fresh gradients
    for (name, _, grad), (_, _, ref) in zip(
        kept.named_parameters(), reference.named_parameters(), strict=True
    ):
        torch.testing.assert_close(grad, ref, rtol=1e-12, atol=1e-14, msg=name)


def test_can_fold_only_sgd_on_the_cpu() -> None:
    model = MLP.create(8, "he", torch.Generator().manual_seed(0), torch.device("cpu"))
    params = model.named_parameters()
    assert can_fold(SGD(params, 0.9, True, 5e-4), model)
    assert not can_fold(Adam(params, 0.0), model)
    model.compute_dtype = torch.bfloat16  # the update then reads the cast gradient
    assert can_fold(SGD(params, 0.9, True, 5e-4), model)


# -- learning-rate schedules --------------------------------------------------------------


def test_constant_schedule() -> None:
    config = TrainConfig(schedule="constant", lr=0.3, epochs=3)
    assert {learning_rate(config, s, 10) for s in range(30)} == {0.3}


def test_step_schedule() -> None:
    config = TrainConfig(schedule="step", lr=0.2, lr_step_epochs=2, lr_gamma=0.5, epochs=6)
    per_epoch = [learning_rate(config, epoch * 10 + 3, 10) for epoch in range(6)]
    assert per_epoch == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.05, 0.05])
    # Constant within an epoch.
    assert len({learning_rate(config, s, 10) for s in range(20, 30)}) == 1


def test_cosine_schedule_starts_at_lr_ends_near_zero_and_decreases() -> None:
    config = TrainConfig(schedule="cosine", lr=0.05, epochs=4)
    steps_per_epoch = 25
    lrs = [learning_rate(config, s, steps_per_epoch) for s in range(4 * steps_per_epoch)]
    assert lrs[0] == pytest.approx(0.05)
    assert 0 <= lrs[-1] < 0.05 * 1e-3
    assert all(a > b for a, b in itertools.pairwise(lrs))
    midpoint = learning_rate(config, 2 * steps_per_epoch, steps_per_epoch)
    assert midpoint == pytest.approx(0.025)


# -- initialisation -----------------------------------------------------------------------


def _layer(init: str, seed: int = 0, n_in: int = 784, n_out: int = 512) -> Linear:
    return Linear.initialised(
        n_in, n_out, init, torch.Generator().manual_seed(seed), torch.device("cpu")
    )


def test_he_init_statistics() -> None:
    layer = _layer("he")
    assert layer.weight.shape == (512, 784) and layer.weight.dtype == torch.float32
    assert layer.weight.mean().abs() < 0.005
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert torch.equal(layer.bias, torch.zeros(512))


def test_xavier_init_statistics() -> None:
    layer = _layer("xavier")
    bound = math.sqrt(6 / (784 + 512))
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.99 * bound
    assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert layer.weight.mean().abs() < 0.005
    assert torch.equal(layer.bias, torch.zeros(512))


def test_normal_init_statistics() -> None:
    layer = _layer("normal")
    assert layer.weight.mean().abs() < 0.01
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.02)
    assert layer.bias.std().item() == pytest.approx(1.0, rel=0.2)  # biases drawn too (the lab)


@pytest.mark.parametrize("init", ["he", "xavier", "normal"])
def test_same_seed_same_weights(init: str) -> None:
    def weights(seed: int) -> list[torch.Tensor]:
        model = MLP.create(64, init, torch.Generator().manual_seed(seed), torch.device("cpu"))
        return list(model.state_dict().values())

    for a, b in zip(weights(3), weights(3), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(weights(3)[0], weights(4)[0])


def test_unknown_init_is_refused() -> None:
    with pytest.raises(ValueError, match="init"):
        _layer("zeros")


def test_cosine_depends_on_total_epochs() -> None:
    """The cosine curve is fixed by `epochs`: resuming must use the run's full epoch count."""
    config = TrainConfig(schedule="cosine", epochs=8)
    assert learning_rate(config, 40, 10) != learning_rate(replace(config, epochs=4), 40, 10)
