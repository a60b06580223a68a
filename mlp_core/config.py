"""The one training configuration, shared by the CLI, the app's form and the checkpoints.

`TrainConfig` is frozen and validated in `__post_init__` (as nanoGPT's GPTConfig, and as
tinygrad's optimizers refuse lr < 0), so a config that exists is a config that can run. Each
field's `metadata` carries its help text and, where it has them, its choices: the CLI's options
and the app's form are both built from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

INITS = ("he", "xavier", "normal")
SCHEDULES = ("constant", "step", "cosine")
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("fp32", "bf16", "tf32")
#: Training images in MNIST; the validation split must leave some for training.
MNIST_TRAIN_SIZE = 60_000
#: Largest seed: torch's generators take 64-bit seeds and the batch order uses seed + 1.
SEED_MAX = 2**63 - 1
#: Largest lr and weight decay: the optimizers work in float32 (at most 3.4e38) and Adam scales
#: lr by up to 10 at its first step, so anything beyond this overflows instead of training.
FLOAT32_SAFE_MAX = 1e30


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field."""


def _field(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run. Defaults are the `default` preset (98%+ in 10 epochs)."""

    hidden: int = _field(1024, "hidden units (784 -> hidden -> 10)")
    """Width of the one hidden layer."""
    lr: float = _field(0.05, "peak learning rate")
    """Learning rate at the start (step, constant) or peak (cosine)."""
    batch_size: int = _field(128, "samples per batch")
    """Mini-batch size; the last partial batch of an epoch is kept."""
    epochs: int = _field(10, "epochs to train")
    """Total epochs; a resumed run trains up to this many."""
    optimizer: str = _field("sgd", "optimizer", OPTIMIZERS)
    """sgd (with momentum, Nesterov, weight decay) or adam; both written by hand."""
    momentum: float = _field(0.9, "SGD momentum, 0 <= m < 1")
    """Heavy-ball momentum of SGD (0 = plain SGD, the lab's)."""
    nesterov: bool = _field(True, "Nesterov momentum")
    """Use Nesterov's look-ahead form of momentum (needs momentum > 0)."""
    weight_decay: float = _field(5e-4, "L2 weight decay")
    """L2 penalty added to each gradient (as PyTorch's SGD weight_decay)."""
    init: str = _field("he", "weight initialisation", INITS)
    """he (default), xavier, or normal: the lab's standard normal weights and biases."""
    schedule: str = _field("cosine", "learning-rate schedule", SCHEDULES)
    """constant, step (x lr_gamma every lr_step_epochs), or cosine: towards 0 at the last step."""
    lr_step_epochs: int = _field(10, "epochs between steps of the step schedule")
    """Period of the step schedule."""
    lr_gamma: float = _field(0.1, "factor of each step of the step schedule")
    """Multiplier applied at each step of the step schedule."""
    seed: int = _field(0, "random seed (init, split, order), 0 to 2**63-1")
    """Seeds the initial weights, the validation split and the batch order."""
    val_split: int = _field(5000, "training images held out for validation")
    """Held out of the training set, chosen from the seed; 0 reproduces the lab."""
    standardize: bool = _field(True, "standardise pixels (mean 0.1307, std 0.3081)")
    """Scale pixels to [0, 1] and then standardise; off, pixels stay in [0, 1] as in the lab."""
    augment_shift: int = _field(0, "random translation of each image, in pixels")
    """Data augmentation: shift each training image by up to this many pixels each way."""
    keep_top_k: int = _field(0, "also keep the k best per-epoch checkpoints")
    """Per-epoch checkpoints kept by validation accuracy (0: only last and best)."""
    device: str = _field("auto", "auto, cpu, cuda or cuda:N")
    """Where to train; auto takes CUDA when present."""
    precision: str = _field("fp32", "matmul precision: fp32, bf16, tf32 (CUDA)", PRECISIONS)
    """fp32; bf16: the step's matrix products in bfloat16, float32 master weights, optimizer
    state and loss (mlp_core/precision.py); tf32: CUDA's TF32 tensor cores. Checkpoints always
    hold float32, and a run checks at start that its device can do what it asks."""

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "epochs", "lr_step_epochs"):
            _require(_is_whole(getattr(self, name)), name, "must be a whole number")
            _require(getattr(self, name) > 0, name, "must be positive")
        _require(self.hidden <= 65_536, "hidden", "must be at most 65536")
        for name in ("lr", "momentum", "weight_decay", "lr_gamma"):
            _require(_is_number(getattr(self, name)), name, "must be a number")
            _require(math.isfinite(getattr(self, name)), name, "must be finite")
        _require(self.lr > 0, "lr", "must be greater than 0")
        _require(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        for name in ("lr", "weight_decay"):
            _require(
                getattr(self, name) <= FLOAT32_SAFE_MAX,
                name,
                f"must be at most {FLOAT32_SAFE_MAX:g} (training is in float32)",
            )
        _require(0 < self.lr_gamma <= 1, "lr_gamma", "must be in (0, 1]")
        _require(
            not (self.nesterov and self.optimizer == "sgd" and self.momentum == 0),
            "nesterov",
            "needs momentum > 0",
        )
        for name in ("nesterov", "standardize"):
            _require(isinstance(getattr(self, name), bool), name, "must be true or false")
        _require(self.init in INITS, "init", f"must be one of {', '.join(INITS)}")
        _require(self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}")
        _require(
            self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}"
        )
        _require(
            _is_whole(self.seed) and 0 <= self.seed <= SEED_MAX,
            "seed",
            "must be a whole number from 0 to 2**63-1",
        )
        _require(
            _is_whole(self.val_split) and self.val_split >= 0,
            "val_split",
            "must be a whole number >= 0",
        )
        _require(
            self.val_split < MNIST_TRAIN_SIZE,
            "val_split",
            f"must be smaller than the training set ({MNIST_TRAIN_SIZE})",
        )
        _require(
            _is_whole(self.augment_shift) and 0 <= self.augment_shift <= 8,
            "augment_shift",
            "must be a whole number in [0, 8]",
        )
        _require(
            _is_whole(self.keep_top_k) and self.keep_top_k >= 0,
            "keep_top_k",
            "must be a whole number >= 0",
        )
        _require(_valid_device(self.device), "device", "must be auto, cpu, cuda or cuda:N")
        _require(
            self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}"
        )
        _require(
            not (self.precision == "tf32" and self.device == "cpu"),
            "precision",
            "tf32 needs a CUDA device (on the CPU use fp32 or bf16)",
        )

    def to_json(self) -> str:
        """The config as a JSON object string (stored in checkpoints and run folders)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring unknown keys (a newer file) and defaulting missing ones."""
        if not isinstance(values, dict):
            raise ConfigError(f"config must be a JSON object, not {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Inverse of `to_json`."""
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"config is not valid JSON ({exc})") from exc
        return cls.from_dict(values)

    def summary(self) -> str:
        """A short human label, e.g. ``h1024 lr0.05 b128 sgd+nesterov cosine``."""
        opt = self.optimizer
        if opt == "sgd" and self.momentum:
            opt += f" m{self.momentum:g}" + ("n" if self.nesterov else "")
        return f"h{self.hidden} lr{self.lr:g} b{self.batch_size} {opt} {self.schedule} {self.init}"


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{name} {message}")


