"""TrainConfig: range checks name the field, presets are valid, JSON round trips."""

from __future__ import annotations

import json
from dataclasses import MISSING, FrozenInstanceError, asdict, fields
from typing import Any

import pytest

from mlp_core.config import PRESETS, ConfigError, TrainConfig, preset

BAD_VALUES: list[tuple[str, Any]] = [
    ("hidden", 0),
    ("hidden", -5),
    ("hidden", 12.5),
    ("hidden", 70_000),
    ("hidden", True),
    ("batch_size", 0),
    ("batch_size", "64"),
    ("epochs", 0),
    ("epochs", -1),
    ("lr_step_epochs", 0),
    ("lr", 0.0),
    ("lr", -0.1),
    ("lr", float("nan")),
    ("lr", float("inf")),
    ("lr", "0.1"),
    ("momentum", -0.1),
    ("momentum", 1.0),
    ("momentum", float("nan")),
    ("weight_decay", -1e-4),
    ("weight_decay", float("inf")),
    ("lr_gamma", 0.0),
    ("lr_gamma", 1.5),
    ("init", "zeros"),
    ("schedule", "linear"),
    ("optimizer", "rmsprop"),
    ("seed", -1),
    ("seed", 1.5),
    ("val_split", -1),
    ("val_split", 60_000),
    ("augment_shift", -1),
    ("augment_shift", 9),
    ("keep_top_k", -2),
    ("device", "tpu"),
    ("device", "cuda:"),
    ("device", "cuda:x"),
    ("device", None),
    ("nesterov", "yes"),
    ("standardize", 1),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_each_range_check_raises_config_error_naming_the_field(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{name: value})
    assert str(info.value).startswith(name)


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ConfigError, match=r"^nesterov"):
        TrainConfig(momentum=0.0, nesterov=True)
    TrainConfig(momentum=0.0, nesterov=False)  # fine
    TrainConfig(optimizer="adam", momentum=0.0, nesterov=True)  # irrelevant for Adam


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("momentum", 0.0),
        ("lr_gamma", 1.0),
        ("val_split", 0),
        ("val_split", 59_999),
        ("augment_shift", 8),
        ("hidden", 65_536),
        ("device", "cuda:1"),
        ("device", "cpu"),
    ],
)
def test_boundary_values_are_accepted(name: str, value: Any) -> None:
    config = TrainConfig(**{name: value, "nesterov": False})
    assert getattr(config, name) == value


def test_config_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        TrainConfig().lr = 1.0  # type: ignore[misc]


def test_presets_are_valid_and_match_the_issue() -> None:
    assert set(PRESETS) == {"lab", "default", "fast", "best"}
    lab = PRESETS["lab"]
    assert (lab.hidden, lab.lr, lab.batch_size, lab.epochs) == (128, 0.01, 64, 30)
    assert (lab.init, lab.momentum, lab.weight_decay, lab.val_split) == ("normal", 0.0, 0.0, 0)
    assert lab.schedule == "constant" and not lab.standardize
    assert PRESETS["default"] == TrainConfig()
    assert PRESETS["best"].hidden >= PRESETS["default"].hidden
    for config in PRESETS.values():
        assert TrainConfig(**asdict(config)) == config  # passes validation again


def test_preset_overrides_are_validated() -> None:
    assert preset("lab", epochs=3).epochs == 3
    with pytest.raises(ConfigError, match=r"^lr"):
        preset("default", lr=-1.0)
    with pytest.raises(ConfigError, match=r"^preset"):
        preset("nope")


def test_json_round_trip() -> None:
    for config in [*PRESETS.values(), TrainConfig(optimizer="adam", seed=7, device="cuda:2")]:
        text = config.to_json()
        assert isinstance(json.loads(text), dict)
        assert TrainConfig.from_json(text) == config


def test_from_dict_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    config = TrainConfig.from_dict({"hidden": 64, "from_the_future": 1, "lr": 0.2})
    assert config == TrainConfig(hidden=64, lr=0.2)
    assert TrainConfig.from_dict({}) == TrainConfig()


@pytest.mark.parametrize("value", [[1, 2], "hidden", None, 3])
def test_from_dict_refuses_a_non_object(value: Any) -> None:
    with pytest.raises(ConfigError):
        TrainConfig.from_dict(value)
    with pytest.raises(ConfigError):
        TrainConfig.from_json(json.dumps(value))


def test_from_json_refuses_broken_json() -> None:
    with pytest.raises(ConfigError):
        TrainConfig.from_json('{"hidden": ')


def test_every_field_has_help_and_a_default() -> None:
    for f in fields(TrainConfig):
        assert f.metadata.get("help"), f.name
        assert f.default is not MISSING, f.name
    assert fields(TrainConfig)[0].metadata["choices"] is None
    assert TrainConfig.__dataclass_fields__["init"].metadata["choices"] == (
        "he",
        "xavier",
        "normal",
    )


def test_summary_is_short_and_names_the_optimizer() -> None:
    summary = TrainConfig().summary()
    assert summary.startswith("h1024 lr0.05 b128 sgd m0.9n")
    assert "adam" in TrainConfig(optimizer="adam").summary()
