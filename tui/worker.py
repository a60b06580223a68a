"""What runs off the UI thread: loading the back end (the app's loading thread), following a
run folder (the app's follow worker), and the torch work of the evaluation screens.

The app trains nothing itself: every run is its own process (`mlp_core.runproc.launch_run`),
and the app only reads its folder. `follow_run` turns what `RunFollower.poll()` finds there
into the app's messages; it knows nothing of widgets. torch is imported here, behind the first
screen, never while it is drawn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tui.messages import message_for

if TYPE_CHECKING:
    from data.mnist import Dataset

Result = TypeVar("Result")

#: Seconds between two polls of a followed run: 4 a second, as often as the run process
#: rewrites its progress file, so the bar is as fresh as it can be and a death shows at once.
FOLLOW_INTERVAL = 0.25

_torch_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def run_in_torch_thread(function: Callable[..., Result], *args: Any) -> Result:
    """Run `function` in the app's one torch thread and wait for it.

    The evaluation screens' torch work all runs in this one long-lived thread. OpenMP (torch's
    CPU parallelism) keeps a team of helper threads per thread that starts parallel work; two
    teams make more OpenMP threads than cores, and libgomp then stops spin-waiting, so each
    small op pays a sleep/wake (measured 8x slower element-wise ops). One thread: one team.
    """
    global _torch_executor
    with _executor_lock:  # two first callers at once must not make two torch threads
        if _torch_executor is None:
            _torch_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        executor = _torch_executor
    return executor.submit(function, *args).result()


def run_torch_work(function: Callable[..., Result], *args: Any) -> Result:
    """Short torch work (evaluating a checkpoint), in the torch thread. Runs train in their
    own processes now, so nothing holds that thread for long."""
    return run_in_torch_thread(function, *args)


def follow_run(
    run_path: Path,
    post: Callable[[Any], object],
    cancelled: Callable[[], bool],
    interval: float = FOLLOW_INTERVAL,
    wake: threading.Event | None = None,
) -> bool:
    """Post a message for every event `RunFollower` finds in `run_path` (a replay of what is
    there first, then what the run process adds) until the run has ended or `cancelled()`.

    Returns whether the run's end was seen. `wake` (set by the app) cuts a wait short, so a
    cancel takes effect at once rather than after the interval.
    """
    from mlp_core.runproc import RunFollower

    follower = RunFollower(run_path)
    wake = wake or threading.Event()
    while not cancelled():
        for event in follower.poll():
            post(message_for(event))
        if follower.done:
            return True
        wake.wait(interval)
    return False


@dataclass(frozen=True)
class Backend:
    """What the loading thread found: the data set and the device, or why not. The app needs
    them for the form (the training set's size bounds the validation split), the digits and
    the evaluation screens; the runs load their own."""

    dataset: Dataset | None
    dataset_error: str | None
    device_label: str | None
    device_error: str | None
    seconds: float
    #: A CUDA device is seen (`auto` is then a GPU, not the CPU).
    cuda: bool = False
    #: How to keep runs alive where logind kills a user's processes at logout, or None.
    logind_warning: str | None = None


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
        _logind_warning(),
    )


def _logind_warning() -> str | None:
    """The core's one-time hint, never an error of the app's own."""
    from mlp_core.runproc import logind_warning

    try:
        return logind_warning()
    except Exception:
        return None
