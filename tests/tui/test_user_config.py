"""The user config: where it lives, an atomic write, a damaged file ignored with a note, values
TrainConfig refuses dropped one by one, and the charts' choices round-tripped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlp_core.config import PRESETS
from tui.user_config import ENV_VAR, UserConfig, config_dir, config_path, load, save


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    monkeypatch.setenv(ENV_VAR, str(target))
    return target


def test_the_folder_is_the_env_var_else_the_users_config_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert config_path() == folder / "settings.json"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "mnist-tui"


def test_a_config_round_trips_and_is_written_whole(folder: Path) -> None:
    config = UserConfig()
    config.remember_form(dataclasses.replace(PRESETS["default"], hidden=256, epochs=3))
    config.set_chart("loss-chart", True, ["test", "lr"])
    config.panel["show_panel"] = False
    assert save(config) is None
    assert [p.name for p in folder.iterdir()] == ["settings.json"]  # no temporary left
    loaded, note = load()
    assert note is None and loaded == config
    assert loaded.chart("loss-chart") == (True, ["lr", "test"])
    assert loaded.chart("accuracy-chart") == (False, [])
    form, refused = loaded.form_config(PRESETS["default"])
    assert (form.hidden, form.epochs, refused) == (256, 3, [])
    assert json.loads(config_path().read_text())["version"] == 1


def test_a_missing_file_is_the_defaults_without_a_note(folder: Path) -> None:
    assert load() == (UserConfig(), None)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"form": 3}', ""])
def test_a_damaged_file_is_ignored_with_a_note_and_replaced_at_the_next_save(
    folder: Path, content: str
) -> None:
    folder.mkdir()
    config_path().write_text(content)
    loaded, note = load()
    assert loaded == UserConfig()
    assert note is not None and "settings ignored" in note and "settings.json" in note
    assert save(loaded) is None and load() == (loaded, None)


def test_refused_form_values_are_dropped_one_by_one(folder: Path) -> None:
    config = UserConfig(form={"hidden": -5, "lr": 0.2, "epochs": 0, "unknown": 1})
    form, refused = config.form_config(PRESETS["default"])
    assert form.lr == 0.2 and form.hidden == PRESETS["default"].hidden
    assert sorted(refused) == ["epochs", "hidden"]


def test_a_folder_that_cannot_be_written_is_a_note_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(ENV_VAR, str(blocker / "sub"))  # a file where the folder should be
    note = save(UserConfig())
    assert note is not None and note.startswith("settings not saved")
