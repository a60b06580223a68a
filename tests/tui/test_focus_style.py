"""The focus shows in every theme: the form row holding the focus has its label reversed in the
theme's accent, and the focused control is tinted with the accent (app.tcss)."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import run_async
from textual.app import App, ComposeResult
from textual.widgets import Label

from mlp_core.config import PRESETS
from tui.widgets.config_form import ConfigForm

TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"


class StyledForm(App[None]):
    CSS_PATH = str(TCSS)

    def compose(self) -> ComposeResult:
        yield ConfigForm(PRESETS["default"], id="form")


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "nord"])
@run_async
async def test_the_focused_row_is_marked_in_every_theme(theme: str) -> None:
    app = StyledForm()
    async with app.run_test(size=(60, 30)) as pilot:
        app.theme = theme
        form = app.query_one(ConfigForm)
        form.field("lr").focus()
        await pilot.pause()
        focused = form.query_one("#row-lr .name", Label)
        other = form.query_one("#row-hidden .name", Label)
        assert focused.styles.text_style.reverse and not other.styles.text_style.reverse
        assert form.field("lr").styles.background_tint.a > 0.3
        assert form.field("hidden").styles.background_tint.a == 0
        form.field("hidden").focus()
        await pilot.pause()
        assert not focused.styles.text_style.reverse and other.styles.text_style.reverse
