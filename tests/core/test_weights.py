"""The hidden units' images and orders match the checkpoint's tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from data.mnist import Dataset
from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import TrainConfig
from mlp_core.drawing import network_input
from mlp_core.trainer import train
from mlp_core.weights import UnitWeights, unit_order


def _checkpoint(dataset: Dataset, tmp_path: Path) -> Path:
    config = TrainConfig(hidden=12, epochs=1, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, dataset, runs_dir=tmp_path))
    return Path(events[0].run_dir) / "checkpoints" / "last.safetensors"


def test_unit_images_are_the_rows_of_fc1(tiny_dataset: Dataset, tmp_path: Path) -> None:
    tensors = load_checkpoint(_checkpoint(tiny_dataset, tmp_path)).tensors
    weights = UnitWeights.from_state(tensors)
    w1, w2 = tensors["fc1.weight"].numpy(), tensors["fc2.weight"].numpy()
    assert weights.hidden == 12
    for unit in range(12):
        # Pixel (r, c) of the image is the weight from input pixel 28 r + c.
        np.testing.assert_array_equal(weights.incoming[unit].ravel(), w1[unit])
        assert weights.incoming[unit][3, 5] == w1[unit, 3 * 28 + 5]
        np.testing.assert_array_equal(weights.outgoing[unit], w2[:, unit])
        signed = weights.signed_image(unit)
        assert np.abs(signed).max() == 1.0
        np.testing.assert_allclose(signed * np.abs(w1[unit]).max(), w1[unit].reshape(28, 28))
    np.testing.assert_allclose(weights.norms(), np.linalg.norm(w1.astype(np.float64), axis=1))


def test_orders(tiny_dataset: Dataset, tmp_path: Path) -> None:
    tensors = load_checkpoint(_checkpoint(tiny_dataset, tmp_path)).tensors
    weights = UnitWeights.from_state(tensors)
    w1, b1, w2 = (
        tensors[n].numpy().astype(np.float64) for n in ("fc1.weight", "fc1.bias", "fc2.weight")
    )
    assert unit_order(weights, "unit") == list(range(12))
    norms = np.linalg.norm(w1, axis=1)
    assert [norms[u] for u in unit_order(weights, "norm")] == sorted(norms, reverse=True)
    for digit in (0, 7):
        feeds = [w2[digit, u] for u in unit_order(weights, digit)]
        assert feeds == sorted(feeds, reverse=True)
    pixels = tiny_dataset.test_images[0].reshape(28, 28)
    activations = weights.activations(pixels, standardize=True)
    x = network_input(pixels, True).numpy()[0].astype(np.float64)
    np.testing.assert_allclose(activations, np.maximum(w1 @ x + b1, 0), rtol=1e-5, atol=1e-6)
    expected = torch.relu(torch.from_numpy(w1) @ torch.from_numpy(x) + torch.from_numpy(b1))
    order = unit_order(weights, "activation", activations)
    assert order[0] == int(expected.argmax())
    assert [activations[u] for u in order] == sorted(activations, reverse=True)
