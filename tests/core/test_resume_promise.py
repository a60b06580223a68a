"""Exactly what the README promises about bitwise-equal resume, and what it does not.

Promised (on the CPU): a run configured for N epochs that stopped (or was killed, see
test_crash_recovery.py) after k and was resumed ends bitwise equal to N epochs in one go; and a
finished run extended with more epochs equals the longer run in one go when its schedule does not
depend on the total (constant, step). Not promised: extending a cosine run, whose schedule is
stretched over the new total.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from data.mnist import Dataset
from mlp_core import EpochEnd, TrainConfig, load_checkpoint, train
from mlp_core.runs import read_metrics

BASE = TrainConfig(hidden=16, batch_size=64, val_split=100, lr=0.02, device="cpu")


def run(config: TrainConfig, dataset: Dataset, runs: Path, **kwargs: Any) -> Path:
    events = list(train(config, dataset, runs_dir=runs, progress_interval=1e9, **kwargs))
    return Path(events[0].run_dir)


def final_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.safetensors").tensors


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "overrides",
    [
        {"schedule": "constant"},
        {"schedule": "step", "lr_step_epochs": 1, "lr_gamma": 0.5},
        {"schedule": "constant", "optimizer": "adam", "lr": 0.002, "nesterov": False},
    ],
    ids=["constant", "step", "adam-constant"],
)
def test_extending_a_finished_run_equals_the_longer_run_when_the_schedule_ignores_the_total(
    tiny_dataset: Dataset, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    four = replace(BASE, epochs=2, **overrides)
    short = run(four, tiny_dataset, tmp_path / "a")
    start = load_checkpoint(short / "checkpoints" / "last.safetensors")
    extended = run(replace(four, epochs=4), tiny_dataset, tmp_path / "a", start=start)
    straight = run(replace(four, epochs=4), tiny_dataset, tmp_path / "b")
    assert extended == short  # continued in place
    assert equal(final_tensors(extended), final_tensors(straight))


def test_extending_a_cosine_run_is_not_the_longer_run(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    """A 2-epoch cosine run has annealed towards 0; extended to 4 it restarts epoch 3 at half
    the peak rate, where a 4-epoch run is also at half but got there on another curve."""
    two = replace(BASE, epochs=2, schedule="cosine")
    short = run(two, tiny_dataset, tmp_path / "a")
    start = load_checkpoint(short / "checkpoints" / "last.safetensors")
    extended = run(replace(two, epochs=4), tiny_dataset, tmp_path / "a", start=start)
    straight = run(replace(two, epochs=4), tiny_dataset, tmp_path / "b")
    assert not equal(final_tensors(extended), final_tensors(straight))
    lrs = {row["epoch"]: row["lr"] for row in read_metrics(extended)}
    assert lrs[2] < 0.02 * BASE.lr  # the short run annealed to nearly 0 ...
    assert lrs[3] > 0.1 * BASE.lr  # ... and the extension climbs back up


def test_a_run_stopped_after_k_of_n_and_resumed_equals_n_in_one_go(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    """The README's main promise, with cosine (the schedule that depends on the total)."""
    config = replace(BASE, epochs=4, schedule="cosine", augment_shift=1)
    ended: list[int] = []
    for event in train(
        config,
        tiny_dataset,
        runs_dir=tmp_path / "a",
        should_stop=lambda: len(ended) >= 2,
        progress_interval=1e9,
    ):
        if isinstance(event, EpochEnd):
            ended.append(event.epoch)
    (stopped,) = (tmp_path / "a").iterdir()
    start = load_checkpoint(stopped / "checkpoints" / "last.safetensors")
    assert start.epoch == 2
    resumed = run(config, tiny_dataset, tmp_path / "a", start=start)
    straight = run(config, tiny_dataset, tmp_path / "b")
    assert resumed == stopped
    assert equal(final_tensors(resumed), final_tensors(straight))
