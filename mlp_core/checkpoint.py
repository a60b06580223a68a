"""Checkpoints as safetensors files, written atomically, read without running any code.

Tensors: `fc1.weight` (hidden, 784), `fc1.bias`, `fc2.weight` (10, hidden), `fc2.bias` as
float32; optimizer state as `optimizer.<param>.<buffer>` plus `optimizer.steps`; the batch-order
generator's state as `rng.batch_order`. Metadata (str -> str): `format`, `format_version`,
`config` (JSON), `epoch`, `metrics` (JSON), `run`, `created`, `dataset`, `data_dir`, and
`tensors_sha256`, a digest of every tensor's name, dtype, shape and bytes: safetensors itself has
no checksum, so without it a flipped bit in the weights would load silently. Everything needed
to resume exactly. Loading checks the header against the file's size and against what a
checkpoint of its own config holds before a single tensor is read, so a forged or sparse file
costs no memory; then every tensor a resume will use is checked, so what `eval` accepts a resume
accepts too.

The run folder is one unit. Its invariant, after a kill at any instruction once a resume has
mended it: every epoch whose checkpoint exists has its line in metrics.jsonl, best.safetensors is
the best epoch of metrics.jsonl, and run.json's status says what happened. Each epoch ends with
this write order, every file written whole (temporary file, fsync, rename):

1. `last.safetensors` (the state the run continues from: the epoch is on disk from here on);
2. `best.safetensors`, when the epoch is the best so far (the same bytes as `last`);
3. `epoch-NNNN.safetensors` with `keep_top_k` (the same bytes again), then pruning;
4. the epoch's line in metrics.jsonl, which commits the epoch.

Recovery rule (`mlp_core.recovery`, run when a run is resumed in place): when `last` is one
epoch past metrics.jsonl, the epoch was written but not committed; its own metrics become the
missing line, and if they mark it best, `best` (and its epoch file) are rewritten from `last`
first. `best` can therefore never be older than the best line, and a line never exists without
its checkpoint. A torn last line (a kill or a full disk inside the append) is skipped by readers
and cut off by the next writer. Leftover `.*.tmp` files of a death are removed on resume.

`crash_point` marks the steps of that sequence; tests arm `crash_hook` to stop the trainer there
(a real `os._exit` in a subprocess), so every kill window is tested, not hoped for.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.files import (  # noqa: F401  (atomic_write and the crash points: re-exported)
    CRASH_POINTS,
    METRIC_NUMBERS,
    atomic_write,
    crash_point,
    os_error_reason,
)
from mlp_core.model import PARAMETER_NAMES, parameter_shapes

FORMAT = "mnist-tui-checkpoint"
FORMAT_VERSION = "1"

#: Tensors every checkpoint has: without them a run can be neither evaluated nor resumed.
REQUIRED_TENSORS = (*PARAMETER_NAMES, "optimizer.steps", "rng.batch_order")
#: Bytes of a CPU generator's state (mt19937): what Generator.set_state accepts.
RNG_STATE_BYTES = torch.Generator().get_state().numel()
#: The safetensors JSON header of a checkpoint is a few kilobytes; more is not ours.
MAX_HEADER_BYTES = 1 << 20


class CheckpointError(Exception):
    """A checkpoint is missing, corrupt, truncated or not ours; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. `tensors` are on the CPU; `metrics` is the epoch's EpochEnd dict.

    dataset, data_dir: the data set it was trained on and its folder ("" when not recorded, or
    for the bundled MNIST).
    """

    path: Path
    config: TrainConfig
    epoch: int
    metrics: dict[str, Any]
    run: str
    created: str
    tensors: dict[str, torch.Tensor]
    dataset: str = ""
    data_dir: str = ""

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

    def non_finite(self) -> list[str]:
        """Names of the weight and optimizer tensors holding NaN or infinity (resume refuses
        them; eval flags them)."""
        return [
            name
            for name, tensor in self.tensors.items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]


def serialize(
    weights: dict[str, torch.Tensor],
    optimizer_state: dict[str, torch.Tensor],
    optimizer_steps: int,
    rng_state: torch.Tensor,
    config: TrainConfig,
    epoch: int,
    metrics: dict[str, Any],
    run: str,
    dataset: str = "",
    data_dir: str = "",
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
        "dataset": dataset,
        "data_dir": data_dir,
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


def expected_tensors(config: TrainConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (safetensors dtype, shape) of every tensor a checkpoint of `config` holds.

    This is also the cap on a file's size: hidden is at most 65536, so no checkpoint of this
    format is larger than about 630 MB, and a larger header is refused before reading.
    """
    shapes = parameter_shapes(config.hidden)
    expected = {name: ("F32", shape) for name, shape in shapes.items()}
    buffers: tuple[str, ...] = ()
    if config.optimizer == "adam":
        buffers = ("exp_avg", "exp_avg_sq")
    elif config.momentum:
        buffers = ("momentum_buffer",)
    for name, shape in shapes.items():
        for buffer in buffers:
            expected[f"optimizer.{name}.{buffer}"] = ("F32", shape)
    expected["optimizer.steps"] = ("I64", (1,))
    expected["rng.batch_order"] = ("U8", (RNG_STATE_BYTES,))
    return expected


