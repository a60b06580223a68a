"""Checkpoints as safetensors files, written atomically, read without running any code.

Tensors: `fc1.weight` (hidden, 784), `fc1.bias`, `fc2.weight` (10, hidden), `fc2.bias` as
float32; optimizer state as `optimizer.<param>.<buffer>` plus `optimizer.steps`; the batch-order
generator's state as `rng.batch_order`. Metadata (str -> str): `format`, `format_version`,
`config` (JSON), `epoch`, `metrics` (JSON), `run`, `created`, and `tensors_sha256`, a digest of
every tensor's name, dtype, shape and bytes: safetensors itself has no checksum, so without it a
flipped bit in the weights would load silently. Everything needed to resume exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.model import PARAMETER_NAMES, parameter_shapes

FORMAT = "mnist-tui-checkpoint"
FORMAT_VERSION = "1"


#: Tensors every checkpoint has: without them a run can be neither evaluated nor resumed.
REQUIRED_TENSORS = (*PARAMETER_NAMES, "optimizer.steps", "rng.batch_order")


class CheckpointError(Exception):
    """A checkpoint is missing, corrupt, truncated or not ours; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. `tensors` are on the CPU; `metrics` is the epoch's EpochEnd dict."""

    path: Path
    config: TrainConfig
    epoch: int
    metrics: dict[str, Any]
    run: str
    created: str
    tensors: dict[str, torch.Tensor]

    def weights(self) -> dict[str, torch.Tensor]:
        """The four parameter tensors by PyTorch name."""
        return {name: self.tensors[name] for name in PARAMETER_NAMES}

    def optimizer_state(self) -> dict[str, torch.Tensor]:
        """Optimizer buffers by name (without the `optimizer.` prefix and the step count)."""
        prefix = "optimizer."
        return {
            key[len(prefix) :]: t
            for key, t in self.tensors.items()
            if key.startswith(prefix) and key != "optimizer.steps"
        }


def atomic_write(path: Path, payload: bytes) -> None:
    """Write `payload` to a temporary file beside `path`, fsync it, then `os.replace` it in.

    A crash at any point leaves either the old file or the new one under `path`, never half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def serialize(
    weights: dict[str, torch.Tensor],
    optimizer_state: dict[str, torch.Tensor],
    optimizer_steps: int,
    rng_state: torch.Tensor,
    config: TrainConfig,
    epoch: int,
    metrics: dict[str, Any],
    run: str,
) -> bytes:
    """The bytes of one checkpoint file (tensors copied to the CPU, float32 weights)."""
    tensors = {
        name: t.detach().to("cpu", torch.float32).contiguous() for name, t in weights.items()
    }
    for name, t in optimizer_state.items():
        tensors[f"optimizer.{name}"] = t.detach().to("cpu").contiguous()
    tensors["optimizer.steps"] = torch.tensor([optimizer_steps], dtype=torch.int64)
    tensors["rng.batch_order"] = rng_state.to("cpu").contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_json(),
        "epoch": str(epoch),
        "metrics": json.dumps(metrics),
        "run": run,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tensors_sha256": tensors_digest(tensors),
    }
    return safetensors_save(tensors, metadata=metadata)


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes, in name order (CPU tensors)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Read and check a checkpoint; any problem is a `CheckpointError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint (no '{FORMAT}' metadata)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {metadata.get('format_version')!r}, "
            f"this mnist-tui reads {FORMAT_VERSION}"
        )
    expected_digest = metadata.get("tensors_sha256")  # absent in files from before it existed
    if expected_digest is not None and tensors_digest(tensors) != expected_digest:
        raise CheckpointError(f"{path}: corrupt: the tensor data does not match its checksum")
    missing = [name for name in REQUIRED_TENSORS if name not in tensors]
    if missing:
        raise CheckpointError(f"{path}: missing tensors {', '.join(missing)}")
    # Resuming feeds these to Generator.set_state and int(): wrong kinds would crash there.
    if tensors["rng.batch_order"].dtype != torch.uint8 or tensors["optimizer.steps"].numel() != 1:
        raise CheckpointError(f"{path}: rng.batch_order or optimizer.steps is malformed")
    try:
        config = TrainConfig.from_json(metadata["config"])
        epoch = int(metadata["epoch"])
        metrics = json.loads(metadata.get("metrics", "{}"))
    except (KeyError, ValueError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: bad metadata ({exc})") from exc
    for name, shape in parameter_shapes(config.hidden).items():
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(tensors[name].shape)}, config says {shape}"
            )
    return Checkpoint(
        path=path,
        config=config,
        epoch=epoch,
        metrics=metrics,
        run=metadata.get("run", ""),
        created=metadata.get("created", ""),
        tensors=tensors,
    )


def read_metadata(path: Path | str) -> dict[str, str]:
    """Only the metadata (fast: tensors are not read). Raises CheckpointError."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint")
    return metadata
