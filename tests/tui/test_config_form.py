"""The form on its own (a small app, no torch): filling it revalidates once and says Changed
once; a preset fills it; an edited field makes the preset `custom`; a device list is checked."""

from __future__ import annotations

from typing import Any

from app_helpers import run_async
from textual.app import App, ComposeResult
from textual.widgets import Select

from mlp_core.config import PRESETS
from tui.widgets.config_form import ConfigForm


class FormApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.changes = 0

    def compose(self) -> ComposeResult:
        yield ConfigForm(PRESETS["default"], id="form")

    def on_config_form_changed(self) -> None:
        self.changes += 1


def _count_revalidations(form: ConfigForm) -> list[int]:
    calls = [0]
    real = form.revalidate

    def counting() -> bool:
        calls[0] += 1
        return real()

    form.revalidate = counting  # type: ignore[method-assign]
    return calls


@run_async
async def test_one_fill_revalidates_once_and_says_changed_once() -> None:
    app = FormApp()
    async with app.run_test(size=(100, 60)) as pilot:
        form = app.query_one(ConfigForm)
        await pilot.pause()
        calls, app.changes = _count_revalidations(form), 0
        form.fill(PRESETS["best"])
        await pilot.pause(0.2)
        assert calls[0] == 1 and app.changes == 1
        assert form.raw_values()["hidden"] == PRESETS["best"].hidden
        assert form.query_one("#preset", Select).value == "best"


@run_async
async def test_a_preset_fills_the_form_and_an_edit_makes_it_custom() -> None:
    app = FormApp()
    async with app.run_test(size=(100, 60)) as pilot:
        form = app.query_one(ConfigForm)
        preset = form.query_one("#preset", Select)
        await pilot.pause()
        preset.value = "lab"
        await pilot.pause(0.2)
        values: dict[str, Any] = form.raw_values()
        assert values["hidden"] == PRESETS["lab"].hidden and values["lr"] == PRESETS["lab"].lr
        assert preset.value == "lab"
        form.field("hidden").focus()
        await pilot.press("end", "1")
        await pilot.pause(0.2)
        assert form.raw_values()["hidden"] == PRESETS["lab"].hidden * 10 + 1
        assert preset.value == Select.NULL  # "custom"
