"""Quitting with runs still training: leave them running (the default), or stop them.

Runs are processes of their own and outlive the app; quitting never has to cost one. Dismissed
with "leave" (Enter on the focused default, `l`), "stop" (`s`), or None (Escape: stay).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitLiveScreen(ModalScreen[str | None]):
    """Ask what becomes of the live runs `names` when the app quits."""

    DEFAULT_CSS = """
    QuitLiveScreen { align: center middle; }
    QuitLiveScreen #quit-box {
        width: auto; min-width: 40; max-width: 90; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    QuitLiveScreen #quit-title { text-style: bold; margin-bottom: 1; }
    QuitLiveScreen #quit-runs { margin-bottom: 1; }
    QuitLiveScreen #quit-buttons { height: auto; align-horizontal: right; }
    QuitLiveScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "answer('leave')", "Leave running"),
        Binding("s", "answer('stop')", "Stop them"),
        Binding("escape", "answer(None)", "Stay"),
        Binding("left,right", "app.focus_next", show=False),
    ]

    def __init__(self, names: list[str], queue_active: bool = False) -> None:
        super().__init__()
        self.names = names
        self.queue_active = queue_active

    def compose(self) -> ComposeResult:
        count = len(self.names)
        shown = "\n".join(f"  {name}" for name in self.names[:6])
        if count > 6:
            shown += f"\n  … and {count - 6} more"
        queue = "\nThe queue goes on too, unless they are stopped." if self.queue_active else ""
        with Vertical(id="quit-box"):
            yield Static(f"{count} run(s) still training", id="quit-title", markup=False)
            yield Static(
                f"{shown}\nThey are processes of their own: left running, they finish without "
                f"the app, and reopening it follows them.{queue}",
                id="quit-runs",
                markup=False,
            )
            yield Static("l: leave running · s: stop them · Escape: stay", classes="quit-hint")
            with Horizontal(id="quit-buttons"):
                yield Button("Stop them", id="quit-stop", variant="error")
                yield Button("Leave running", id="quit-leave", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#quit-leave", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss("stop" if event.button.id == "quit-stop" else "leave")

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
