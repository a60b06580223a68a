"""The hand-written engine: layers, model, optimizers, training loop, checkpoints, config.

No autograd, no nn modules, no optim package: forward and backward are written out with tensor ops.
This package never imports the UI.

The names below are loaded on first use (PEP 562), so that `mlp_core.config` and
`mlp_core.events` can be imported without torch: the app draws its first screen (built from
`TrainConfig`) before torch, which takes seconds to import, is loaded behind it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "PRESETS": "config",
    "ConfigError": "config",
    "TrainConfig": "config",
    "preset": "config",
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "DeviceError": "device",
    "describe_device": "device",
    "resolve_device": "device",
    "CheckpointSaved": "events",
    "Diverged": "events",
    "EpochEnd": "events",
    "Event": "events",
    "Finished": "events",
    "Progress": "events",
    "RunStarted": "events",
    "TrainingError": "trainer",
    "train": "trainer",
}

__all__ = [
    "PRESETS",
    "Checkpoint",
    "CheckpointError",
    "CheckpointSaved",
    "ConfigError",
    "DeviceError",
    "Diverged",
    "EpochEnd",
    "Event",
    "Finished",
    "Progress",
    "RunStarted",
    "TrainConfig",
    "TrainingError",
    "describe_device",
    "load_checkpoint",
    "preset",
    "resolve_device",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlp_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mlp_core.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from mlp_core.checkpoint import Checkpoint, CheckpointError, load_checkpoint
    from mlp_core.config import PRESETS, ConfigError, TrainConfig, preset
    from mlp_core.device import DeviceError, describe_device, resolve_device
    from mlp_core.events import (
        CheckpointSaved,
        Diverged,
        EpochEnd,
        Event,
        Finished,
        Progress,
        RunStarted,
    )
    from mlp_core.trainer import TrainingError, train
