"""Per-epoch training figures: gradient norms, update ratios, dead ReLU units, divergence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data.loader import Split
from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.evaluate import loss_and_accuracy
from mlp_core.events import Diverged, EpochEnd
from mlp_core.model import MLP, PARAMETER_NAMES
from mlp_core.runs import read_metrics
from mlp_core.trainer import train
from mlp_core.training_figures import FigureMeter, figure_series, loss_accuracy_dead

CPU = torch.device("cpu")


def _model(hidden: int = 12) -> MLP:
    return MLP.create(hidden, "he", torch.Generator().manual_seed(0), CPU)


def test_meter_measures_the_step_it_was_asked_to() -> None:
    model = _model()
    gen = torch.Generator().manual_seed(1)
    for layer in (model.fc1, model.fc2):  # He biases start at 0: their ratio would be inf
        layer.bias.normal_(generator=gen)
    x, y = torch.randn(8, 784, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    meter = FigureMeter()
    before = {name: p.clone() for name, p, _g in model.named_parameters()}
    meter.before_step(model, measure=True)
    model.loss_and_backward(x, y)
    for _name, param, grad in model.named_parameters():
        param.sub_(0.1 * grad)
    meter.after_step(model)
    figures = meter.poll()
    kinds = ("grad_norm", "update_ratio")
    assert set(figures) == {f"{kind}.{name}" for kind in kinds for name in PARAMETER_NAMES}
    for name, param, grad in model.named_parameters():
        assert figures[f"grad_norm.{name}"] == torch.linalg.vector_norm(grad).item()
        ratio = (param - before[name]).norm() / before[name].norm()
        assert abs(figures[f"update_ratio.{name}"] - ratio.item()) < 1e-6 * ratio.item()
    meter.before_step(model, measure=False)  # an unmeasured step changes nothing
    meter.after_step(model)
    assert meter.poll() == figures


def test_dead_units_are_those_no_image_activates() -> None:
    model = _model(hidden=10)
    model.fc1.bias[[2, 5, 7]] = -1e6  # these three can never fire
    gen = torch.Generator().manual_seed(2)
    split = Split(torch.rand(50, 784, generator=gen), torch.randint(0, 10, (50,), generator=gen))
    loss, accuracy, dead = loss_accuracy_dead(model, split)
    assert dead == pytest.approx(0.3)
    assert (loss, accuracy) == loss_and_accuracy(model, split)


def test_every_epoch_records_its_figures(tiny_dataset: Dataset, tmp_path: Path) -> None:
    config = TrainConfig(hidden=16, epochs=2, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, tiny_dataset, runs_dir=tmp_path))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    rows = read_metrics(Path(events[0].run_dir))
    assert [row["figures"] for row in rows] == [e.figures for e in ends]
    for figures in (e.figures for e in ends):
        assert len(figures) == 9 and 0.0 <= figures["dead_relu"] <= 1.0
        assert all(v > 0 for k, v in figures.items() if k != "dead_relu")
    assert figure_series(rows, "update_ratio.fc1.weight") == (
        [1, 2],
        [e.figures["update_ratio.fc1.weight"] for e in ends],
    )


def test_a_diverging_run_shows_its_update_ratio_exploding(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    calm = TrainConfig(hidden=16, epochs=3, batch_size=64, val_split=100, device="cpu")
    wild = TrainConfig(hidden=16, epochs=3, batch_size=64, val_split=100, device="cpu", lr=50.0)
    list(train(calm, tiny_dataset, runs_dir=tmp_path / "calm"))
    events = list(train(wild, tiny_dataset, runs_dir=tmp_path / "wild", progress_interval=0))
    diverged = events[-1]
    assert isinstance(diverged, Diverged)
    assert "before it, the update/weight ratio of" in diverged.reason
    calm_rows = read_metrics(next((tmp_path / "calm").iterdir()))
    wild_rows = read_metrics(Path(diverged.run_dir))
    assert wild_rows, "the wild run should finish an epoch before its NaN"
    calm_ratio = max(calm_rows[0]["figures"][f"update_ratio.{n}"] for n in PARAMETER_NAMES)
    wild_ratio = max(wild_rows[-1]["figures"][f"update_ratio.{n}"] for n in PARAMETER_NAMES)
    assert wild_ratio > 1.0 > calm_ratio and wild_ratio > 20 * calm_ratio
