"""The hand-written engine: layers, model, optimizers, training loop, checkpoints, config.

No autograd, no torch.nn, no torch.optim: forward and backward are written out with tensor ops.
This package never imports the UI.
"""

from __future__ import annotations

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
