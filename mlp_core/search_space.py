"""What a search varies: ranges and lists per TrainConfig field, parsed before anything runs.

    space = parse_space({"lr": "1e-3..0.3:log", "hidden": "128..2048:log",
                         "batch_size": "32,64,128", "epochs": "3"})
    space.params["lr"]         # Param(name="lr", kind="float", low=0.001, high=0.3, log=True)
    space.fixed                # {"epochs": 3}: a single value is not searched
    space.grid()               # [{"batch_size": 32}, {"batch_size": 64}, {"batch_size": 128}]

`LOW..HIGH` is a range (`:log` samples it on a log scale), typed by the field (an int field
gives whole numbers); a comma list is a choice among its values, and the lists' combinations
are the grid a search tries first. Typed and checked here, so a typo is one ConfigError naming
the field before a study is created. No torch and no Optuna here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.grid import MAX_GRID, _field_type, parse_values

#: Fields a search never varies: where a job runs is the executor's business.
NOT_SEARCHED = ("device",)


@dataclass(frozen=True)
class Param:
    """One searched field: a range (float or int, maybe log) or a choice among values."""

    name: str
    kind: str  # "float", "int" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(str(c) for c in self.choices)}}}"
        scale = " (log)" if self.log else ""
        return f"{self.name} {self.low:g}..{self.high:g}{scale}"


@dataclass
class SearchSpace:
    """Searched params by field name, and the fields given a single value."""

    params: dict[str, Param] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the choice params (empty when there are none)."""
        choices = {n: p.choices for n, p in self.params.items() if p.kind == "choice"}
        if not choices:
            return []
        combos = itertools.product(*choices.values())
        return [dict(zip(choices, combo, strict=True)) for combo in combos]

    def to_dict(self) -> dict[str, Any]:
        return {"params": {n: asdict(p) for n, p in self.params.items()}, "fixed": self.fixed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        params = {
            name: Param(**{**values, "choices": tuple(values.get("choices", ()))})
            for name, values in data.get("params", {}).items()
        }
        return cls(params, dict(data.get("fixed", {})))


def parse_space(options: dict[str, str], base: TrainConfig | None = None) -> SearchSpace:
    """Parse each field's text (range, list or single value); see the module docstring.

    With `base`, every corner of the space is checked against the config's own ranges, so
    `--lr 0..1` fails here rather than in the middle of a search.
    """
    space = SearchSpace()
    for name, text in options.items():
        if name in NOT_SEARCHED:
            raise ConfigError(f"{name} is not searched (the executor chooses where jobs run)")
        kind = _field_type(name)
        if ".." in text:
            space.params[name] = _parse_range(name, kind, text)
            continue
        values = parse_values(name, text)
        if len(values) == 1:
            space.fixed[name] = values[0]
        else:
            space.params[name] = Param(name, "choice", choices=tuple(values))
    if not space.params:
        raise ConfigError("nothing to search: give a range (1e-3..0.3) or a list for a field")
    if len(space.grid()) > MAX_GRID:
        raise ConfigError(f"the lists make {len(space.grid())} combinations; at most {MAX_GRID}")
    if base is not None:
        _check_corners(space, base)
    return space


def _parse_range(name: str, kind: str, text: str) -> Param:
    body, _, scale = text.partition(":")
    if scale not in ("", "log"):
        raise ConfigError(f"{name}: {text!r}: the scale after ':' must be log")
    low_text, _, high_text = body.partition("..")
    if kind not in ("int", "float"):
        raise ConfigError(f"{name}: a range needs a numeric field; give a list instead")
    cast = int if kind == "int" else float
    try:
        low, high = cast(low_text.strip()), cast(high_text.strip())
    except ValueError:
        noun = "whole numbers" if kind == "int" else "numbers"
        raise ConfigError(f"{name}: {text!r} is not LOW..HIGH with {noun}") from None
    if not low < high:
        raise ConfigError(f"{name}: {text!r}: LOW must be smaller than HIGH")
    if scale == "log" and low <= 0:
        raise ConfigError(f"{name}: {text!r}: a log range must be above 0")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{name}: {text!r}: LOW and HIGH must be finite")
    return Param(name, kind, low=low, high=high, log=scale == "log")


def _check_corners(space: SearchSpace, base: TrainConfig) -> None:
    """Build the config at each end of every range (and each choice): ConfigError if invalid."""
    config = config_for(base, space, {})
    for param in space.params.values():
        values = param.choices if param.kind == "choice" else (param.low, param.high)
        for value in values:
            try:
                replace(config, **{param.name: value})
            except ConfigError as exc:
                raise ConfigError(f"{exc} (at {param.describe()})") from None


def config_for(base: TrainConfig, space: SearchSpace, params: dict[str, Any]) -> TrainConfig:
    """The config of one trial: the base, the fixed values, then the trial's params."""
    return replace(base, **space.fixed, **params)
