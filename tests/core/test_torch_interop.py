"""A checkpoint loads into a plain PyTorch nn.Sequential (the README's snippet, run for real)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from data.loader import to_float
from data.mnist import Dataset
from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import TrainConfig
from mlp_core.model import MLP
from mlp_core.trainer import train


def readme_snippet(path: Path, images: np.ndarray) -> torch.Tensor:
    """The README's lines, verbatim apart from the path and the images: uint8 (N, 784)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(path)  # also holds the optimizer state; only four tensors are weights
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
    model.eval()

    # Inputs as the run saw them: pixels / 255, then standardised if the run was.
    with safe_open(path, framework="pt") as handle:
        config = json.loads(handle.metadata()["config"])
    x = torch.from_numpy(images).float().div(255)  # (N, 784) uint8 -> [0, 1]
    if config["standardize"]:
        x = (x - 0.1307) / 0.3081
    with torch.no_grad():
        return model(x)  # logits (N, 10); .argmax(1) is the predicted digit


@pytest.mark.parametrize("standardize", [True, False])
def test_checkpoint_loads_into_nn_sequential(
    tiny_dataset: Dataset, tmp_path: Path, standardize: bool
) -> None:
    config = TrainConfig(
        hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu", standardize=standardize
    )
    events = list(train(config, tiny_dataset, runs_dir=tmp_path))
    path = Path(events[0].run_dir) / "checkpoints" / "last.safetensors"
    got = readme_snippet(path, tiny_dataset.test_images)
    checkpoint = load_checkpoint(path)
    ours = MLP.from_state_dict(checkpoint.weights(), torch.device("cpu"))
    x = to_float(tiny_dataset.test_images, standardize, torch.device("cpu"))
    expected = ours.logits(x)
    assert got.shape == (len(tiny_dataset.test_labels), 10)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Not a vacuous match: the predictions score the accuracy the trainer recorded.
    labels = torch.from_numpy(tiny_dataset.test_labels).long()
    accuracy = (got.argmax(1) == labels).double().mean().item()
    assert accuracy == pytest.approx(checkpoint.metrics["test_accuracy"])
