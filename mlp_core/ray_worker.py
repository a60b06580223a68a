"""The Ray side of a job: train in a scratch folder on the worker and stream everything back.

`stream_job` runs inside a Ray generator task (`num_returns="streaming"`). It trains with the
engine's own `train()` into a temporary folder on the worker node and yields plain values:

    ("worker", {...})            first: node, hostname, pid, CUDA_VISIBLE_DEVICES Ray assigned
    ("event", RunStarted|Progress|Finished|Diverged)
    ("epoch", EpochEnd, kinds, payload, present)
                                 at each epoch end: the checkpoint bytes (one payload: last,
                                 best and epoch-N are the same file), the kinds written, and the
                                 names of the epoch-N files still kept (keep_top_k pruning)

The driver (`ray_executor.RayExecutor`) writes the run folder from these, so no filesystem is
shared; the scratch folder goes when the task ends. The checkpoint payload is the engine's
safetensors bytes: 4 bytes per parameter plus the optimizer's buffers, i.e. for h=2048
(1,628,170 parameters) 6.5 MB of weights, 13 MB with SGD momentum, 19.5 MB with Adam, once per
epoch, carried by Ray's object store from the worker to the driver.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.events import CheckpointSaved, EpochEnd
from mlp_core.runs import CHECKPOINT_DIR


def worker_facts() -> dict[str, Any]:
    """Where this task runs, recorded in the run's run.json (`executor`)."""
    try:
        import ray

        node = ray.util.get_node_ip_address()
    except Exception:  # outside Ray (a unit test of this function)
        node = ""
    return {
        "node": node,
        "hostname": socket.gethostname(),
        "worker_pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def _device_on_worker(device: str) -> str:
    """Ray picks the GPU (CUDA_VISIBLE_DEVICES holds only it): `cuda:N` means "a GPU" here."""
    return "cuda" if device.startswith("cuda:") else device


def stream_job(
    config_json: str,
    dataset: Any,
    data_dir: str | None,
    progress_interval: float,
) -> Iterator[tuple[Any, ...]]:
    """Train one config on this worker; see the module docstring for what is yielded."""
    from dataclasses import replace

    from data.mnist import load_dataset
    from mlp_core.trainer import train

    yield ("worker", worker_facts())
    config = TrainConfig.from_json(config_json)
    config = replace(config, device=_device_on_worker(config.device))
    data = dataset if dataset is not None else load_dataset(data_dir)
    with tempfile.TemporaryDirectory(prefix="mnist-tui-ray-") as scratch:
        events = train(config, data, runs_dir=Path(scratch), progress_interval=progress_interval)
        for event in events:
            if isinstance(event, CheckpointSaved):
                continue  # sent with its epoch, below; the driver names its own files
            if isinstance(event, EpochEnd):
                yield ("epoch", event, *_epoch_files(Path(scratch), event))
            else:
                yield ("event", event)


def _epoch_files(scratch: Path, event: EpochEnd) -> tuple[list[str], bytes, list[str]]:
    """The checkpoint kinds written at this epoch end, their bytes, and the epoch files kept.

    The engine writes every checkpoint of an epoch before it yields EpochEnd, so they are whole
    here; all kinds of one epoch hold the same bytes.
    """
    (run_dir,) = [p for p in scratch.iterdir() if p.is_dir()]
    folder = run_dir / CHECKPOINT_DIR
    kinds = ["last"] + (["best"] if event.is_best else [])
    epoch_file = folder / f"epoch-{event.epoch:04d}.safetensors"
    if epoch_file.exists():
        kinds.append("epoch")
    payload = (folder / "last.safetensors").read_bytes()
    present = sorted(p.name for p in folder.glob("epoch-*.safetensors"))
    return kinds, payload, present
