"""Grids of configs: comma-separated values per field, expanded to every combination.

    expand_grid(preset("default"), {"hidden": "128,256", "lr": "0.01,0.1"})  # four configs

Values are typed by the `TrainConfig` field they belong to, and each combination is a validated
config, so a typo is a `ConfigError` naming the field and the value before anything runs. No
torch here: the app's form counts a grid as the user types.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields, replace
from typing import Any

from mlp_core.config import ConfigError, TrainConfig

#: A grid larger than this is almost surely a typo (a stray comma list in every field).
MAX_GRID = 1000
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _field_type(name: str) -> str:
    for spec in fields(TrainConfig):
        if spec.name == name:
            # Annotations are strings under `from __future__ import annotations`.
            return spec.type if isinstance(spec.type, str) else spec.type.__name__
    raise ConfigError(f"{name} is not a TrainConfig field")


def _parse_one(name: str, kind: str, text: str) -> Any:
    value = text.strip()
    if not value:
        raise ConfigError(f"{name}: empty value in the list")
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        noun = "a whole number" if kind == "int" else "a number"
        raise ConfigError(f"{name}: {value!r} is not {noun}") from None
    if kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{name}: {value!r} is not true or false")
    choices = next(f.metadata.get("choices") for f in fields(TrainConfig) if f.name == name)
    if choices and value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def parse_values(name: str, text: str) -> list[Any]:
    """Parse a comma-separated list (``"128,256,512"``) typed by the field; duplicates dropped.

    Raises ConfigError naming the field and the value that does not parse.
    """
    kind = _field_type(name)
    values: list[Any] = []
    for item in text.split(","):
        value = _parse_one(name, kind, item)
        if value not in values:
            values.append(value)
    return values


def parse_grid(grid: Mapping[str, str | Sequence[Any]]) -> dict[str, list[Any]]:
    """Each field's values as a list: strings are parsed, sequences are taken as they are."""
    parsed: dict[str, list[Any]] = {}
    for name, values in grid.items():
        _field_type(name)
        parsed[name] = parse_values(name, values) if isinstance(values, str) else list(values)
        if not parsed[name]:
            raise ConfigError(f"{name}: no values")
    return parsed


def grid_size(grid: Mapping[str, str | Sequence[Any]]) -> int:
    """How many runs the grid expands to (the product of the list lengths)."""
    return math.prod(len(values) for values in parse_grid(grid).values())


def expand_grid(
    base: TrainConfig, grid: Mapping[str, str | Sequence[Any]] | None = None
) -> list[TrainConfig]:
    """Every combination of the grid's values over `base`, each a validated TrainConfig.

    The first field varies slowest (as nested loops written in the grid's order). A value that
    no config accepts raises ConfigError naming the field, the value and the combination.
    """
    parsed = parse_grid(grid or {})
    count = math.prod(len(values) for values in parsed.values())
    if count > MAX_GRID:
        raise ConfigError(f"grid has {count} combinations; at most {MAX_GRID} are allowed")
    configs = []
    for combination in itertools.product(*parsed.values()):
        overrides = dict(zip(parsed, combination, strict=True))
        try:
            configs.append(replace(base, **overrides))
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in overrides.items())
            raise ConfigError(f"{exc} (in the combination {shown})") from None
        except TypeError as exc:  # a wrongly typed value given as a list, not a string
            raise ConfigError(f"{exc} (in the combination {overrides})") from None
    return configs


def varying_fields(configs: Iterable[TrainConfig]) -> list[str]:
    """The config fields whose values differ between `configs`, in field order."""
    rows = [asdict(config) for config in configs]
    return [f.name for f in fields(TrainConfig) if len({repr(row[f.name]) for row in rows}) > 1]
