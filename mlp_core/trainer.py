"""Training as a generator of events (CONVENTIONS.md): no printing, no UI.

    for event in train(config, dataset, runs_dir=Path("runs")):
        ...

A caller that stops iterating (or whose `should_stop` returns True, checked every batch) stops
training; the checkpoints on disk are always whole, because each is written atomically at the end
of an epoch. Grad mode is off for every tensor operation: there is no autograd here at all.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from data.loader import (
    Splits,
    background,
    make_splits,
    num_batches,
    random_shift,
    shuffled_indices,
)
from data.mnist import BUNDLED_DIR, Dataset, load_dataset
from mlp_core.checkpoint import Checkpoint, atomic_write, crash_point, os_error_reason, serialize
from mlp_core.config import TrainConfig
from mlp_core.cuda_graph import graphed_loss
from mlp_core.device import describe_device, memory_error_message, resolve_device, synchronize
from mlp_core.evaluate import loss_and_accuracy
from mlp_core.events import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunStarted,
)
from mlp_core.model import MLP
from mlp_core.optim import SGD, Optimizer, can_fold, learning_rate, make_optimizer
from mlp_core.precision import apply_matmul_precision, compute_dtype, precision_problem
from mlp_core.recovery import epoch_of, mend_run_folder, prune_epoch_checkpoints, score
from mlp_core.runs import (
    CHECKPOINT_DIR,
    RUN_FILE,
    RunBusy,
    RunError,
    RunInfo,
    append_metrics,
    claim_run,
    create_run,
    load_run,
    read_metrics,
    save_run_info,
)
from mlp_core.stopsignals import DeferredSignals
from mlp_core.training_figures import FIGURES_KEY, FigureMeter, epoch_figures, loss_accuracy_dead


class TrainingError(Exception):
    """The run cannot start as asked (for example, a checkpoint already past `epochs`)."""


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


#: Higher is better (validation accuracy, or minus train loss); NaN is never best.
_score = score


class _Run:
    """The state of one training run: model, optimizer, data, folder, history."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        runs_dir: Path,
        start: Checkpoint | None,
        fork: bool = False,
    ) -> None:
        self.config = config
        #: Continue from `start` in a new run folder even when it could resume in place.
        self.fork = fork
        self.device = resolve_device(config.device)
        problem = precision_problem(config.precision, self.device)
        if problem:
            raise TrainingError(problem)
        apply_matmul_precision(config.precision, self.device)
        self.dataset = dataset
        if config.val_split >= len(dataset.train_labels):
            raise TrainingError(
                f"val_split {config.val_split} must be smaller than the training set "
                f"({len(dataset.train_labels)} images)"
            )
        self.splits: Splits = make_splits(
            dataset, config.val_split, config.seed, config.standardize, self.device
        )
        self.background = background(config.standardize)
        self.steps_per_epoch = num_batches(len(self.splits.train), config.batch_size)
        self.order_rng = _seeded(config.seed + 1)
        self.start_epoch = 0
        self.started = time.perf_counter()
        # Figures of the epoch in progress, set by _train_epoch and read by _end_of_epoch.
        self.epoch_started = 0.0
        self.train_loss = math.nan
        self.train_rate = 0.0
        self.figures = FigureMeter()
        self.history: list[dict[str, Any]] = []
        if start is None:
            self.model = MLP.create(config.hidden, config.init, _seeded(config.seed), self.device)
            self.optimizer: Optimizer = make_optimizer(config, self.model.named_parameters())
            self.info = self._new_folder(runs_dir, parent=None)
        else:
            self._restore(start, runs_dir)
        self.model.compute_dtype = compute_dtype(config.precision)
        # The first layer skips the batch's blank pixels (CPU: mlp_core/layers.py).
        self.model.blank_input = self.background if self.device.type == "cpu" else None
        #: Whether each step folds the weights' updates into their products (optim.py).
        self.fold_updates = can_fold(self.optimizer, self.model)

    def _new_folder(self, runs_dir: Path, parent: dict[str, Any] | None) -> RunInfo:
        return create_run(
            runs_dir,
            self.config,
            device=describe_device(self.device),
            dataset=self.dataset.name,
            parent=parent,
        )

    def _restore(self, start: Checkpoint, runs_dir: Path) -> None:
        """Continue from `start`: in place when it is its run's latest epoch and the config
        differs only in epochs or device; otherwise in a new run that records its parent."""
        _check_continuable(start, self.config)
        broken = start.non_finite()
        if broken:
            raise TrainingError(
                f"{start.path}: {', '.join(broken)} hold NaN or infinite values; a run cannot "
                "continue from it (resume from an earlier checkpoint)"
            )
        self.start_epoch = start.epoch
        self.model = MLP.from_state_dict(start.weights(), self.device)
        self.optimizer = make_optimizer(self.config, self.model.named_parameters())
        saved_state = start.optimizer_state()
        if saved_state.keys() == self.optimizer.state.keys():
            for name, tensor in saved_state.items():
                self.optimizer.state[name].copy_(tensor)
            self.optimizer.steps = int(start.tensors["optimizer.steps"].item())
        self.order_rng.set_state(start.tensors["rng.batch_order"])
        run_path = start.path.parent.parent
        if not self.fork and self._continues_in_place(start, run_path):
            self._take_over(start, run_path)
            return
        if start.epoch >= self.config.epochs:
            raise TrainingError(
                f"{start.path}: checkpoint is at epoch {start.epoch}; "
                f"ask for more epochs than that (epochs={self.config.epochs})"
            )
        parent_history = read_metrics(run_path) if (run_path / RUN_FILE).exists() else []
        self.history = [m for m in parent_history if m["epoch"] <= start.epoch] or [start.metrics]
        parent = {"run": start.run, "checkpoint": str(start.path), "epoch": start.epoch}
        self.info = self._new_folder(runs_dir, parent=parent)
        self.history = [{**row, "inherited": True} for row in self.history]
        for row in self.history:
            append_metrics(self.info.path, row)

    def _continues_in_place(self, start: Checkpoint, run_path: Path) -> bool:
        """True when `start` is its run folder's newest checkpoint (the epoch of `last`, or of
        metrics.jsonl when `last` was deleted) and only epochs or device change."""
        same_config = replace(start.config, epochs=self.config.epochs, device=self.config.device)
        if same_config != self.config or start.path.parent.name != CHECKPOINT_DIR:
            return False
        if not (run_path / RUN_FILE).exists():
            return False
        newest = epoch_of(run_path / CHECKPOINT_DIR / "last.safetensors")
        if newest is None:
            history = read_metrics(run_path)
            newest = history[-1]["epoch"] if history else None
        return newest == start.epoch

    def _take_over(self, start: Checkpoint, run_path: Path) -> None:
        """Resume in place: mend the folder (a kill may have cut the last epoch short), then
        mark it running. A run whose checkpoint is already at `epochs` and that did not
        finish (killed after its last checkpoint) is only mended and finished."""
        on_disk = load_run(run_path)
        if on_disk.dataset and on_disk.dataset != self.dataset.name:
            raise TrainingError(
                f"{run_path}: the run trained on {on_disk.dataset!r}, not on "
                f"{self.dataset.name!r}; give the same --data-dir to resume it"
            )
        finished = start.epoch == self.config.epochs and on_disk.status == "finished"
        if start.epoch > self.config.epochs or finished:
            raise TrainingError(
                f"{start.path}: checkpoint is at epoch {start.epoch}; "
                f"ask for more epochs than that (epochs={self.config.epochs})"
            )
        try:  # the run's lock, not its run.json, says whether it still trains
            self.info = claim_run(run_path)
        except RunBusy as exc:
            raise TrainingError(f"{exc}; stop it before resuming it") from None
        try:
            history = mend_run_folder(run_path, start)
            self.history = [m for m in history if m["epoch"] <= start.epoch] or [start.metrics]
            self.info.config, self.info.status, self.info.error = self.config, "running", ""
            save_run_info(self.info)
        except BaseException:
            self.info.release()
            raise

    # -- checkpoints -------------------------------------------------------------------

    def checkpoint_bytes(self, epoch: int, metrics: dict[str, Any]) -> bytes:
        return serialize(
            weights=self.model.state_dict(),
            optimizer_state=self.optimizer.state,
            optimizer_steps=self.optimizer.steps,
            rng_state=self.order_rng.get_state(),
            config=self.config,
            epoch=epoch,
            metrics=metrics,
            run=self.info.name,
            dataset=self.dataset.name,
            data_dir=_data_dir_of(self.dataset),
        )

    def save_checkpoints(self, epoch: int, metrics: dict[str, Any]) -> list[CheckpointSaved]:
        """Write last, then best when it is, then the per-epoch file (keep_top_k) and prune:
        the order the checkpoint module's docstring states, which the recovery rule relies on.
        """
        payload = self.checkpoint_bytes(epoch, metrics)
        folder = self.info.path / CHECKPOINT_DIR
        targets = [("last", folder / "last.safetensors")]
        if metrics["is_best"]:
            targets.append(("best", folder / "best.safetensors"))
        if self.config.keep_top_k:
            targets.append(("epoch", folder / f"epoch-{epoch:04d}.safetensors"))
        saved = []
        for kind, path in targets:
            _write_checkpoint(path, payload)
            crash_point(f"after-{kind}")
            saved.append(CheckpointSaved(str(path), kind, epoch))
        if self.config.keep_top_k:
            prune_epoch_checkpoints(folder, self.history, self.config.keep_top_k)
        return saved

    def commit_epoch(self, metrics: dict[str, Any]) -> None:
        """Append the epoch's metrics line: the step that commits it (after its checkpoints)."""
        path = self.info.path / "metrics.jsonl"
        try:
            append_metrics(self.info.path, metrics)
        except OSError as exc:
            raise RunError(
                f"cannot write the metrics of epoch {metrics['epoch']} to {path}: "
                f"{os_error_reason(exc)}; its checkpoints are written and a resume adds the line"
            ) from exc
        crash_point("after-metrics")

    def own_history(self) -> list[dict[str, Any]]:
        """The epochs trained in this run folder; a fork's inherited epochs are its parent's.

        "Best" is chosen among these, so a fork always has a best checkpoint of its own.
        """
        return [m for m in self.history if not m.get("inherited")]

    def last_checkpoint(self) -> str | None:
        path = self.info.path / CHECKPOINT_DIR / "last.safetensors"
        return str(path) if path.exists() else None

    def set_status(self, status: str, error: str = "") -> None:
        """Record the run's status; keep a label or note the user set while it trained."""
        try:
            on_disk = load_run(self.info.path)
            self.info.label, self.info.note = on_disk.label, on_disk.note
        except RunError:
            pass  # run.json unreadable: rewrite it whole from memory
        previous = self.info.status, self.info.error
        self.info.status, self.info.error = status, error
        try:
            save_run_info(self.info)
        except RunError:
            # Not written (a full disk): the run is still what run.json says, so the error
            # handler in train() still records the failure if it can.
            self.info.status, self.info.error = previous
            raise

    def try_set_status(self, status: str, error: str = "") -> None:
        """`set_status` while an error is being raised: a full disk must not hide that error."""
        with contextlib.suppress(OSError, RunError):
            self.set_status(status, error)


