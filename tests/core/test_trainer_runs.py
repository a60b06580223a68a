"""The training generator on the tiny data set: events, run folders, determinism, resume,
stopping, divergence, keep-top-k, and grad mode."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import mlp_core.trainer as trainer
from data.loader import make_splits
from data.mnist import Dataset
from mlp_core import (
    CheckpointSaved,
    DeviceError,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunStarted,
    TrainConfig,
    TrainingError,
    describe_device,
    load_checkpoint,
    resolve_device,
    train,
)
from mlp_core.model import MLP
from mlp_core.runs import load_run, read_metrics

CPU = torch.device("cpu")

NO_PROGRESS = 1e9  # progress_interval that suppresses Progress events
TIMING = ("seconds", "samples_per_second")


def tiny_config(**overrides: Any) -> TrainConfig:
    """A run that takes a fraction of a second: 500 train / 100 val / 200 test, 8 steps."""
    values: dict[str, Any] = {
        "hidden": 16,
        "epochs": 3,
        "batch_size": 64,
        "val_split": 100,
        "lr": 0.05,
        "device": "cpu",
    }
    return TrainConfig(**{**values, **overrides})


def run_all(config: TrainConfig, dataset: Dataset, runs_dir: Path, **kwargs: Any) -> list[Event]:
    kwargs.setdefault("progress_interval", NO_PROGRESS)
    return list(train(config, dataset, runs_dir=runs_dir, **kwargs))


def run_dir_of(events: list[Event]) -> Path:
    started = events[0]
    assert isinstance(started, RunStarted)
    return Path(started.run_dir)


def last_checkpoint(events: list[Event]) -> Path:
    return run_dir_of(events) / "checkpoints" / "last.safetensors"


def without_timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# -- one run --------------------------------------------------------------------------------


def test_events_sequence_and_run_folder(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = run_all(tiny_config(), tiny_dataset, tmp_path)
    started, finished = events[0], events[-1]
    assert isinstance(started, RunStarted) and isinstance(finished, Finished)
    assert (started.train_size, started.val_size, started.test_size) == (500, 100, 200)
    assert started.steps_per_epoch == 8 and started.start_epoch == 0 and started.epochs == 3
    assert not any(isinstance(e, Progress) for e in events)

    # Per epoch: EpochEnd, then CheckpointSaved last (and best when it is the best so far).
    body = events[1:-1]
    epochs = [e for e in body if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    position = 0
    for epoch_end in epochs:
        assert body[position] == epoch_end
        kinds = ["last", "best"] if epoch_end.is_best else ["last"]
        saved = body[position + 1 : position + 1 + len(kinds)]
        assert [(s.kind, s.epoch) for s in saved] == [(k, epoch_end.epoch) for k in kinds]
        assert all(isinstance(s, CheckpointSaved) and Path(s.path).is_file() for s in saved)
        position += 1 + len(kinds)
    assert position == len(body)
    assert epochs[0].is_best

    assert finished.status == "finished" and finished.epochs_done == 3
    run_dir = run_dir_of(events)
    assert Path(finished.run_dir) == run_dir
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["config"] == json.loads(tiny_config().to_json())

    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    for line, epoch_end in zip(lines, epochs, strict=True):
        row = json.loads(line)
        for key, value in epoch_end.to_dict().items():
            if key != "event":
                assert row[key] == value, key
    assert load_checkpoint(last_checkpoint(events)).epoch == 3
    assert epochs[-1].test_accuracy > 0.5  # the tiny set is learnable: training trains


def test_progress_events_are_within_the_epoch(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = run_all(tiny_config(epochs=1), tiny_dataset, tmp_path, progress_interval=0.0)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 8))  # never at the epoch's last step
    assert all(p.steps == 8 and math.isfinite(p.train_loss) for p in progress)


def test_same_seed_is_bitwise_identical(tiny_dataset: Dataset, tmp_path: Path) -> None:
    config = tiny_config(augment_shift=1)
    first = run_all(config, tiny_dataset, tmp_path / "a")
    second = run_all(config, tiny_dataset, tmp_path / "b")
    assert without_timing(read_metrics(run_dir_of(first))) == without_timing(
        read_metrics(run_dir_of(second))
    )
    assert_same_tensors(
        load_checkpoint(last_checkpoint(first)).tensors,
        load_checkpoint(last_checkpoint(second)).tensors,
    )
    other = run_all(replace(config, seed=1), tiny_dataset, tmp_path / "c")
    assert not torch.equal(
        load_checkpoint(last_checkpoint(other)).tensors["fc1.weight"],
        load_checkpoint(last_checkpoint(first)).tensors["fc1.weight"],
    )


def test_each_training_image_once_per_epoch_and_never_a_validation_image(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[torch.Tensor] = []
    real_step = MLP.loss_and_backward

    def spy(self: MLP, x: torch.Tensor, labels: torch.Tensor, *rest: Any) -> torch.Tensor:
        batches.append(x.clone())
        return real_step(self, x, labels, *rest)

    monkeypatch.setattr(MLP, "loss_and_backward", spy)
    config = tiny_config(epochs=2)
    run_all(config, tiny_dataset, tmp_path)
    assert [len(b) for b in batches] == ([64] * 7 + [52]) * 2  # ceil(500/64), last partial

    splits = make_splits(tiny_dataset, config.val_split, config.seed, config.standardize, CPU)
    probe = torch.randn(784, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def fingerprints(images: torch.Tensor) -> list[float]:
        """One number per image (float64, rounded: the matmul's order may differ by shape)."""
        return sorted(round(v, 6) for v in (images.double() @ probe).tolist())

    for epoch in range(2):
        seen = torch.cat(batches[epoch * 8 : (epoch + 1) * 8])
        assert fingerprints(seen) == fingerprints(splits.train.images)
    assert splits.val is not None
    assert not set(fingerprints(splits.val.images)) & set(fingerprints(torch.cat(batches)))
    first, second = torch.cat(batches[:8]), torch.cat(batches[8:])
    assert not torch.equal(first, second)  # a new order each epoch


# -- resume ---------------------------------------------------------------------------------


def _stop_after_epochs(count: int) -> tuple[Callable[[Event], None], Callable[[], bool]]:
    """An observer of events and a should_stop that turns True once `count` epochs ended."""
    seen: list[int] = []

    def observe(event: Event) -> None:
        if isinstance(event, EpochEnd):
            seen.append(event.epoch)

    return observe, lambda: len(seen) >= count


@pytest.mark.parametrize(
    "overrides",
    [
        {"schedule": "cosine", "momentum": 0.9, "nesterov": True, "augment_shift": 1},
        {"schedule": "cosine", "optimizer": "adam", "lr": 0.005, "nesterov": False},
    ],
    ids=["sgd-nesterov-cosine-shift", "adam-cosine"],
)
def test_resume_after_4_of_8_epochs_is_bitwise_equal(
    tiny_dataset: Dataset, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    config = tiny_config(epochs=8, **overrides)
    straight = run_all(config, tiny_dataset, tmp_path / "straight")

    observe, should_stop = _stop_after_epochs(4)
    interrupted = []
    for event in train(
        config,
        tiny_dataset,
        runs_dir=tmp_path / "resumed",
        should_stop=should_stop,
        progress_interval=NO_PROGRESS,
    ):
        observe(event)
        interrupted.append(event)
    assert interrupted[-1].status == "stopped"
    start = load_checkpoint(last_checkpoint(interrupted))
    assert start.epoch == 4
    resumed = run_all(config, tiny_dataset, tmp_path / "resumed", start=start)
    assert resumed[0].start_epoch == 4 and resumed[-1].status == "finished"
    assert run_dir_of(resumed) == run_dir_of(interrupted)  # continued in place

    final_straight = load_checkpoint(last_checkpoint(straight))
    final_resumed = load_checkpoint(last_checkpoint(resumed))
    assert final_resumed.epoch == 8
    assert_same_tensors(final_straight.tensors, final_resumed.tensors)
    assert without_timing(read_metrics(run_dir_of(straight))) == without_timing(
        read_metrics(run_dir_of(resumed))
    )
    assert load_run(run_dir_of(resumed)).status == "finished"


def test_resume_with_more_epochs_constant_schedule(tiny_dataset: Dataset, tmp_path: Path) -> None:
    """The literal form: a finished 4-epoch run extended to 8 with replace(config, epochs=8)."""
    config = tiny_config(epochs=4, schedule="constant", momentum=0.9, nesterov=False)
    four = run_all(config, tiny_dataset, tmp_path / "four")
    start = load_checkpoint(last_checkpoint(four))
    extended = run_all(replace(config, epochs=8), tiny_dataset, tmp_path / "four", start=start)
    straight = run_all(replace(config, epochs=8), tiny_dataset, tmp_path / "eight")
    assert_same_tensors(
        load_checkpoint(last_checkpoint(extended)).tensors,
        load_checkpoint(last_checkpoint(straight)).tensors,
    )
    assert [m["epoch"] for m in read_metrics(run_dir_of(extended))] == list(range(1, 9))


def test_fork_with_another_config_is_a_new_run_with_a_parent(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    first = run_all(tiny_config(epochs=2), tiny_dataset, tmp_path)
    start = load_checkpoint(last_checkpoint(first))
    fork = run_all(tiny_config(epochs=3, lr=0.01), tiny_dataset, tmp_path, start=start)
    assert run_dir_of(fork) != run_dir_of(first)
    info = load_run(run_dir_of(fork))
    assert info.parent and info.parent["epoch"] == 2 and info.parent["run"] == start.run
    rows = read_metrics(run_dir_of(fork))
    assert [(r["epoch"], r.get("inherited", False)) for r in rows] == [
        (1, True),
        (2, True),
        (3, False),
    ]
    assert load_run(run_dir_of(first)).status == "finished"  # the parent is untouched
    # "Best" is chosen among the fork's own epochs: it always has a best checkpoint.
    assert rows[2]["is_best"] is True
    assert load_checkpoint(run_dir_of(fork) / "checkpoints" / "best.safetensors").epoch == 3
    assert info.best() is not None and info.best()["epoch"] == 3  # never an inherited epoch


def test_resume_needs_more_epochs_than_the_checkpoint(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    events = run_all(tiny_config(epochs=2), tiny_dataset, tmp_path)
    with pytest.raises(TrainingError, match="epoch 2"):
        run_all(
            tiny_config(epochs=2),
            tiny_dataset,
            tmp_path,
            start=load_checkpoint(last_checkpoint(events)),
        )


def test_validation_split_larger_than_the_data(tiny_dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="val_split"):
        run_all(tiny_config(val_split=600), tiny_dataset, tmp_path)


# -- stopping -------------------------------------------------------------------------------


def test_should_stop_ends_the_run_stopped(tiny_dataset: Dataset, tmp_path: Path) -> None:
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 8 + 3  # during epoch 2

    events = run_all(tiny_config(epochs=5), tiny_dataset, tmp_path, should_stop=should_stop)
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.status == "stopped"
    assert finished.epochs_done == 1
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1]
    assert load_run(run_dir_of(events)).status == "stopped"
    assert load_checkpoint(last_checkpoint(events)).epoch == 1
    assert len(read_metrics(run_dir_of(events))) == 1


def test_closing_the_generator_marks_the_run_stopped(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = train(
        tiny_config(epochs=5), tiny_dataset, runs_dir=tmp_path, progress_interval=NO_PROGRESS
    )
    started = next(events)
    assert isinstance(started, RunStarted)
    assert load_run(Path(started.run_dir)).status == "running"
    for event in events:
        if isinstance(event, EpochEnd) and event.epoch == 2:
            break
    events.close()
    assert load_run(Path(started.run_dir)).status == "stopped"
    assert load_checkpoint(Path(started.run_dir) / "checkpoints" / "last.safetensors").epoch == 2


def test_ctrl_c_marks_the_run_stopped_not_failed(tiny_dataset: Dataset, tmp_path: Path) -> None:
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        if calls > 8 + 2:
            raise KeyboardInterrupt
        return False

    events = train(
        tiny_config(epochs=3),
        tiny_dataset,
        runs_dir=tmp_path,
        should_stop=should_stop,
        progress_interval=NO_PROGRESS,
    )
    started = next(events)
    with pytest.raises(KeyboardInterrupt):
        list(events)
    assert load_run(Path(started.run_dir)).status == "stopped"
    assert load_checkpoint(Path(started.run_dir) / "checkpoints" / "last.safetensors").epoch == 1


def test_an_error_in_training_marks_the_run_failed(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_step(self: MLP, x: torch.Tensor, labels: torch.Tensor, *_: Any) -> torch.Tensor:
        raise RuntimeError("CUDA error: an illegal memory access")

    monkeypatch.setattr(MLP, "loss_and_backward", broken_step)
    events = train(tiny_config(), tiny_dataset, runs_dir=tmp_path)
    started = next(events)
    with pytest.raises(RuntimeError, match="illegal"):
        list(events)
    info = load_run(Path(started.run_dir))
    assert info.status == "failed" and "illegal memory access" in info.error


# -- divergence -----------------------------------------------------------------------------


def _explode_from_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """The learning rate becomes 1e6 from `epoch` on (1-based), whatever the schedule."""
    real = trainer.learning_rate

    def exploding(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
        if step >= (epoch - 1) * steps_per_epoch:
            return 1e6
        return real(config, step, steps_per_epoch)

    monkeypatch.setattr(trainer, "learning_rate", exploding)


@pytest.mark.parametrize("progress_interval", [0.0, NO_PROGRESS], ids=["in-epoch", "epoch-end"])
def test_divergence_stops_and_keeps_the_last_good_checkpoint(
    tiny_dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    progress_interval: float,
) -> None:
    _explode_from_epoch(monkeypatch, 3)
    events = run_all(
        tiny_config(epochs=5), tiny_dataset, tmp_path, progress_interval=progress_interval
    )
    diverged = events[-1]
    assert isinstance(diverged, Diverged) and diverged.epoch == 3
    assert not any(isinstance(e, Finished) for e in events)
    assert "NaN" in diverged.reason or "inf" in diverged.reason
    run_dir = run_dir_of(events)
    info = load_run(run_dir)
    assert info.status == "diverged" and info.error
    assert diverged.last_good_checkpoint == str(run_dir / "checkpoints" / "last.safetensors")
    good = load_checkpoint(diverged.last_good_checkpoint)
    assert good.epoch == 2
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1, 2]
    for path in (run_dir / "checkpoints").iterdir():  # no NaN checkpoint anywhere, none best
        checkpoint = load_checkpoint(path)
        assert checkpoint.epoch <= 2
        assert all(torch.isfinite(t).all() for t in checkpoint.weights().values())
        assert math.isfinite(checkpoint.metrics["train_loss"])


def test_divergence_in_the_first_epoch_has_no_checkpoint(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _explode_from_epoch(monkeypatch, 1)
    events = run_all(tiny_config(epochs=2), tiny_dataset, tmp_path)
    assert isinstance(events[-1], Diverged) and events[-1].last_good_checkpoint is None
    assert list((run_dir_of(events) / "checkpoints").iterdir()) == []


def test_diverging_learning_rate_from_the_config(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = run_all(tiny_config(lr=1e6, epochs=2), tiny_dataset, tmp_path)
    assert isinstance(events[-1], Diverged)
    assert load_run(run_dir_of(events)).status == "diverged"


# -- keep top k -----------------------------------------------------------------------------


def test_keep_top_k_keeps_the_k_best_epoch_files(tiny_dataset: Dataset, tmp_path: Path) -> None:
    config = tiny_config(epochs=5, keep_top_k=2, lr=0.002, hidden=8)
    events = run_all(config, tiny_dataset, tmp_path)
    saved_epochs = [e.epoch for e in events if isinstance(e, CheckpointSaved) and e.kind == "epoch"]
    assert saved_epochs == [1, 2, 3, 4, 5]
    folder = run_dir_of(events) / "checkpoints"
    kept = sorted(p.name for p in folder.glob("epoch-*.safetensors"))
    assert len(kept) == 2
    accuracy = {m["epoch"]: m["val_accuracy"] for m in read_metrics(run_dir_of(events))}
    kept_epochs = {int(name[6:10]) for name in kept}
    dropped = set(accuracy) - kept_epochs
    assert min(accuracy[e] for e in kept_epochs) >= max(accuracy[e] for e in dropped)
    for name in kept:
        assert load_checkpoint(folder / name).epoch == int(name[6:10])
    assert {p.name for p in folder.iterdir()} == {"last.safetensors", "best.safetensors", *kept}


@pytest.mark.parametrize("val_split", [100, 0])
def test_best_follows_validation_never_test(
    tiny_dataset: Dataset, tmp_path: Path, val_split: int
) -> None:
    """is_best: a new high of validation accuracy (or a new low of train loss without one)."""
    config = tiny_config(epochs=5, lr=0.002, hidden=8, val_split=val_split)
    events = run_all(config, tiny_dataset, tmp_path)
    ends = [e for e in events if isinstance(e, EpochEnd)]
    scores = [e.val_accuracy if val_split else -e.train_loss for e in ends]
    running_best = -math.inf
    for end, score in zip(ends, scores, strict=True):
        assert end.is_best == (score > running_best), end
        running_best = max(running_best, score)
    best_epoch = max(range(5), key=lambda i: (scores[i], -i)) + 1
    best = load_checkpoint(run_dir_of(events) / "checkpoints" / "best.safetensors")
    assert best.epoch == best_epoch
    assert [e.is_best for e in ends].count(True) >= 1


def test_without_keep_top_k_only_last_and_best(tiny_dataset: Dataset, tmp_path: Path) -> None:
    events = run_all(tiny_config(epochs=2), tiny_dataset, tmp_path)
    names = {p.name for p in (run_dir_of(events) / "checkpoints").iterdir()}
    assert names == {"last.safetensors", "best.safetensors"}


# -- grad mode ------------------------------------------------------------------------------


def test_grad_mode_is_off_while_training(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[tuple[str, bool]] = []
    real_step, real_logits = MLP.loss_and_backward, MLP.logits

    def spy_step(self: MLP, x: torch.Tensor, labels: torch.Tensor, *rest: Any) -> torch.Tensor:
        modes.append(("step", torch.is_grad_enabled()))
        return real_step(self, x, labels, *rest)

    def spy_logits(self: MLP, x: torch.Tensor) -> torch.Tensor:
        modes.append(("logits", torch.is_grad_enabled()))
        return real_logits(self, x)

    monkeypatch.setattr(MLP, "loss_and_backward", spy_step)
    monkeypatch.setattr(MLP, "logits", spy_logits)
    assert torch.is_grad_enabled()
    run_all(tiny_config(epochs=1), tiny_dataset, tmp_path)
    assert sum(kind == "step" for kind, _ in modes) == 8
    assert any(kind == "logits" for kind, _ in modes)
    assert not any(enabled for _kind, enabled in modes)


# -- resume and fork: what may and may not continue -------------------------------------------


def test_closing_right_after_run_started_marks_the_run_stopped(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    events = train(tiny_config(), tiny_dataset, runs_dir=tmp_path, progress_interval=NO_PROGRESS)
    started = next(events)
    events.close()
    assert load_run(Path(started.run_dir)).status == "stopped"


@pytest.mark.parametrize(
    ("name", "value"), [("seed", 7), ("val_split", 50), ("standardize", False)]
)
def test_fork_that_would_change_the_data_seen_is_refused(
    tiny_dataset: Dataset, tmp_path: Path, name: str, value: object
) -> None:
    first = run_all(tiny_config(epochs=1), tiny_dataset, tmp_path)
    start = load_checkpoint(last_checkpoint(first))
    with pytest.raises(TrainingError, match=name):
        run_all(tiny_config(epochs=2, **{name: value}), tiny_dataset, tmp_path, start=start)


def test_resuming_a_run_that_is_still_training_is_refused(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    events = train(tiny_config(epochs=3), tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    started = next(events)
    next(events)  # epoch 1 ends; the run goes on in this (live) process
    last = Path(started.run_dir) / "checkpoints" / "last.safetensors"
    with pytest.raises(TrainingError, match="still training"):
        run_all(tiny_config(epochs=3), tiny_dataset, tmp_path, start=load_checkpoint(last))
    events.close()


def test_resume_mends_a_metrics_line_lost_after_its_checkpoint(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    first = run_all(tiny_config(epochs=2), tiny_dataset, tmp_path)
    metrics = run_dir_of(first) / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n")  # as if stopped between the checkpoint and its line
    resumed = run_all(
        tiny_config(epochs=3), tiny_dataset, tmp_path, start=load_checkpoint(last_checkpoint(first))
    )
    assert run_dir_of(resumed) == run_dir_of(first)  # still the latest epoch: in place
    assert [row["epoch"] for row in read_metrics(run_dir_of(first))] == [1, 2, 3]


def test_fork_with_another_hidden_size_is_refused(tiny_dataset: Dataset, tmp_path: Path) -> None:
    first = run_all(tiny_config(epochs=1, hidden=16), tiny_dataset, tmp_path)
    start = load_checkpoint(last_checkpoint(first))
    with pytest.raises(TrainingError, match="hidden"):
        run_all(tiny_config(epochs=2, hidden=32), tiny_dataset, tmp_path, start=start)


def test_stopped_run_reports_its_whole_duration(tiny_dataset: Dataset, tmp_path: Path) -> None:
    epochs_ended: list[EpochEnd] = []

    def should_stop() -> bool:
        time.sleep(0.01)  # 8 steps: each epoch takes at least 0.08 s
        return len(epochs_ended) >= 2

    finished = None
    for event in train(
        tiny_config(epochs=4),
        tiny_dataset,
        runs_dir=tmp_path,
        should_stop=should_stop,
        progress_interval=NO_PROGRESS,
    ):
        if isinstance(event, EpochEnd):
            epochs_ended.append(event)
        finished = event
    assert isinstance(finished, Finished) and finished.status == "stopped"
    assert finished.seconds >= sum(e.seconds for e in epochs_ended)


# -- devices --------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_asking_for_cuda_without_it_is_a_one_line_error(
    tiny_dataset: Dataset, tmp_path: Path, device: str
) -> None:
    with pytest.raises(DeviceError) as info:
        run_all(tiny_config(device=device), tiny_dataset, tmp_path)
    assert "\n" not in str(info.value) and device in str(info.value)
    assert not list(tmp_path.iterdir())  # no run folder for a run that never started


def test_device_resolution() -> None:
    assert resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(DeviceError):
        resolve_device("tpu")
    assert describe_device(CPU).startswith("cpu")


# -- folded updates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "folds"),
    [
        ({}, True),
        ({"momentum": 0.0, "nesterov": False}, True),
        ({"optimizer": "adam"}, False),
        ({"precision": "bf16"}, True),
    ],
)
def test_cpu_sgd_runs_fold_the_weights_updates(
    overrides: dict[str, Any],
    folds: bool,
    tiny_dataset: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trainer takes the folded step where it can (optim.py, "Folding"), and only there."""
    from mlp_core.optim import SGD
    from mlp_core.precision import precision_problem

    config = tiny_config(epochs=1, **overrides)
    if precision_problem(config.precision, torch.device("cpu")):
        pytest.skip("this CPU cannot train in bf16")  # pragma: no cover (CI's CPUs can)
    calls: list[str] = []
    real_fold = SGD.fold

    def spy(self: SGD, name: str, lr: float) -> Any:
        calls.append(name)
        return real_fold(self, name, lr)

    monkeypatch.setattr(SGD, "fold", spy)
    events = run_all(config, tiny_dataset, tmp_path)
    assert isinstance(events[-1], Finished)
    assert len(calls) == (2 * 8 if folds else 0)  # both weights, each of the 8 steps


def test_a_run_is_the_same_run_however_often_it_reports_progress(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    """Progress reports measure the next step's gradients (training_figures): with the
    weights' updates folded into the products, that must not change a single weight."""
    quiet = run_all(tiny_config(), tiny_dataset, tmp_path / "quiet")
    chatty = run_all(tiny_config(), tiny_dataset, tmp_path / "chatty", progress_interval=0.0)
    assert any(isinstance(e, Progress) for e in chatty)
    a = load_checkpoint(last_checkpoint(quiet)).tensors
    b = load_checkpoint(last_checkpoint(chatty)).tensors
    assert all(torch.equal(a[name], b[name]) for name in a)
