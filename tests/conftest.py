"""Shared fixtures: a tiny learnable synthetic data set, in memory and as IDX files."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from data.mnist import LAYOUT, Dataset, write_idx

# A shell that starts the suite as a background job (`cmd &`) hands it SIGINT ignored, and
# every process a test spawns would inherit that: the tests that press Ctrl-C (SIGINT) on a
# command would then wait for nothing. A handler (not an ignore) is reset to the default on
# exec, so the children get Python's KeyboardInterrupt back, however the suite was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def make_tiny_dataset(n_train: int = 600, n_test: int = 200, seed: int = 0) -> Dataset:
    """Images whose class decides which 28x28 blocks are bright, plus noise: learnable in a
    few epochs by the MLP, so UI and CLI tests can check that accuracy moves."""
    rng = np.random.default_rng(seed)

    def images_for(labels: np.ndarray) -> np.ndarray:
        images = rng.integers(0, 60, size=(len(labels), 28, 28))
        for index, label in enumerate(labels):
            row, col = divmod(int(label), 4)
            images[index, row * 7 : row * 7 + 7, col * 7 : col * 7 + 7] += 190
        return images.clip(0, 255).astype(np.uint8)

    train_labels = rng.integers(0, 10, size=n_train).astype(np.uint8)
    test_labels = rng.integers(0, 10, size=n_test).astype(np.uint8)
    return Dataset(
        name="tiny",
        source=Path("<memory>"),
        train_images=images_for(train_labels).reshape(-1, 784),
        train_labels=train_labels,
        test_images=images_for(test_labels).reshape(-1, 784),
        test_labels=test_labels,
        verified=False,
        note=None,
    )


def write_dataset(directory: Path, dataset: Dataset, gzip_it: bool = True) -> Path:
    """Write `dataset` in the four-file IDX layout into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": dataset.train_images.reshape(-1, 28, 28),
        "train_labels": dataset.train_labels,
        "test_images": dataset.test_images.reshape(-1, 28, 28),
        "test_labels": dataset.test_labels,
    }
    for role, (stem, _magic) in LAYOUT.items():
        name = f"{stem}.gz" if gzip_it else stem
        write_idx(directory / name, arrays[role], gzip_it=gzip_it)
    return directory


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_tiny_dataset()


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A --data-dir holding the tiny set as gzip IDX files."""
    return write_dataset(tmp_path / "tiny-data", make_tiny_dataset())


# -- a real checkpoint for the screens that look inside a network ------------------------------
# Trained once per session on a subset of the bundled MNIST (10,000 images, h=64, 3 epochs: about
# 93% on the test set, a few seconds on the CPU), so a drawn digit can be classified for real.
# Here rather than in tests/tui/conftest.py: a second conftest module shadows this one for the
# `from conftest import ...` of the helpers.


@pytest.fixture(scope="session")
def mnist_subset() -> Dataset:
    import dataclasses

    from data.mnist import load_dataset

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
    from mlp_core.config import TrainConfig
    from mlp_core.trainer import train

    config = TrainConfig(hidden=64, epochs=3, batch_size=64, val_split=500, device="cpu")
    events = list(train(config, mnist_subset, runs_dir=tmp_path_factory.mktemp("mnist-runs")))
    return Path(events[0].run_dir) / "checkpoints" / "best.safetensors"


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own settings (tui.user_config)."""
    monkeypatch.setenv("MNIST_TUI_CONFIG_DIR", str(tmp_path / "config"))


# -- the suite leaves no process behind ------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process a test spawned (a run, a queue runner, a search controller:
    each names its folder under pytest's temporary root on its command line) outlived the
    tests that started it; it is killed by pid here so nothing stays detached."""
    from spawned import kill_spawned

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    left = kill_spawned(factory.getbasetemp())
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"processes left behind by the tests (killed): {left}", red=True)
