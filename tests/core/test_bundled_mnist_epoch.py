"""One epoch of the default preset on the real bundled MNIST, on the CPU (slow: 15-40 s on
two shared cores)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data.loader import make_splits
from data.mnist import load_dataset
from mlp_core import EpochEnd, Finished, RunStarted, load_checkpoint, preset, train
from mlp_core.evaluate import evaluate
from mlp_core.model import MLP

CPU = torch.device("cpu")


@pytest.mark.slow
def test_one_epoch_of_the_default_preset_reaches_95_percent(tmp_path: Path) -> None:
    config = preset("default", epochs=1, device="cpu")
    events = list(train(config, runs_dir=tmp_path, progress_interval=1e9))
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStarted) and started.dataset == "MNIST"
    assert (started.train_size, started.val_size, started.test_size) == (55_000, 5_000, 10_000)
    assert isinstance(finished, Finished) and finished.status == "finished"
    (epoch,) = [e for e in events if isinstance(e, EpochEnd)]
    assert epoch.test_accuracy >= 0.95, epoch
    assert epoch.val_accuracy is not None and epoch.val_accuracy >= 0.95

    # The saved checkpoint, evaluated afresh, gives the same test accuracy.
    checkpoint = load_checkpoint(Path(started.run_dir) / "checkpoints" / "best.safetensors")
    model = MLP.from_state_dict(checkpoint.weights(), CPU)
    test = make_splits(load_dataset(), 0, 0, config.standardize, CPU).test
    assert evaluate(model, test).accuracy == pytest.approx(epoch.test_accuracy, abs=1e-9)
