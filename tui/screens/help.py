"""`?` / F1: every key of the app, grouped by where it applies; Escape closes.

The rows are (where, key, what) triples. `bindings_rows` makes them from a widget's or screen's
BINDINGS (those without a description are skipped, as the Footer skips them), so the screen
cannot drift from the keys that really exist; `default_rows` gathers the app's keys and those of
every widget and screen that has keys. The app may pass its own list instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Row = tuple[str, str, str]

#: Keys that are no one widget's BINDINGS (Textual's own, or several widgets').
GENERAL_ROWS: list[Row] = [
    ("anywhere", "?  f1", "This help"),
    ("anywhere", "ctrl+p", "The command palette: every action by name"),
    ("anywhere", "tab  shift+tab", "Next / previous field or panel"),
    ("checkpoint panel", "up down  enter", "Move; Enter on a run loads its curves"),
    ("evaluation (e)", "arrows  enter", "Choose a confusion cell; Enter shows its digits"),
]


#: Textual's names of a few keys, as they are typed.
KEY_SHOWN = {"question_mark": "?", "full_stop": ".", "comma": ",", "slash": "/"}


def key_names(key: str) -> str:
    """`left,pageup` -> `left  pageup` (as the help shows alternatives); `question_mark` -> ?."""
    return "  ".join(KEY_SHOWN.get(part.strip(), part.strip()) for part in key.split(","))


def bindings_rows(where: str, bindings: Iterable[BindingType]) -> list[Row]:
    """One row per described Binding; its tooltip is the longer description when it has one."""
    rows: list[Row] = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((where, key_names(binding.key), binding.tooltip or binding.description))
    return rows


def default_rows(app_keys: Iterable[BindingType] = ()) -> list[Row]:
    """The app's keys (`app_keys`, e.g. `tui.keys.APP_KEYS`), then every widget's and screen's."""
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.digits import DigitPager, DigitsScreen
    from tui.screens.evaluate import EvaluateScreen
    from tui.screens.misclassified import MisclassifiedScreen
    from tui.screens.run_notes import RunNotesScreen
    from tui.screens.runs_table import RunsScreen
    from tui.widgets.charts import LossChart, MetricChart
    from tui.widgets.checkpoint_panel import CheckpointPanel
    from tui.widgets.queue import QueueView

    places: list[tuple[str, Sequence[BindingType]]] = [
        ("anywhere", list(app_keys)),
        ("checkpoint panel", CheckpointPanel.BINDINGS),
        ("queue", QueueView.BINDINGS),
        ("charts", MetricChart.BINDINGS),
        ("loss chart", LossChart.BINDINGS),
        ("runs table (ctrl+l)", RunsScreen.BINDINGS),
        ("evaluation (e)", EvaluateScreen.BINDINGS),
        ("digits (d)", DigitsScreen.BINDINGS),
        ("mistakes (m)", MisclassifiedScreen.BINDINGS),
        ("digits, mistakes", DigitPager.BINDINGS),
        ("label and note (l)", RunNotesScreen.BINDINGS),
        ("confirmation", ConfirmScreen.BINDINGS),
        ("this help", HelpScreen.BINDINGS),
    ]
    rows = list(GENERAL_ROWS)
    for where, bindings in places:
        rows.extend(bindings_rows(where, bindings))
    return rows


def help_table(rows: Iterable[Row]) -> Table:
    """A table of the rows, a heading line for each place (in the order first seen)."""
    table = Table(box=None, padding=(0, 2, 0, 0), show_header=False, expand=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what")
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    for number, (where, place_rows) in enumerate(grouped.items()):
        if number:
            table.add_row("", "")
        table.add_row(Text(where, style="bold underline"), "")
        for _, key, what in place_rows:
            table.add_row(Text(key, style="bold cyan"), what)
    return table


class HelpScreen(ModalScreen[None]):
    """Every key by where it applies. Escape (or ? or q) closes."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen #help-box {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; color: $accent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q,f1", "close", "Close"),
    ]

    def __init__(self, rows: Iterable[Row] | None = None) -> None:
        super().__init__()
        self.rows = list(rows) if rows is not None else default_rows()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Keys · Escape closes · up/down scroll", id="help-title")
            yield Static(help_table(self.rows), id="help-table")

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()

    def action_close(self) -> None:
        self.dismiss()
