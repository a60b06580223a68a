"""Every message the app showed, with its time and severity, in one screen (a key opens it).

`EventLog` is the model: the app adds each notification to it (`add`), so toasts can stay few
and short while nothing said is lost. It keeps the newest `limit` entries. `EventLogScreen`
shows them, newest last; Escape closes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SEVERITIES = ("information", "warning", "error")
STYLES = {"information": "", "warning": "bold yellow", "error": "bold red"}
LETTERS = {"information": "i", "warning": "!", "error": "x"}


@dataclass(frozen=True)
class LogEntry:
    """One message: when, how serious (Textual's notify severities), its title and text."""

    time: datetime
    severity: str
    message: str
    title: str = ""

    def line(self) -> Text:
        """``21:04:07 ! Run diverged: loss is NaN at epoch 3`` in the severity's colour."""
        style = STYLES.get(self.severity, "")
        text = Text(self.time.strftime("%H:%M:%S "), style="dim")
        text.append(f"{LETTERS.get(self.severity, '?')} ", style=style)
        if self.title:
            text.append(f"{self.title}: ", style="bold")
        text.append(self.message, style=style if self.severity == "error" else "")
        return text


@dataclass
class EventLog:
    """The newest `limit` messages, oldest first; `listeners` are told of each new one."""

    limit: int = 500
    entries: deque[LogEntry] = field(default_factory=deque)
    listeners: list[Callable[[LogEntry], None]] = field(default_factory=list)
    clock: Callable[[], datetime] = datetime.now

    def add(self, message: str, severity: str = "information", title: str = "") -> LogEntry:
        """Keep a message (an unknown severity is kept as information)."""
        if severity not in SEVERITIES:
            severity = "information"
        entry = LogEntry(self.clock(), severity, str(message), str(title or ""))
        self.entries.append(entry)
        while len(self.entries) > self.limit:
            self.entries.popleft()
        for listener in list(self.listeners):
            listener(entry)
        return entry

    def count(self, severity: str | None = None) -> int:
        return sum(1 for e in self.entries if severity is None or e.severity == severity)

    def text(self) -> Text:
        """Every entry, one a line (for the screen, and a test)."""
        if not self.entries:
            return Text("nothing yet", style="dim")
        return Text("\n").join(entry.line() for entry in self.entries)


class EventLogScreen(ModalScreen[None]):
    """The event log; it follows new messages while open. Escape closes."""

    DEFAULT_CSS = """
    EventLogScreen { align: center middle; }
    EventLogScreen #log-box {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    EventLogScreen #log-title { text-style: bold; color: $accent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self.log_model = log

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log-box"):
            yield Static("", id="log-title")
            yield Static("", id="log-lines")

    def on_mount(self) -> None:
        self.log_model.listeners.append(self._added)
        self._show()
        self.query_one("#log-box").focus()

    def on_unmount(self) -> None:
        if self._added in self.log_model.listeners:
            self.log_model.listeners.remove(self._added)

    def _added(self, _entry: LogEntry) -> None:
        self._show()

    def _show(self) -> None:
        log = self.log_model
        self.query_one("#log-title", Static).update(
            f"Event log · {log.count()} messages, {log.count('error')} errors, "
            f"{log.count('warning')} warnings · Escape closes"
        )
        self.query_one("#log-lines", Static).update(log.text())
        self.query_one("#log-box", VerticalScroll).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss()