#: Fields a continued run must share with its checkpoint: the weights' shape, and the data the
#: model has seen (a new seed or split would put training images in the validation set).
_FIXED_ON_CONTINUE = ("hidden", "seed", "val_split", "standardize")


def _check_continuable(start: Checkpoint, config: TrainConfig) -> None:
    """Refuse a resume or fork whose config cannot continue from `start`'s weights."""
    for name in _FIXED_ON_CONTINUE:
        old, new = getattr(start.config, name), getattr(config, name)
        if old != new:
            raise TrainingError(
                f"{start.path}: checkpoint has {name}={old}; a run continued from it cannot "
                f"have {name}={new}"
            )


def _data_dir_of(dataset: Dataset) -> str:
    """The folder a data set came from, as checkpoints record it ("" for the bundled MNIST or
    one built in memory), so `eval` can find the same data again."""
    source = Path(dataset.source)
    if source.resolve() == BUNDLED_DIR or not source.is_dir():
        return ""
    return str(source.resolve())


def _write_checkpoint(path: Path, payload: bytes) -> None:
    """`atomic_write`, with a full disk (or any OSError) said as what was being written."""
    try:
        atomic_write(path, payload)
    except OSError as exc:
        raise RunError(
            f"cannot write checkpoint {path}: {os_error_reason(exc)}; "
            "the previous checkpoint is intact"
        ) from exc


