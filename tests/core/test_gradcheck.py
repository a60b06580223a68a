"""The gradcheck oracle: passes on the real engine, fails on a deliberately broken backward."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from mlp_core.gradcheck import (
    AUTOGRAD_TOLERANCE,
    FINITE_DIFFERENCE_TOLERANCE,
    check_gradients,
    float64_model,
    random_state,
    report_table,
)
from mlp_core.layers import Linear
from mlp_core.model import MLP

ROOT = Path(__file__).resolve().parents[2]


def _batch(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 784, generator=gen, dtype=torch.float64), torch.randint(
        0, 10, (n,), generator=gen
    )


class SignFlippedLinear(Linear):
    """A test double: the bias gradient with its sign flipped, all else the real layer."""

    def backward(self, grad_out: torch.Tensor, *rest: Any) -> torch.Tensor | None:
        grad_in = super().backward(grad_out, *rest)
        self.grad_bias.neg_()
        return grad_in


def _broken_fc2(state: dict[str, torch.Tensor]) -> MLP:
    model = float64_model(state)
    model.fc2 = SignFlippedLinear(model.fc2.weight, model.fc2.bias)
    return model


def test_the_real_engine_passes_against_both_oracles() -> None:
    x, y = _batch()
    report = check_gradients(random_state(24), x, y, entries_per_parameter=40)
    assert report.passed
    assert [row.name for row in report.rows] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert [row.entries_checked for row in report.rows] == [40, 24, 40, 10]
    for row in report.rows:
        assert row.finite_difference_error < FINITE_DIFFERENCE_TOLERANCE
        assert row.autograd_error < AUTOGRAD_TOLERANCE
    table = report_table(report)
    assert [line.split()[-1] for line in table.splitlines()[4:8]] == ["pass"] * 4
    assert table.endswith("all gradients pass")


def test_a_flipped_sign_fails_on_that_parameter_only() -> None:
    x, y = _batch()
    report = check_gradients(random_state(24), x, y, make_model=_broken_fc2)
    assert not report.passed
    failed = {row.name for row in report.rows if not row.passed}
    assert failed == {"fc2.bias"}
    broken = report.rows[3]
    assert broken.finite_difference_error > 1.0 and broken.autograd_error > 1.0
    table = report_table(report)
    assert "FAIL" in table.splitlines()[-2] and table.endswith("gradient check FAILED")


def test_a_broken_upstream_gradient_shows_in_fc1() -> None:
    """A wrong ReLU mask (the gradient passes everywhere) is caught in fc1, not in fc2."""

    class LeakyBackward(MLP):
        def loss_and_backward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            loss = self.criterion.forward(self.logits(x), labels)
            grad = self.fc2.backward(self.criterion.backward())
            assert grad is not None
            self.fc1.backward(grad)  # no ReLU backward
            return loss

    def make(state: dict[str, torch.Tensor]) -> MLP:
        model = float64_model(state)
        return LeakyBackward(model.fc1, model.fc2)

    x, y = _batch()
    report = check_gradients(random_state(24), x, y, make_model=make)
    assert {row.name for row in report.rows if not row.passed} == {"fc1.weight", "fc1.bias"}


def test_the_training_path_never_imports_the_oracle() -> None:
    script = (
        "import sys\n"
        "import mlp_core.trainer, mlp_core.inspect, mlp_core.sweep, tui.cli\n"
        "print('mlp_core.gradcheck' in sys.modules, 'torch.autograd.grad' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


def _digits_batch(blank: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Six images with ink only in the frame's middle: the border is blank in all of them."""
    x, labels = _batch()
    frame = torch.full((6, 28, 28), blank, dtype=torch.float64)
    frame[:, 8:20, 8:20] = x[:, :144].reshape(6, 12, 12)
    return frame.reshape(6, 784), labels


def test_the_training_steps_blank_column_skipping_passes_against_both_oracles() -> None:
    """With `blank`, the check runs the first layer as a CPU training step does (skipping the
    batch's blank columns) and both oracles agree with it."""
    from data.loader import background

    blank = background(True)
    x, y = _digits_batch(blank)
    report = check_gradients(random_state(24), x, y, entries_per_parameter=40, blank=blank)
    assert report.skipped_columns == 784 - 144
    assert report.passed, report_table(report)
    assert "the first layer skips 640 blank pixel columns" in report_table(report)
    assert check_gradients(random_state(24), x, y, entries_per_parameter=8).skipped_columns == 0


def test_a_wrong_skipped_column_gradient_fails_the_check(monkeypatch: Any) -> None:
    """The oracle would catch a skipping that drops the blank columns' gradient."""
    from data.loader import background
    from mlp_core import layers

    monkeypatch.setattr(layers._BlankColumns, "write", _write_kept_only)
    blank = background(True)
    x, y = _digits_batch(blank)
    report = check_gradients(random_state(24), x, y, entries_per_parameter=40, blank=blank)
    assert not report.passed
    failed = {row.name for row in report.rows if not row.passed}
    assert failed == {"fc1.weight"}


def _write_kept_only(self: Any, grad: torch.Tensor, kept_grad: torch.Tensor, _bias: Any) -> None:
    grad.zero_()
    grad.t().index_copy_(0, self.kept, kept_grad)
