"""The first layer leaves out the input columns a batch holds blank in every image
(mlp_core/layers.py, `_BlankColumns`): the same training as nn.Linear + autograd +
torch.optim, step for step, in float64; with and without standardisation (a blank pixel is
then not 0); folded updates, kept gradients, Adam; and never a column that is not blank."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from data.loader import background
from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.events import Finished
from mlp_core.layers import SKIP_BLANK_BELOW, Linear, _BlankColumns
from mlp_core.model import MLP
from mlp_core.optim import SGD, Adam
from mlp_core.precision import precision_problem
from mlp_core.trainer import train

#: The trainer refuses bf16 on a CPU without AVX-512 (precision.py): that case needs one.
NEEDS_CPU_BF16 = pytest.mark.skipif(
    precision_problem("bf16", torch.device("cpu")) is not None, reason="this CPU cannot do bf16"
)

F64 = torch.float64
LRS = [0.1, 0.05, 0.2, 0.01, 0.07]
FOLDED = ("fc1.weight", "fc2.weight")
#: A blank pixel without standardisation, and with it (-0.4242...).
BLANKS = [background(False), background(True)]


def _digits(
    blank: float, steps: int = len(LRS), images: int = 9
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of images whose ink is in the frame's middle, different in each image: the
    border is blank in all of them, a few inner pixels in some only."""
    gen = torch.Generator().manual_seed(5)
    batches = []
    for _ in range(steps):
        frame = torch.full((images, 28, 28), blank, dtype=F64)
        ink = torch.rand(images, 16, 16, generator=gen, dtype=F64)
        frame[:, 6:22, 6:22] = torch.where(ink > 0.4, ink, torch.full_like(ink, blank))
        labels = torch.randint(0, 10, (images,), generator=gen)
        batches.append((frame.reshape(images, 784), labels))
    return batches


def _float64_mlp(blank: float | None, like: MLP | None = None) -> MLP:
    """An MLP in float64 (a fresh one, or `like`'s weights), skipping `blank` columns."""
    if like is None:
        like = MLP.create(12, "he", torch.Generator().manual_seed(3), torch.device("cpu"))
    state = {n: p.double() for n, p in like.state_dict().items()}
    model = MLP.from_state_dict(state, torch.device("cpu"))
    for layer in (model.fc1, model.fc2):
        layer.weight, layer.bias = layer.weight.double(), layer.bias.double()
        layer.grad_weight = torch.zeros_like(layer.weight)
        layer.grad_bias = torch.zeros_like(layer.bias)
    model.blank_input = blank
    return model


def _torch_net(start: dict[str, torch.Tensor]) -> torch.nn.Sequential:
    net = torch.nn.Sequential(torch.nn.Linear(784, 12), torch.nn.ReLU(), torch.nn.Linear(12, 10))
    net = net.double()
    with torch.no_grad():
        for param, name in zip(net.parameters(), start, strict=True):
            param.copy_(start[name])
    return net


def _torch_training(start: dict[str, torch.Tensor], batches, make_optimizer) -> list:
    net = _torch_net(start)
    optimizer = make_optimizer(net.parameters())
    for (x, y), lr in zip(batches, LRS, strict=True):
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return [p.detach() for p in net.parameters()]


def _assert_trained_alike(ours: MLP, reference: list[torch.Tensor], start) -> None:
    for (name, param, _), ref in zip(ours.named_parameters(), reference, strict=True):
        torch.testing.assert_close(param, ref, rtol=1e-10, atol=1e-12, msg=name)
        assert not torch.equal(param, start[name]), name  # it trained


def test_a_batch_of_digits_has_blank_columns_enough_to_skip() -> None:
    for blank in BLANKS:
        x, _ = _digits(blank)[0]
        skip = _BlankColumns.of(x, blank)
        assert skip is not None  # else the tests below would not test the skipping
        assert skip.kept.numel() <= SKIP_BLANK_BELOW * 784 and skip.skipped.numel() >= 784 - 256
        assert (x[:, skip.skipped] == blank).all() and not (x[:, skip.kept] == blank).all(0).any()


def test_a_column_is_skipped_only_if_blank_in_every_image() -> None:
    blank = background(True)
    x, _ = _digits(blank)[0]
    x[3, 0] = blank + 1e-9  # one image has a trace of ink in the corner
    x[5, 1] = blank - 1.0  # below blank (no MNIST pixel is; any input may be)
    skip = _BlankColumns.of(x, blank)
    assert skip is not None and {0, 1} <= set(skip.kept.tolist())
    assert _BlankColumns.of(torch.randn(9, 784, dtype=F64), blank) is None  # nothing blank


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(
    ("momentum", "nesterov", "decay"),
    [(0.0, False, 0.0), (0.0, False, 5e-4), (0.9, False, 5e-4), (0.9, True, 5e-4)],
)
@pytest.mark.parametrize("keep", [False, True])
def test_folded_sgd_skipping_blank_columns_trains_as_torch(
    blank: float, momentum: float, nesterov: bool, decay: float, keep: bool
) -> None:
    """Folded updates over the kept columns (and blank·db on the others), gradients kept or
    not: the same weights as nn.Linear + autograd + torch.optim.SGD after five steps."""
    model = _float64_mlp(blank)
    start = {n: p.clone() for n, p in model.state_dict().items()}
    optimizer = SGD(model.named_parameters(), momentum, nesterov, decay)
    batches = _digits(blank)
    for (x, y), lr in zip(batches, LRS, strict=True):
        folds = {name: optimizer.fold(name, lr) for name in FOLDED}
        model.loss_and_backward(x.clone(), y, folds, keep_gradients=keep)
        assert model.fc1._skip is not None  # the step skipped the blank columns
        optimizer.step(lr, folded=FOLDED)

    def torch_sgd(params):
        return torch.optim.SGD(
            params, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=decay
        )

    _assert_trained_alike(model, _torch_training(start, batches, torch_sgd), start)


