"""The top line: the app's name, the device in use and the state of the run.

Textual's Header re-lays out the whole screen when its subtitle changes (its title is a
Static); the state changes every epoch, and each full layout takes the UI thread tens of
milliseconds that a CPU run would rather spend training. This line has a fixed size, so a new
state is only a repaint. It shows the App's `title` and `sub_title`, as Header does.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget


class AppHeader(Widget):
    """One line: ``▦ mnist-tui — cpu, 2 threads · training 3/10``, centred."""

    DEFAULT_CSS = """
    AppHeader {
        dock: top;
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
        text-align: center;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "title", self._changed, init=False)
        self.watch(self.app, "sub_title", self._changed, init=False)

    def _changed(self) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        text = Text.assemble(("▦ ", "bold"), (self.app.title, "bold"))
        if self.app.sub_title:
            text.append(" — ")
            text.append(self.app.sub_title, style="dim" if "loading" in self.app.sub_title else "")
        return text
