"""Edit a run's label (a few words shown beside its name) and note (free text) in a modal.

Saving rewrites the run's `run.json` atomically (`mlp_core.runs.set_label_and_note`). The
result is the updated `RunInfo`, or None when cancelled; a failure (a run still training, a
folder gone) stays on the screen as a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from mlp_core.runs import RunError, RunInfo, load_run, set_label_and_note
from tui.widgets.field_input import FieldInput


class RunNotesScreen(ModalScreen[RunInfo | None]):
    """Label and note of the run at `run_path`. F2, Enter in the label, or Save saves.

    (Not Ctrl+S: the app binds it, with priority, to stopping a run.)
    """

    DEFAULT_CSS = """
    RunNotesScreen { align: center middle; }
    RunNotesScreen #notes-box {
        width: 80; max-width: 95%; height: auto;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    RunNotesScreen #notes-title { text-style: bold; margin-bottom: 1; }
    RunNotesScreen #notes-note { height: 8; }
    RunNotesScreen #notes-error { color: $error; text-style: bold; height: auto; }
    RunNotesScreen .notes-hint { color: $text-muted; width: 1fr; }
    RunNotesScreen #notes-buttons { height: auto; margin-top: 1; }
    RunNotesScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("f2", "save", "Save"),
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="notes-box"):
            yield Static(f"Run {self.run_path.name}", id="notes-title", markup=False)
            yield Label("Label")
            # FieldInput: keys typed together over a slow link are not dropped (issue 10).
            yield FieldInput(placeholder="a few words, e.g. 'wide, low lr'", id="notes-label")
            yield Label("Note")
            yield TextArea(id="notes-note", soft_wrap=True)
            yield Static("", id="notes-error")
            with Horizontal(id="notes-buttons"):
                yield Static("F2: save · Escape: cancel", classes="notes-hint")
                yield Button("Cancel", id="notes-cancel")
                yield Button("Save", id="notes-save", variant="primary")

    def on_mount(self) -> None:
        try:
            info = load_run(self.run_path)
        except RunError as exc:
            self._show_error(str(exc))
            return
        self.query_one("#notes-label", Input).value = info.label
        self.query_one("#notes-note", TextArea).text = info.note
        self.query_one("#notes-label", Input).focus()

    @on(Input.Submitted, "#notes-label")
    def _label_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "notes-save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        label = self.query_one("#notes-label", Input).value
        note = self.query_one("#notes-note", TextArea).text
        try:
            info = set_label_and_note(self.run_path, label=label, note=note)
        except RunError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(info)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _show_error(self, error: str) -> None:
        self.error = error
        self.query_one("#notes-error", Static).update(Text(error))
