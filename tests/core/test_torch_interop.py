"""A checkpoint loads into a plain PyTorch nn.Sequential (the README's snippet, run for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from data.loader import to_float
from data.mnist import Dataset
from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import TrainConfig
from mlp_core.model import MLP
from mlp_core.trainer import train


def readme_snippet(path: Path) -> nn.Sequential:
    """The README's lines, verbatim apart from the path."""
    from safetensors.torch import load_file

    tensors = load_file(path)  # also holds optimizer state; only the four weights are needed
    hidden = tensors["fc1.weight"].shape[0]
    model = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    model.load_state_dict(
        {
            "0.weight": tensors["fc1.weight"],
            "0.bias": tensors["fc1.bias"],
            "2.weight": tensors["fc2.weight"],
            "2.bias": tensors["fc2.bias"],
        }
    )
    return model.eval()


def test_checkpoint_loads_into_nn_sequential(tiny_dataset: Dataset, tmp_path: Path) -> None:
    for standardize in (True, False):
        config = TrainConfig(
            hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu", standardize=standardize
        )
        events = list(train(config, tiny_dataset, runs_dir=tmp_path / str(standardize)))
        path = Path(events[0].run_dir) / "checkpoints" / "last.safetensors"
        sequential = readme_snippet(path)
        ours = MLP.from_state_dict(load_checkpoint(path).weights(), torch.device("cpu"))
        x = to_float(tiny_dataset.test_images, standardize, torch.device("cpu"))
        with torch.no_grad():
            expected = ours.logits(x)
            got = sequential(x)
        assert got.shape == (len(tiny_dataset.test_labels), 10)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        # Not a vacuous match: the logits separate the classes as the checkpoint's accuracy says.
        accuracy = (got.argmax(1) == torch.from_numpy(tiny_dataset.test_labels).long()).float()
        assert accuracy.mean().item() == pytest.approx(
            load_checkpoint(path).metrics["test_accuracy"]
        )