def read_header(path: Path) -> dict[str, Any]:
    """The safetensors JSON header of `path`, checked against the file's size, reading only
    the header's bytes. Raises CheckpointError."""
    unreadable = f"{path}: not a readable safetensors file"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{unreadable} (only {len(prefix)} bytes)")
            header_len = int.from_bytes(prefix, "little")
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                raise CheckpointError(
                    f"{unreadable} (header of {header_len} bytes in a file of {size})"
                )
            raw = handle.read(header_len)
    except OSError as exc:
        raise CheckpointError(f"{unreadable} ({os_error_reason(exc)})") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{unreadable} (header is not JSON: {exc})") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{unreadable} (header is not a JSON object)")
    _check_offsets(path, header, size - 8 - header_len)
    return header


def _check_offsets(path: Path, header: dict[str, Any], data_size: int) -> None:
    """Every tensor's byte range is inside the data and the ranges tile it exactly."""
    unreadable = f"{path}: not a readable safetensors file"
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(v) is int for v in offsets)
        ):
            raise CheckpointError(f"{unreadable} (tensor {name!r} has no valid data_offsets)")
        spans.append((offsets[0], offsets[1]))
    position = 0
    for begin, end in sorted(spans):
        if begin != position or end < begin:
            raise CheckpointError(f"{unreadable} (tensor data ranges overlap or leave gaps)")
        position = end
    if position != data_size:
        raise CheckpointError(
            f"{unreadable} (header describes {position} bytes of tensor data, file has {data_size})"
        )


def _check_against_config(path: Path, header: dict[str, Any], config: TrainConfig) -> None:
    """The header lists exactly the tensors of `config`, with their dtypes and shapes."""
    expected = expected_tensors(config)
    found = {name: entry for name, entry in header.items() if name != "__metadata__"}
    missing = [name for name in REQUIRED_TENSORS if name not in found]
    if missing:
        raise CheckpointError(f"{path}: missing tensors {', '.join(missing)}")
    unknown = sorted(set(found) - set(expected))
    absent = sorted(set(expected) - set(found))
    if unknown or absent:
        what = "; ".join(
            part
            for part in (
                f"unexpected {', '.join(unknown)}" if unknown else "",
                f"missing {', '.join(absent)}" if absent else "",
            )
            if part
        )
        raise CheckpointError(
            f"{path}: optimizer state does not match its config "
            f"({config.optimizer}, momentum {config.momentum:g}): {what}"
        )
    for name, (dtype, shape) in expected.items():
        entry = found[name]
        got_dtype, got_shape = entry.get("dtype"), tuple(entry.get("shape") or ())
        if got_dtype != dtype and dtype == "F32":
            raise CheckpointError(
                f"{path}: {name} is {got_dtype}, mnist-tui checkpoints hold float32 (F32) "
                "weights and optimizer state; convert the file on purpose, it is not done "
                "silently"
            )
        if got_dtype != dtype:
            raise CheckpointError(f"{path}: {name} is {got_dtype}, expected {dtype}")
        if got_shape != shape:
            if name.startswith("rng."):
                raise CheckpointError(f"{path}: rng.batch_order or optimizer.steps is malformed")
            raise CheckpointError(f"{path}: {name} has shape {got_shape}, config says {shape}")


