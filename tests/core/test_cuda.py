"""The CUDA path: the captured step (mlp_core/cuda_graph.py) against the eager one, no host
sync inside a step, and the three precisions. Every test here skips without a GPU;
`bench/gpu_check.sh` runs them (`pytest -m cuda`) on a machine that has one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data.loader import shuffled_indices
from data.mnist import Dataset
from mlp_core import load_checkpoint, train
from mlp_core.config import TrainConfig
from mlp_core.optim import learning_rate
from mlp_core.trainer import _Run, _step

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA)"),
]


def cuda_config(**overrides: object) -> TrainConfig:
    """500 train images in batches of 64: 7 full batches and a partial one of 52."""
    values: dict[str, object] = {
        "hidden": 32,
        "epochs": 2,
        "batch_size": 64,
        "val_split": 100,
        "device": "cuda",
        **overrides,
    }
    return TrainConfig(**values)


def _final_weights(config: TrainConfig, dataset: Dataset, runs: Path) -> dict[str, torch.Tensor]:
    finished = list(train(config, dataset, runs_dir=runs, progress_interval=1e9))[-1]
    assert finished.status == "finished"
    checkpoint = load_checkpoint(Path(finished.run_dir) / "checkpoints" / "last.safetensors")
    return checkpoint.weights()


@pytest.mark.parametrize("augment_shift", [0, 2])
def test_the_graphed_step_trains_as_the_eager_one(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, augment_shift: int
) -> None:
    config = cuda_config(augment_shift=augment_shift)
    graphed = _final_weights(config, tiny_dataset, tmp_path / "graphed")
    monkeypatch.setenv("MNIST_TUI_CUDA_GRAPH", "0")
    eager = _final_weights(config, tiny_dataset, tmp_path / "eager")
    for name, tensor in eager.items():
        # The same kernels on the same data in the same order: equal up to atomics' order.
        torch.testing.assert_close(graphed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def _run_and_batches(config: TrainConfig, dataset: Dataset, runs: Path):
    run = _Run(config, dataset, runs, None)
    batches = shuffled_indices(run.splits.train, config.batch_size, run.order_rng)
    return run, batches


@pytest.mark.parametrize("precision", ["fp32", "bf16", "tf32"])
def test_a_step_never_waits_for_the_gpu(
    tiny_dataset: Dataset, tmp_path: Path, precision: str
) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    config = cuda_config(precision=precision)
    run, batches = _run_and_batches(config, tiny_dataset, tmp_path)
    loss_sum = torch.zeros((), device=run.device)
    steps = run.steps_per_epoch
    # The first full batch captures the graph (capture itself synchronises): outside the check.
    _step(run, batches[0], None, learning_rate(config, 0, steps), loss_sum)
    assert getattr(run, "_cuda_graph", None) is not None, "the full batch was not graphed"
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step, index in enumerate(batches[1:], start=1):  # the last one is partial: eager
            _step(run, index, None, learning_rate(config, step, steps), loss_sum)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(batches[-1]) < config.batch_size
    assert torch.isfinite(loss_sum).item()


def test_the_graph_replays_the_current_batch(tiny_dataset: Dataset, tmp_path: Path) -> None:
    """Each replay reads the batch copied in, not the one captured: the gradients of a replay
    equal those of an eager forward and backward on the same batch."""
    run, batches = _run_and_batches(cuda_config(), tiny_dataset, tmp_path)
    loss_sum = torch.zeros((), device=run.device)
    _step(run, batches[0], None, 0.0, loss_sum)  # capture (lr 0: weights stay)
    _step(run, batches[1], None, 0.0, loss_sum)  # a replay on another batch
    replayed = [g.clone() for _, _, g in run.model.named_parameters()]
    x = run.splits.train.images.index_select(0, batches[1])
    y = run.splits.train.labels.index_select(0, batches[1])
    run.model.loss_and_backward(x, y)
    for before, (name, _, after) in zip(replayed, run.model.named_parameters(), strict=True):
        torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_low_precision_on_cuda_learns_and_saves_float32(
    tiny_dataset: Dataset, tmp_path: Path, precision: str
) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    if precision == "tf32" and torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("this GPU has no TF32")
    config = cuda_config(precision=precision, epochs=3)
    events = list(train(config, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9))
    assert events[-1].status == "finished" and events[-1].test_accuracy_at_best > 0.8
    assert torch.backends.cuda.matmul.allow_tf32 == (precision == "tf32")
    weights = load_checkpoint(Path(events[-1].run_dir) / "checkpoints" / "last.safetensors")
    assert {t.dtype for t in weights.weights().values()} == {torch.float32}
