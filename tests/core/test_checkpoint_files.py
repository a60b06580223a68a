"""Checkpoint files: atomic writes survive a crash, and every bad file is a CheckpointError
naming it (corrupt, truncated, foreign, from a newer format, inconsistent)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from safetensors.torch import save_file

from data.mnist import Dataset
from mlp_core import Checkpoint, CheckpointError, RunStarted, TrainConfig, load_checkpoint, train
from mlp_core.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    atomic_write,
    read_metadata,
    serialize,
    tensors_digest,
)
from mlp_core.model import MLP, PARAMETER_NAMES, parameter_shapes
from mlp_core.runs import RunError, load_run

CONFIG = TrainConfig(hidden=8, epochs=3, batch_size=64, val_split=100, device="cpu")


def _payload(epoch: int = 1, config: TrainConfig = CONFIG, **metrics: Any) -> bytes:
    model = MLP.create(
        config.hidden, config.init, torch.Generator().manual_seed(epoch), torch.device("cpu")
    )
    return serialize(
        weights=model.state_dict(),
        optimizer_state={
            f"{name}.momentum_buffer": torch.ones(shape)
            for name, shape in parameter_shapes(config.hidden).items()
        },
        optimizer_steps=7 * epoch,
        rng_state=torch.Generator().manual_seed(3).get_state(),
        config=config,
        epoch=epoch,
        metrics={"epoch": epoch, "val_accuracy": 0.5, **metrics},
        run="20261127-000000-h8",
    )


@pytest.fixture
def good_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "good.safetensors"
    path.write_bytes(_payload())
    return path


def test_round_trip(good_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(good_checkpoint)
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.config == CONFIG and checkpoint.epoch == 1
    assert checkpoint.metrics == {"epoch": 1, "val_accuracy": 0.5}
    assert checkpoint.run == "20261127-000000-h8" and checkpoint.created
    weights = checkpoint.weights()
    assert list(weights) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert weights["fc1.weight"].shape == (8, 784) and weights["fc1.weight"].dtype == torch.float32
    assert weights["fc2.weight"].shape == (10, 8)
    assert torch.equal(
        checkpoint.optimizer_state()["fc1.weight.momentum_buffer"], torch.ones(8, 784)
    )
    assert int(checkpoint.tensors["optimizer.steps"].item()) == 7
    generator = torch.Generator()
    generator.set_state(checkpoint.tensors["rng.batch_order"])
    assert torch.equal(
        torch.randperm(10, generator=generator),
        torch.randperm(10, generator=torch.Generator().manual_seed(3)),
    )
    metadata = read_metadata(good_checkpoint)
    assert metadata["format"] == FORMAT and metadata["format_version"] == FORMAT_VERSION
    assert json.loads(metadata["config"]) == json.loads(CONFIG.to_json())


def test_weights_load_into_a_model(good_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(good_checkpoint)
    model = MLP.from_state_dict(checkpoint.weights(), torch.device("cpu"))
    assert model.hidden == 8
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, checkpoint.tensors[name])


def load_checkpoint_bytes(payload: bytes) -> dict[str, Any]:
    """The tensors of a checkpoint payload, and its metadata under "__metadata__"."""
    header_len = int.from_bytes(payload[:8], "little")
    metadata = json.loads(payload[8 : 8 + header_len])["__metadata__"]
    return {**safetensors_load(payload), "__metadata__": metadata}


def _bad_files(good: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (file content, what the error must say)."""
    header_len = int.from_bytes(good[:8], "little")
    header = json.loads(good[8 : 8 + header_len])
    full = load_checkpoint_bytes(good)
    good_metadata = full.pop("__metadata__")
    del good_metadata["tensors_sha256"]

    def ours(tensors: dict[str, torch.Tensor] = full, **metadata: str) -> bytes:
        """Our format with every tensor and its digest, some metadata replaced."""
        digest = tensors_digest(tensors)
        return safetensors_save(
            tensors, metadata={**good_metadata, "tensors_sha256": digest, **metadata}
        )

    wrong_shape = json.loads(CONFIG.to_json())
    wrong_shape["hidden"] = 9
    header["__metadata__"]["config"] = json.dumps(wrong_shape)
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    zeroed = bytearray(good)
    zeroed[8 + header_len // 3] = 0
    unreadable = "not a readable safetensors file"
    return {
        "empty": (b"", unreadable),
        "random-bytes": (os.urandom(4096), unreadable),
        "text": (b"hello, this is not a checkpoint\n", unreadable),
        "pickle": (b"\x80\x04\x95" + os.urandom(200), unreadable),
        "truncated-half": (good[: len(good) // 2], unreadable),
        "truncated-header": (good[: 8 + header_len // 2], unreadable),
        "truncated-last-byte": (good[:-1], unreadable),
        "huge-header-size": ((10**12).to_bytes(8, "little") + good[8:], unreadable),
        "header-byte-zeroed": (bytes(zeroed), unreadable),
        "foreign-no-metadata": (
            safetensors_save({"weight": torch.zeros(2, 2)}),
            "not an mnist-tui checkpoint",
        ),
        "foreign-other-metadata": (
            safetensors_save({"w": torch.zeros(2)}, metadata={"a": "b"}),
            "not an mnist-tui checkpoint",
        ),
        "newer-format": (ours(format_version="99"), "version '99'"),
        "missing-tensors": (ours({"fc1.weight": full["fc1.weight"]}), "missing tensors"),
        "bad-config-json": (ours(config="{not json"), "bad metadata"),
        "config-not-an-object": (ours(config="[1, 2]"), "bad metadata"),
        "config-out-of-range": (ours(config=json.dumps({"hidden": -1})), "bad metadata"),
        "bad-epoch": (ours(epoch="one"), "bad metadata"),
        "no-epoch": (_without(full, good_metadata, "epoch"), "bad metadata"),
        "bad-metrics": (ours(metrics="{oops"), "bad metadata"),
        "shape-disagrees-with-config": (
            len(new_header).to_bytes(8, "little") + new_header + good[8 + header_len :],
            "config says",
        ),
    }


def _without(tensors: dict[str, torch.Tensor], metadata: dict[str, str], key: str) -> bytes:
    kept = {k: v for k, v in metadata.items() if k != key}
    return safetensors_save(tensors, metadata={**kept, "tensors_sha256": tensors_digest(tensors)})


BAD_NAMES = list(_bad_files(_payload()))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path: Path, name: str) -> None:
    content, message = _bad_files(_payload())[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def _our_file_with(tensors: dict[str, torch.Tensor]) -> bytes:
    good = load_checkpoint_bytes(_payload())
    metadata = good.pop("__metadata__")
    # The tensors were changed on purpose: a new digest, so that the check under test speaks.
    metadata["tensors_sha256"] = tensors_digest(tensors)
    return safetensors_save(tensors, metadata=metadata)


@pytest.mark.parametrize("dropped", [*PARAMETER_NAMES, "optimizer.steps", "rng.batch_order"])
def test_each_required_tensor_missing(tmp_path: Path, dropped: str) -> None:
    tensors = load_checkpoint_bytes(_payload())
    tensors.pop("__metadata__")
    tensors.pop(dropped)
    path = tmp_path / "partial.safetensors"
    path.write_bytes(_our_file_with(tensors))
    with pytest.raises(CheckpointError, match=dropped) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_malformed_rng_state(tmp_path: Path) -> None:
    tensors = load_checkpoint_bytes(_payload())
    tensors.pop("__metadata__")
    tensors["rng.batch_order"] = tensors["rng.batch_order"].float()
    path = tmp_path / "rng.safetensors"
    path.write_bytes(_our_file_with(tensors))
    with pytest.raises(CheckpointError, match="rng"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["random-bytes", "truncated-header", "foreign-no-metadata"])
def test_read_metadata_refuses_bad_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(_bad_files(_payload())[name][0])
    with pytest.raises(CheckpointError) as info:
        read_metadata(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.999])
def test_a_flipped_byte_in_the_tensor_data_is_caught(tmp_path: Path, where: float) -> None:
    """safetensors has no checksum of its own: the digest in the metadata catches bit rot."""
    good = _payload()
    data_start = 8 + int.from_bytes(good[:8], "little")
    position = data_start + int((len(good) - data_start) * where)
    damaged = bytearray(good)
    damaged[position] ^= 0x10
    path = tmp_path / "bitrot.safetensors"
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="checksum") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_checkpoint_without_a_digest_is_refused(tmp_path: Path) -> None:
    """Format version 1 has the digest: a file without it cannot be vouched for."""
    tensors = load_checkpoint_bytes(_payload())
    metadata = tensors.pop("__metadata__")
    del metadata["tensors_sha256"]
    path = tmp_path / "older.safetensors"
    path.write_bytes(safetensors_save(tensors, metadata=metadata))
    with pytest.raises(CheckpointError, match="no tensors_sha256") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.safetensors", tmp_path):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


def test_plain_safetensors_file_from_disk_is_foreign(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"fc1.weight": torch.zeros(8, 784), "fc1.bias": torch.zeros(8)}, str(path))
    with pytest.raises(CheckpointError, match="not an mnist-tui checkpoint"):
        load_checkpoint(path)


# -- atomic writes --------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "last.safetensors"
    atomic_write(path, _payload(1))
    atomic_write(path, _payload(2))
    assert load_checkpoint(path).epoch == 2
    assert _leftovers(path.parent) == []


class _HalfWriter:
    """A file whose write puts half the bytes on disk, then fails (a full disk)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _half_writing_fdopen(real: Any) -> Any:
    return lambda fd, *args, **kwargs: _HalfWriter(real(fd, *args, **kwargs))


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_crash_during_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "last.safetensors"
    atomic_write(path, _payload(1))

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    if failing == "write":
        monkeypatch.setattr(os, "fdopen", _half_writing_fdopen(os.fdopen))
    else:
        monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, _payload(2))
    monkeypatch.undo()
    assert load_checkpoint(path).epoch == 1
    assert _leftovers(tmp_path) == []


def test_crash_in_a_training_checkpoint_write(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second epoch's `last` write dies in os.replace: epoch 1's checkpoint still loads."""
    real_replace = os.replace
    writes = {"last.safetensors": 0}

    def failing_replace(src: Any, dst: Any) -> None:
        name = Path(dst).name
        if name in writes:
            writes[name] += 1
            if writes[name] == 2:
                raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    events = train(CONFIG, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    started = next(events)
    assert isinstance(started, RunStarted)
    with pytest.raises(RunError) as info:
        list(events)
    monkeypatch.undo()
    folder = Path(started.run_dir) / "checkpoints"
    assert str(info.value) == (
        f"cannot write checkpoint {folder / 'last.safetensors'}: no space left on device; "
        "the previous checkpoint is intact"
    )
    assert load_checkpoint(folder / "last.safetensors").epoch == 1
    assert load_checkpoint(folder / "best.safetensors").epoch == 1
    assert _leftovers(folder) == []
    assert load_run(Path(started.run_dir)).status == "failed"


def test_a_crash_marks_the_run_failed_with_the_error(
    tiny_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst).name == "last.safetensors":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    events = train(CONFIG, tiny_dataset, runs_dir=tmp_path, progress_interval=1e9)
    started = next(events)
    with pytest.raises(RunError):
        list(events)
    monkeypatch.undo()
    info = load_run(Path(started.run_dir))
    assert info.status == "failed"
    assert "no space left" in info.error