def _parse_metadata(path: Path, metadata: dict[str, Any]) -> tuple[TrainConfig, int, dict]:
    """(config, epoch, metrics) from the metadata, each checked. Raises CheckpointError."""
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint (no '{FORMAT}' metadata)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {metadata.get('format_version')!r}, "
            f"this mnist-tui reads {FORMAT_VERSION}"
        )
    digest = metadata.get("tensors_sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise CheckpointError(
            f"{path}: no tensors_sha256 digest (format version 1 has one): cannot vouch for "
            "the tensors"
        )
    try:
        config = TrainConfig.from_json(metadata["config"])
        epoch_text = metadata["epoch"]
        if not isinstance(epoch_text, str) or not epoch_text.isdigit():
            raise ValueError(f"epoch {epoch_text!r} is not a whole number")
        epoch = int(epoch_text)
        metrics = json.loads(metadata.get("metrics", "{}"))
    except (KeyError, ValueError, TypeError, RecursionError, ConfigError) as exc:
        raise CheckpointError(f"{path}: bad metadata ({exc})") from exc
    if not 1 <= epoch <= config.epochs:
        raise CheckpointError(
            f"{path}: bad metadata (epoch {epoch} is outside 1..{config.epochs}, the epochs "
            "of its config)"
        )
    _check_metrics(path, metrics, epoch)
    return config, epoch, metrics


def _check_metrics(path: Path, metrics: Any, epoch: int) -> None:
    """The metadata's metrics: an object of numbers whose epoch is the checkpoint's."""
    if not isinstance(metrics, dict):
        raise CheckpointError(
            f"{path}: bad metadata (metrics must be a JSON object, not {type(metrics).__name__})"
        )
    if "epoch" in metrics and (type(metrics["epoch"]) is not int or metrics["epoch"] != epoch):
        raise CheckpointError(
            f"{path}: bad metadata (metrics are of epoch {metrics['epoch']!r}, not {epoch})"
        )
    for key in METRIC_NUMBERS:
        value = metrics.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise CheckpointError(f"{path}: bad metadata (metrics {key} is {value!r})")
    if not isinstance(metrics.get("is_best", False), bool):
        raise CheckpointError(f"{path}: bad metadata (metrics is_best is not true or false)")


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Read and check a checkpoint; any problem is a `CheckpointError` naming the file.

    Header, sizes, dtypes, shapes and metadata are checked before a tensor is read; then the
    digest. A checkpoint this returns can be evaluated and resumed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    header = read_header(path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint (metadata is not an object)")
    config, epoch, metrics = _parse_metadata(path, metadata)
    _check_against_config(path, header, config)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if tensors_digest(tensors) != metadata["tensors_sha256"]:
        raise CheckpointError(f"{path}: corrupt: the tensor data does not match its checksum")
    if int(tensors["optimizer.steps"].item()) < 0:
        raise CheckpointError(f"{path}: rng.batch_order or optimizer.steps is malformed")
    return Checkpoint(
        path=path,
        config=config,
        epoch=epoch,
        metrics=metrics,
        run=str(metadata.get("run", "")),
        created=str(metadata.get("created", "")),
        tensors=tensors,
        dataset=str(metadata.get("dataset", "")),
        data_dir=str(metadata.get("data_dir", "")),
    )


def read_metadata(path: Path | str) -> dict[str, str]:
    """Only the metadata (fast: tensors are not read). Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    metadata = read_header(path).get("__metadata__") or {}
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint")
    return {str(k): str(v) for k, v in metadata.items()}


def is_finite_number(value: Any) -> bool:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