@pytest.mark.parametrize("blank", BLANKS)
def test_unfolded_steps_skipping_blank_columns_fill_the_whole_gradient(blank: float) -> None:
    """Adam reads the written gradient: the skipped columns' entries are blank·db, the kept
    ones the product; the same training as torch.optim.Adam."""
    model = _float64_mlp(blank)
    start = {n: p.clone() for n, p in model.state_dict().items()}
    optimizer = Adam(model.named_parameters(), weight_decay=1e-4)
    batches = _digits(blank)
    for (x, y), lr in zip(batches, LRS, strict=True):
        model.loss_and_backward(x.clone(), y)
        optimizer.step(lr)

    def torch_adam(params):
        return torch.optim.Adam(params, lr=0.1, weight_decay=1e-4)

    _assert_trained_alike(model, _torch_training(start, batches, torch_adam), start)


@pytest.mark.parametrize("blank", BLANKS)
def test_bf16_products_over_the_kept_columns_are_as_close_to_the_oracle_as_dense_ones(
    blank: float,
) -> None:
    """In bf16 the products run over the kept columns too: each gradient no further from the
    float64 oracle than the dense bf16 step's, give or take a point (bf16 rounding can flip
    a hidden unit near 0 either way), and in float32."""
    x, y = _digits(blank, steps=1, images=64)[0]
    skipping = MLP.create(256, "he", torch.Generator().manual_seed(1), torch.device("cpu"))
    dense = MLP.from_state_dict(skipping.state_dict(), torch.device("cpu"))
    oracle = _float64_mlp(None, skipping)
    skipping.compute_dtype, skipping.blank_input = torch.bfloat16, blank
    dense.compute_dtype = torch.bfloat16
    for model in (skipping, dense, oracle):
        model.loss_and_backward(x.to(model.fc1.weight.dtype), y)
    assert skipping.fc1._skip is not None and dense.fc1._skip is None
    for (name, _, grad), (_, _, dense_grad), (_, _, exact) in zip(
        skipping.named_parameters(),
        dense.named_parameters(),
        oracle.named_parameters(),
        strict=True,
    ):
        assert grad.dtype == torch.float32, name
        error = float((grad.double() - exact).norm() / exact.norm())
        dense_error = float((dense_grad.double() - exact).norm() / exact.norm())
        assert error <= dense_error + 0.01 and error < 0.06, (name, error, dense_error)


def test_inference_and_later_layers_never_skip() -> None:
    """Only the training step's first layer skips; logits() and a layer whose input gradient
    is needed (fc2) take every column."""
    blank = 0.0
    x, _ = _digits(blank, steps=1)[0]
    model = _float64_mlp(blank)
    model.logits(x)
    assert model.fc1._skip is None
    layer = Linear(torch.randn(5, 784, dtype=F64), torch.zeros(5, dtype=F64))
    layer.forward(x, blank=blank)
    assert layer._skip is None


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"standardize": False},
        {"augment_shift": 2},
        pytest.param({"precision": "bf16"}, marks=NEEDS_CPU_BF16),
    ],
)
def test_a_cpu_run_on_mnist_skips_the_blank_columns_of_its_batches(
    overrides: dict[str, object],
    mnist_subset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trainer's blank value is the loader's own, to the bit (a float64 -mean/std misses
    every standardised pixel): real MNIST batches of 128 skip, shifted images too."""
    kept: list[int] = []
    real_of = _BlankColumns.of.__func__  # type: ignore[attr-defined]

    def spy(cls: type[_BlankColumns], x: torch.Tensor, blank: float) -> _BlankColumns | None:
        skip = real_of(cls, x, blank)
        kept.append(skip.kept.numel() if skip is not None else 784)
        return skip

    monkeypatch.setattr(_BlankColumns, "of", classmethod(spy))
    config = replace(
        TrainConfig(hidden=32, epochs=1, batch_size=128, val_split=500, device="cpu"),
        **overrides,
    )
    subset = replace(mnist_subset, train_images=mnist_subset.train_images[:2000])
    subset = replace(subset, train_labels=mnist_subset.train_labels[:2000])
    events = list(train(config, subset, runs_dir=tmp_path))
    assert isinstance(events[-1], Finished)
    assert len(kept) == 12  # every step of the epoch: 1,500 images in batches of 128
    assert max(kept) <= SKIP_BLANK_BELOW * 784  # each step skipped (unshifted, ~530 kept)
