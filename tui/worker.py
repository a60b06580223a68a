"""What runs off the UI thread: loading the back end (the app's loading thread), and pumping
training events (its training workers, in the one torch thread).

These functions know nothing of widgets: `pump_events` turns any iterator of engine events into
messages handed to `post` (the app's thread-safe `post_message`), and reports an exception as a
`RunFailed` message instead of letting it kill the app. torch is imported here, inside the
workers, never while the first screen is drawn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlp_core.events import Event, RunStarted
from tui.messages import JobUpdate, RunFailed, message_for

if TYPE_CHECKING:
    from data.mnist import Dataset
    from mlp_core.checkpoint import Checkpoint
    from mlp_core.config import TrainConfig
    from mlp_core.sweep import Sweep

#: Makes the events of one run, given the function it must poll to know when to stop.
EventSource = Callable[[Callable[[], bool]], Iterator[Event]]
Result = TypeVar("Result")

_torch_executor: ThreadPoolExecutor | None = None
_torch_busy = 0
_busy_lock = threading.Lock()


def run_in_torch_thread(function: Callable[..., Result], *args: Any) -> Result:
    """Run `function` in the app's one torch thread and wait for it.

    Every run of the app trains in this same long-lived thread. OpenMP (torch's CPU
    parallelism) keeps a team of helper threads per thread that starts parallel work; a second
    team makes more OpenMP threads than cores, and libgomp then stops spin-waiting between
    parallel regions, so each small op pays a sleep/wake: measured 8x slower element-wise ops
    and 1.5x slower CPU epochs. One thread means one team. Modal screens that evaluate a
    checkpoint on the CPU should use it too.
    """
    global _torch_executor, _torch_busy
    with _busy_lock:  # two first callers at once must not make two torch threads
        if _torch_executor is None:
            _torch_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        executor = _torch_executor
        _torch_busy += 1
    try:
        return executor.submit(function, *args).result()
    finally:
        with _busy_lock:
            _torch_busy -= 1


def torch_thread_busy() -> bool:
    """Whether a run (or other work) holds the torch thread now."""
    return _torch_busy > 0


def run_torch_work(function: Callable[..., Result], *args: Any) -> Result:
    """Short torch work (evaluating a checkpoint): in the torch thread when it is free, else here.

    A run holds the torch thread until it ends; an evaluation queued behind it would wait for
    the whole run. Beside a run it runs in the caller's thread instead: the run is slower for
    the second or so that takes (a second OpenMP team), which is better than no answer.
    """
    if torch_thread_busy():
        return function(*args)
    return run_in_torch_thread(function, *args)


def training_source(
    config: TrainConfig,
    dataset: Dataset,
    runs_dir: Path,
    start: Checkpoint | Path | None = None,
    progress_interval: float = 0.25,
) -> EventSource:
    """The usual source: `mlp_core.train()` in this process. A checkpoint given as a file is
    read here, in the worker (a CheckpointError then fails the run like any training error)."""

    def source(should_stop: Callable[[], bool]) -> Iterator[Event]:
        from mlp_core.checkpoint import load_checkpoint
        from mlp_core.trainer import train

        return train(
            config,
            dataset,
            runs_dir=runs_dir,
            start=load_checkpoint(start) if isinstance(start, Path) else start,
            should_stop=should_stop,
            progress_interval=progress_interval,
        )

    return source


def pump_events(events: Iterable[Event], post: Callable[[Any], object]) -> None:
    """Post one message per event; an exception becomes a RunFailed message (and the run's
    folder, if one was made, is marked failed). The generator is always closed, so the engine's
    own clean-up (the run's status) runs before this returns."""
    run_dir: str | None = None
    try:
        for event in events:
            if isinstance(event, RunStarted):
                run_dir = event.run_dir
            post(message_for(event))
    except Exception as exc:
        kind, text = describe_error(exc)
        if run_dir is not None:
            mark_failed(Path(run_dir), text)
        post(RunFailed(kind, text, run_dir))
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def pump_sweep(
    sweep: Sweep, post: Callable[[Any], object], is_cancelled: Callable[[], bool] = lambda: False
) -> None:
    """Run a sweep, posting every sweep event as a JobUpdate (for the queue view) and the
    training events of one job at a time as the usual messages (charts, table, progress).

    With one device the jobs run one after another and each is followed in turn; with several
    side by side, the screen follows one job until it ends, then the next one that starts.
    An error of the sweep itself (a device missing) becomes a RunFailed message.
    `is_cancelled` (the worker's) is polled at each event: once true, the sweep is stopped
    (its jobs end after their batch), as the app's quit or a cancelled worker wants.
    """
    from mlp_core.events import RunStarted as Started
    from mlp_core.sweep import JobEvent, JobFinished

    followed: int | None = None
    events = sweep.run()
    try:
        for event in events:
            if is_cancelled() and not sweep.stopping:
                sweep.stop()
            post(JobUpdate(event))
            if isinstance(event, JobEvent):
                if followed is None and isinstance(event.event, Started):
                    followed = event.job_id
                if event.job_id == followed:
                    post(message_for(event.event))
            elif isinstance(event, JobFinished) and event.job_id == followed:
                followed = None
    except Exception as exc:
        kind, text = describe_error(exc)
        post(RunFailed(kind, text, None))
    finally:
        events.close()


def describe_error(exc: BaseException) -> tuple[str, str]:
    """A short kind and a one-line explanation for an error that ended a run."""
    from data.idx import DatasetError
    from mlp_core.checkpoint import CheckpointError
    from mlp_core.config import ConfigError
    from mlp_core.device import DeviceError
    from mlp_core.trainer import TrainingError

    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in first_line.lower():
        return "out of memory", f"CUDA out of memory: lower the batch or hidden size ({first_line})"
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (DatasetError, "data"),
        (DeviceError, "device"),
        (CheckpointError, "checkpoint"),
        (ConfigError, "config"),
        (TrainingError, "training"),
    )
    for error_type, kind in kinds:
        if isinstance(exc, error_type):
            return kind, first_line
    return "error", f"{type(exc).__name__}: {first_line}"


def mark_failed(run_dir: Path, text: str) -> None:
    """Record in `run.json` that the run failed and why (best effort: never raises)."""
    try:
        from mlp_core.runs import load_run, save_run_info

        info = load_run(run_dir)
        info.status, info.error = "failed", text
        save_run_info(info)
    except Exception:
        return


@dataclass(frozen=True)
class Backend:
    """What the loading worker found: the data set and the device, or why not."""

    dataset: Dataset | None
    dataset_error: str | None
    device_label: str | None
    device_error: str | None
    seconds: float
    #: A CUDA device is seen (`auto` is then a GPU, not the CPU).
    cuda: bool = False


def load_backend(data_dir: Path | None, device: str, dataset: Dataset | None = None) -> Backend:
    """Import torch, resolve the device and load the data set (`dataset` given: use it)."""
    started = time.perf_counter()
    from data.idx import DatasetError
    from data.mnist import load_dataset
    from mlp_core.device import DeviceError, describe_device, resolve_device

    device_label = device_error = dataset_error = None
    try:
        device_label = describe_device(resolve_device(device))
    except DeviceError as exc:
        device_error = str(exc)
    if dataset is None:
        try:
            dataset = load_dataset(data_dir)
        except DatasetError as exc:
            dataset_error = str(exc)
    import torch

    return Backend(
        dataset,
        dataset_error,
        device_label,
        device_error,
        time.perf_counter() - started,
        torch.cuda.is_available(),
    )