def _is_whole(value: Any) -> bool:
    """An int and not a bool (True is an int in Python, but never a valid size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_device(device: Any) -> bool:
    if not isinstance(device, str):
        return False
    if device in ("auto", "cpu", "cuda"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


PRESETS: dict[str, TrainConfig] = {
    # The university lab: h=128, lr 0.01, batch 64, 30 epochs, N(0, 1) weights and biases,
    # plain SGD, pixels in [0, 1], no validation split. About 90% after 30 epochs.
    "lab": TrainConfig(
        hidden=128,
        lr=0.01,
        batch_size=64,
        epochs=30,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.0,
        init="normal",
        schedule="constant",
        val_split=0,
        standardize=False,
    ),
    # He init, Nesterov SGD, weight decay, cosine: 98%+ test accuracy within 10 epochs.
    "default": TrainConfig(),
    # The least training time to 98% test accuracy (at the best validation epoch) found on
    # the development CPU: a quarter of the width, half the epochs (README). bf16 took as long
    # at this width (its casts and the optimizer's float32 passes cost what its products save),
    # so the preset stays float32 and runs on every device.
    "fast": TrainConfig(hidden=256, epochs=5),
    # As high as one hidden layer goes: wider, longer, with small random shifts.
    "best": TrainConfig(
        hidden=2048,
        lr=0.05,
        batch_size=128,
        epochs=40,
        augment_shift=2,
        weight_decay=5e-4,
    ),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A preset by name with some fields replaced (validated again)."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {name!r}")
    return replace(PRESETS[name], **overrides)
