"""Small apps for the key-burst tests, runnable on their own in a terminal (tmux):
`python tests/tui/burst_apps.py form|bare`. Each shows its fields' values on a status line
(`VALUES hidden=... epochs=...`), so a test can read them back with capture-pane."""

from __future__ import annotations

import sys

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from mlp_core.config import PRESETS
from tui.widgets.config_form import FIELDS, ConfigForm


class FormApp(App[None]):
    """The real form, alone, with a line that shows every Input's value as typed."""

    def compose(self) -> ComposeResult:
        yield Static("VALUES", id="values")
        yield ConfigForm(PRESETS["default"], id="form")

    def on_mount(self) -> None:
        self.query_one(ConfigForm).field("hidden").focus()
        self.show_values()

    def on_input_changed(self) -> None:
        self.show_values()

    def show_values(self) -> None:
        form = self.query_one(ConfigForm)
        shown = " ".join(
            f"{name}={form.field(name).value}"  # type: ignore[attr-defined]
            for name in ("hidden", "lr", "epochs")
            if name in FIELDS
        )
        self.query_one("#values", Static).update(f"VALUES {shown} END")


class BareApp(App[None]):
    """A bare Textual Input (upstream behaviour) and its value."""

    def compose(self) -> ComposeResult:
        yield Static("VALUES", id="values")
        yield Input("12", id="bare")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#values", Static).update(f"VALUES bare={event.value} END")


if __name__ == "__main__":
    (FormApp if sys.argv[1:] == ["form"] else BareApp)().run()
