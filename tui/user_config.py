"""What the app remembers between launches: the last form values, the charts' choices (log
scale, hidden series) and the panel's; in the user's config folder, never in the runs folder.

The file is `settings.json` in `platformdirs.user_config_dir("mnist-tui")` (on Linux
`~/.config/mnist-tui/`), or in `$MNIST_TUI_CONFIG_DIR` when that is set (tests, or a second
profile). It is written whole to a temporary file in the same folder, fsynced and renamed into
place, so a crash never leaves half of it. A file that cannot be read or is not what it should
be is ignored with a one-line note (the app shows it) and replaced at the next save; a value
that `TrainConfig` refuses is dropped, the others kept. Nothing here imports Textual.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlp_core.config import ConfigError, TrainConfig

ENV_VAR = "MNIST_TUI_CONFIG_DIR"
FILE_NAME = "settings.json"
VERSION = 1


def config_dir() -> Path:
    """`$MNIST_TUI_CONFIG_DIR`, else the platform's user config folder for mnist-tui."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("mnist-tui", appauthor=False))


def config_path() -> Path:
    return config_dir() / FILE_NAME


@dataclass
class UserConfig:
    """The remembered choices. `charts` maps a chart's id to {"log_scale": bool, "hidden":
    [labels]}; `panel` is the panel's own (free-form, JSON values)."""

    form: dict[str, Any] = field(default_factory=dict)
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)
    panel: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, **dataclasses.asdict(self)}

    def chart(self, chart_id: str) -> tuple[bool, list[str]]:
        """(log scale, hidden series) remembered for a chart; (False, []) when none."""
        choices = self.charts.get(chart_id, {})
        hidden = choices.get("hidden", [])
        return (
            choices.get("log_scale") is True,
            [h for h in hidden if isinstance(h, str)] if isinstance(hidden, list) else [],
        )

    def set_chart(self, chart_id: str, log_scale: bool, hidden: list[str]) -> None:
        self.charts[chart_id] = {"log_scale": bool(log_scale), "hidden": sorted(hidden)}

    def remember_form(self, config: TrainConfig) -> None:
        """Keep the form's values (a whole, valid config: the app saves what Start would run)."""
        self.form = dataclasses.asdict(config)

    def form_config(self, base: TrainConfig) -> tuple[TrainConfig, list[str]]:
        """`base` with the remembered form values that TrainConfig accepts, and the names of
        those it refused (dropped, one at a time, so the rest still apply)."""
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        values = {k: v for k, v in self.form.items() if k in names}
        refused: list[str] = []
        while True:
            try:
                return dataclasses.replace(base, **values), refused
            except (ConfigError, TypeError, ValueError) as exc:
                name = str(exc).partition(" ")[0]
                if name not in values:  # cannot tell which: keep none of them
                    return base, sorted(values)
                refused.append(name)
                del values[name]


def load(path: Path | None = None) -> tuple[UserConfig, str | None]:
    """The remembered config, and a note when the file was there but could not be used."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserConfig(), None
    except OSError as exc:
        return UserConfig(), f"settings not read ({path}: {exc.strerror or exc}); using defaults"
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return _from_dict(data), None
    except ValueError as exc:
        return UserConfig(), f"settings ignored ({path} is damaged: {exc}); using defaults"


def _from_dict(data: dict[str, Any]) -> UserConfig:
    def section(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ValueError(f"{name!r} is not an object")
        return value

    charts = {k: v for k, v in section("charts").items() if isinstance(v, dict)}
    return UserConfig(form=section("form"), charts=charts, panel=section("panel"))


def save(config: UserConfig, path: Path | None = None) -> str | None:
    """Write the config atomically; a note (not an exception) when it cannot be written."""
    path = path or config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(config.to_dict(), file, indent=2, sort_keys=True)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        return f"settings not saved ({path}: {exc.strerror or exc})"
    return None
