"""Turn a device string (auto, cpu, cuda, cuda:N) into a torch.device, or a clear error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from mlp_core.config import TrainConfig

#: What torch's CPU allocator and the C library say when an allocation fails.
_CPU_ALLOCATION_FAILURES = ("can't allocate memory", "cannot allocate memory", "not enough memory")


class DeviceError(RuntimeError):
    """The asked-for device does not exist here."""


def resolve_device(spec: str) -> torch.device:
    """auto -> cuda when available else cpu; cuda/cuda:N are checked against what exists."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    prefix, _, index = spec.partition(":")
    if prefix != "cuda" or (index and not index.isdigit()) or spec.endswith(":"):
        raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        reason = (
            "this torch build has no CUDA" if torch.version.cuda is None else "no GPU is visible"
        )
        raise DeviceError(f"device {spec!r} asked for, but CUDA is not available ({reason})")
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(f"device {spec!r} asked for, but only {count} CUDA device(s) exist")
    return device


def describe_device(device: torch.device) -> str:
    """A short label: ``cuda:0 NVIDIA H100`` or ``cpu, 2 threads``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return f"cpu, {torch.get_num_threads()} threads"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for honest timings); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def memory_error_message(exc: BaseException, config: TrainConfig) -> str | None:
    """A one-line explanation when `exc` is a failed CPU allocation, else None.

    CUDA's out-of-memory error has its own type and is left to the caller; on the CPU torch
    raises a plain RuntimeError (or Python a MemoryError) that would end in a traceback.
    """
    if isinstance(exc, torch.OutOfMemoryError):
        return None
    text = str(exc).lower()
    if not isinstance(exc, MemoryError) and not any(s in text for s in _CPU_ALLOCATION_FAILURES):
        return None
    return (
        f"not enough CPU memory to train hidden={config.hidden} with batch size "
        f"{config.batch_size}; lower --batch-size or --hidden"
    )
