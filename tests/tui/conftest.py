"""A real checkpoint for the screens that look inside a network: trained once per session on a
subset of the bundled MNIST (10,000 images, h=64, 3 epochs: about 93% on the test set, a few
seconds on the CPU), so a drawn digit can be classified for real."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

# This file's module name is `conftest`, as tests/conftest.py's is: once it is imported it
# shadows that one for `from conftest import ...`, so it offers the same helpers.
from tests_shared import make_tiny_dataset, write_dataset  # noqa: F401 (re-exported)

from data.mnist import Dataset, load_dataset
from mlp_core.config import TrainConfig
from mlp_core.trainer import train


@pytest.fixture(scope="session")
def mnist_subset() -> Dataset:
    full = load_dataset()
    return dataclasses.replace(
        full,
        train_images=full.train_images[:10000],
        train_labels=full.train_labels[:10000],
        test_images=full.test_images[:1000],
        test_labels=full.test_labels[:1000],
    )


@pytest.fixture(scope="session")
def mnist_checkpoint(mnist_subset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = TrainConfig(hidden=64, epochs=3, batch_size=64, val_split=500, device="cpu")
    events = list(train(config, mnist_subset, runs_dir=tmp_path_factory.mktemp("mnist-runs")))
    return Path(events[0].run_dir) / "checkpoints" / "best.safetensors"


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test of the app reads or writes the developer's own settings (tui.user_config)."""
    monkeypatch.setenv("MNIST_TUI_CONFIG_DIR", str(tmp_path / "config"))