def train(
    config: TrainConfig,
    dataset: Dataset | None = None,
    *,
    runs_dir: Path | str = Path("runs"),
    start: Checkpoint | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_interval: float = 0.25,
    fork: bool = False,
) -> Iterator[Event]:
    """Train `config`, yielding events; see the module docstring.

    dataset: defaults to the bundled MNIST. start: a checkpoint to continue from (resume or
    fork). should_stop: polled once per batch; when it returns True the run ends after the
    current batch with status "stopped" (the partial epoch is not saved). fork: continue from
    `start` in a new run even when only epochs or device changed (else that resumes in place).
    """
    try:
        run = _Run(
            config, dataset if dataset is not None else load_dataset(), Path(runs_dir), start, fork
        )
    except (MemoryError, RuntimeError) as exc:
        message = memory_error_message(exc, config)
        if message is None:
            raise
        raise TrainingError(message) from exc
    try:
        yield RunStarted(
            run_name=run.info.name,
            run_dir=str(run.info.path),
            config=asdict(config),
            device=describe_device(run.device),
            dataset=run.dataset.name,
            start_epoch=run.start_epoch,
            epochs=config.epochs,
            steps_per_epoch=run.steps_per_epoch,
            train_size=len(run.splits.train),
            val_size=len(run.splits.val) if run.splits.val else 0,
            test_size=len(run.splits.test),
            note=run.dataset.note,
        )
        yield from _epochs(run, should_stop or (lambda: False), progress_interval)
    except (GeneratorExit, KeyboardInterrupt):
        # The caller stopped iterating, or the user pressed Ctrl-C: a stop, not a failure.
        if run.info.status == "running":
            run.try_set_status("stopped")
        raise
    except (MemoryError, RuntimeError) as exc:
        message = memory_error_message(exc, config)
        if run.info.status == "running":
            run.try_set_status("failed", message or f"{type(exc).__name__}: {exc}")
        if message is None:
            raise
        raise TrainingError(message) from exc
    except Exception as exc:
        if run.info.status == "running":
            run.try_set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run.info.release()  # the lock goes once the end is recorded (liveness.py)


def _epochs(
    run: _Run, should_stop: Callable[[], bool], progress_interval: float
) -> Iterator[Event]:
    config = run.config
    for epoch in range(run.start_epoch + 1, config.epochs + 1):
        outcome = yield from _train_epoch(run, epoch, should_stop, progress_interval)
        if outcome is not None:
            yield outcome
            return
        metrics = _end_of_epoch(run, epoch)
        if not math.isfinite(metrics["train_loss"]) or not math.isfinite(metrics["test_loss"]):
            run.set_status("diverged", "loss is not finite")
            yield Diverged(
                epoch,
                run.steps_per_epoch,
                f"loss became NaN or infinite at the end of epoch {epoch}"
                f"{run.figures.divergence_note()}",
                run.last_checkpoint(),
                str(run.info.path),
            )
            return
        # A Ctrl-C or SIGTERM in the writes acts once the epoch is committed and reported.
        with DeferredSignals() as held:
            saved = run.save_checkpoints(epoch, metrics)
            run.commit_epoch(metrics)
        yield EpochEnd(**{k: metrics[k] for k in EpochEnd.__dataclass_fields__})
        yield from saved
        held.deliver()
    crash_point("before-finished")
    run.set_status("finished")
    yield _finished(run, "finished")


def _finished(run: _Run, status: str) -> Finished:
    best = max(run.own_history(), key=_score, default=None)
    return Finished(
        status=status,
        epochs_done=run.history[-1]["epoch"] if run.history else 0,
        best_epoch=best["epoch"] if best else None,
        best_val_accuracy=best.get("val_accuracy") if best else None,
        test_accuracy_at_best=best["test_accuracy"] if best else None,
        seconds=time.perf_counter() - run.started,
        run_dir=str(run.info.path),
    )


def _train_epoch(
    run: _Run, epoch: int, should_stop: Callable[[], bool], progress_interval: float
) -> Iterator[Event]:
    """One epoch of steps. Returns None when complete, or the Finished/Diverged event that
    ends the run early (a generator's return value, picked up by `yield from`)."""
    config, split, rng = run.config, run.splits.train, run.order_rng
    batches = shuffled_indices(split, config.batch_size, rng)
    shifts = None
    if config.augment_shift:
        high = 2 * config.augment_shift + 1
        shifts = torch.randint(0, high, (len(split), 2), generator=rng).to(run.device)
    loss_sum = torch.zeros((), device=run.device)
    epoch_start = last_report = time.perf_counter()
    run.epoch_started = epoch_start
    steps = run.steps_per_epoch
    # The weights' figures are measured at the epoch's last step and after each progress
    # report (mlp_core/training_figures.py: one weight copy and eight norms, no host sync).
    # (bench/epoch_time.py drives this loop with a run object that has no meter: a local one.)
    meter, measure = getattr(run, "figures", None) or FigureMeter(), False
    for step, index in enumerate(batches):
        if should_stop():
            run.set_status("stopped")
            return _finished(run, "stopped")
        lr = learning_rate(config, (epoch - 1) * steps + step, steps)
        measure = measure or step + 1 == steps
        meter.before_step(run.model, measure)
        step_shifts = None if shifts is None else shifts.index_select(0, index)
        _step(run, index, step_shifts, lr, loss_sum, keep_gradients=measure)
        meter.after_step(run.model)
        measure = False
        now = time.perf_counter()
        if now - last_report >= progress_interval and step + 1 < steps:
            last_report, measure = now, True
            mean_loss = loss_sum.item() / (step + 1)
            meter.poll()
            if not math.isfinite(mean_loss):
                run.set_status("diverged", "loss is not finite")
                return Diverged(
                    epoch,
                    step + 1,
                    f"loss became {mean_loss} at step {step + 1} of "
                    f"epoch {epoch} (learning rate {lr:g} too high?){meter.divergence_note()}",
                    run.last_checkpoint(),
                    str(run.info.path),
                )
            done = min((step + 1) * config.batch_size, len(split))
            rate = done / (now - epoch_start)
            yield Progress(epoch, step + 1, steps, mean_loss, rate, (len(split) - done) / rate)
    run.train_loss = loss_sum.item() / steps
    run.train_rate = len(split) / (time.perf_counter() - epoch_start)
    return None


#: The parameters whose update a folded step makes inside the backward (optim.py, "Folding").
FOLDED = ("fc1.weight", "fc2.weight")


@torch.no_grad()
def _step(
    run: _Run,
    index: torch.Tensor,
    shifts: torch.Tensor | None,
    lr: float,
    loss_sum: torch.Tensor,
    keep_gradients: bool = True,
) -> None:
    """One SGD step on the batch `index` (no host sync). On CUDA the forward and backward
    replay a captured graph (mlp_core/cuda_graph.py); the CPU calls `_batch_loss` directly,
    folding the weights' updates into the backward where it can (`run.fold_updates`), and
    then filling their gradients only when `keep_gradients` (a measured step)."""
    optimizer = run.optimizer
    if run.fold_updates and isinstance(optimizer, SGD):
        folds = {name: optimizer.fold(name, lr) for name in FOLDED}
        x, y = _batch(run, index, shifts)
        loss_sum.add_(run.model.loss_and_backward(x, y, folds, keep_gradients))
        optimizer.step(lr, folded=FOLDED)
        return

    def batch_loss(index: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
        return _batch_loss(run, index, shifts)

    if run.device.type == "cuda":
        loss = graphed_loss(run, batch_loss, index, shifts)
    else:
        loss = batch_loss(index, shifts)
    loss_sum.add_(loss)
    optimizer.step(lr)


def _batch(
    run: _Run, index: torch.Tensor, shifts: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch `index`'s images (shifted when augmenting) and labels."""
    x = run.splits.train.images.index_select(0, index)
    y = run.splits.train.labels.index_select(0, index)
    if shifts is not None:
        x = random_shift(x, shifts, run.config.augment_shift, run.background)
    return x, y


def _batch_loss(run: _Run, index: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
    """Gather the batch, shift it when augmenting, forward and backward: the loss ()."""
    return run.model.loss_and_backward(*_batch(run, index, shifts))


def _end_of_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """Evaluate on validation and test, decide whether this epoch is the best so far."""
    synchronize(run.device)
    seconds = time.perf_counter() - run.epoch_started
    val_loss = val_accuracy = None
    if run.splits.val is not None:
        val_loss, val_accuracy, dead = loss_accuracy_dead(run.model, run.splits.val)
        test_loss, test_accuracy = loss_and_accuracy(run.model, run.splits.test)
    else:  # dead units on the test split then: a diagnostic, never used to choose a model
        test_loss, test_accuracy, dead = loss_accuracy_dead(run.model, run.splits.test)
    steps = run.steps_per_epoch
    metrics: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": run.train_loss,
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "lr": learning_rate(run.config, epoch * steps - 1, steps),
        "seconds": seconds,
        "samples_per_second": run.train_rate,
        FIGURES_KEY: epoch_figures(run.figures, dead),
    }
    previous_best = max((_score(m) for m in run.own_history()), default=-math.inf)
    metrics["is_best"] = _score(metrics) > previous_best
    run.history.append(metrics)
    return metrics
