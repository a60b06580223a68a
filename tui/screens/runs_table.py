"""Every run in one table, as `mnist-tui runs` lists them, sortable by any column.

The figures come from `mlp_core.runs.run_summary`, the function the CLI uses, so the two never
disagree. A run is named by its start time (its folder's name begins with it). `s`/`S` choose
the sort column (next/previous), `r` reverses the direction, Enter loads the run under the
cursor (the screen is dismissed with its folder), Escape closes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from tui.colours import run_colour
from tui.format import duration, percent, run_started


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _percent(value: Any) -> str:
    return percent(value, sign=False)


def _duration(seconds: Any) -> str:
    return duration(seconds) if seconds else "–"


def _started(name: str) -> str:
    """'20261127-221530-h1024-...' -> '11-27 22:15:30' (the rest is in the other columns)."""
    return run_started(name, seconds=True) or name


#: (key, heading, cell text, sort key): the columns, the figures first (what 80 columns show).
Column = tuple[str, str, Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], Any]]
COLUMNS: tuple[Column, ...] = (
    ("name", "run", lambda r: _started(r["name"]), lambda r: r["name"]),
    ("label", "label", lambda r: r.get("label") or "", lambda r: r.get("label") or ""),
    (
        "best_val_accuracy",
        "val %",
        lambda r: _percent(r.get("best_val_accuracy")),
        lambda r: r.get("best_val_accuracy"),
    ),
    (
        "test_accuracy_at_best",
        "test %",
        lambda r: _percent(r.get("test_accuracy_at_best")),
        lambda r: r.get("test_accuracy_at_best"),
    ),
    ("best_epoch", "best", lambda r: _number(r.get("best_epoch")), lambda r: r.get("best_epoch")),
    (
        "epochs",
        "epochs",
        lambda r: f"{r.get('epochs_done', 0)}/{_number(r.get('epochs'))}",
        lambda r: r.get("epochs_done"),
    ),
    ("hidden", "hidden", lambda r: _number(r.get("hidden")), lambda r: r.get("hidden")),
    ("lr", "lr", lambda r: _number(r.get("lr")), lambda r: r.get("lr")),
    ("batch_size", "batch", lambda r: _number(r.get("batch_size")), lambda r: r.get("batch_size")),
    ("optimizer", "opt", lambda r: r.get("optimizer") or "–", lambda r: r.get("optimizer")),
    ("seconds", "time", lambda r: _duration(r.get("seconds")), lambda r: r.get("seconds")),
    ("status", "status", lambda r: r.get("status", ""), lambda r: r.get("status", "")),
)
COLUMN_KEYS = [column[0] for column in COLUMNS]


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    """Rows sorted by `column`; missing values last whichever the direction."""
    key = next(c[3] for c in COLUMNS if c[0] == column)
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    return sorted(present, key=key, reverse=descending) + missing


def read_summaries(runs_dir: Path) -> list[dict[str, Any]]:
    """`run_summary` of every run folder (unreadable ones too), with its path."""
    from mlp_core.runs import RunError, list_runs, run_summary

    rows = []
    for run in list_runs(runs_dir):
        row = run_summary(run)
        row["path"] = run.path if not isinstance(run, RunError) else runs_dir / row["name"]
        rows.append(row)
    return rows


class RunsScreen(Screen[Path | None]):
    """The runs table; dismissed with the chosen run's folder (Enter) or None (Escape)."""

    DEFAULT_CSS = """
    RunsScreen #runs-title { padding: 0 1; text-style: bold; }
    RunsScreen #runs-help { padding: 0 1; color: $text-muted; }
    RunsScreen #runs-table { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("s", "sort(1)", "Sort by next"),
        Binding("S", "sort(-1)", "Previous column", show=False),
        Binding("r", "reverse", "Reverse"),
    ]

    def __init__(self, runs_dir: Path, sort_by: str = "name", descending: bool = True) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.sort_by = sort_by
        self.descending = descending
        #: The summaries, in the order shown.
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Runs in {self.runs_dir}", id="runs-title")
        yield Static(
            "s/S: sort by the next/previous column · r: reverse · Enter: load the run · "
            "Escape: back",
            id="runs-help",
        )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-table")
    def _read(self) -> list[dict[str, Any]]:
        return read_summaries(self.runs_dir)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "runs-table":
            return
        if event.state == WorkerState.SUCCESS:
            self.rows = event.worker.result or []
            self._show()
        elif event.state == WorkerState.ERROR:
            self.notify(f"cannot read {self.runs_dir}: {event.worker.error}", severity="error")

    def _show(self) -> None:
        """Fill the table in the current order; the sorted column's heading gets an arrow."""
        table = self.query_one(DataTable)
        chosen = self.chosen_path()
        self.rows = sort_rows(self.rows, self.sort_by, self.descending)
        table.clear(columns=True)
        arrow = " ▼" if self.descending else " ▲"
        for key, heading, _, _ in COLUMNS:
            label = heading + (arrow if key == self.sort_by else "")
            table.add_column(Text(label, style="bold" if key == self.sort_by else ""), key=key)
        for row in self.rows:
            style = "red" if row.get("status") == "unreadable" else ""
            cells = [Text(show(row), style=style) for _, _, show, _ in COLUMNS]
            if not style:  # the run in its own colour, as in the charts and the panel
                cells[0].stylize(f"bold {run_colour(row['name']).rich}")
            table.add_row(*cells, key=str(row["path"]))
        if chosen is not None:
            index = next((i for i, r in enumerate(self.rows) if r["path"] == chosen), 0)
            table.move_cursor(row=index, animate=False)
        sort_word = "descending" if self.descending else "ascending"
        self.query_one("#runs-title", Static).update(
            f"Runs in {self.runs_dir} · {len(self.rows)} run(s) · sorted by "
            f"{dict((c[0], c[1]) for c in COLUMNS)[self.sort_by]} ({sort_word})"
        )

    def chosen_path(self) -> Path | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]["path"]

    def action_sort(self, step: int) -> None:
        index = COLUMN_KEYS.index(self.sort_by)
        self.sort_by = COLUMN_KEYS[(index + step) % len(COLUMN_KEYS)]
        self._show()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._show()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        """A click on a heading sorts by it (again: reverses)."""
        key = str(event.column_key.value)
        if key == self.sort_by:
            self.descending = not self.descending
        self.sort_by = key
        self._show()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.rows[event.cursor_row]
        if row.get("status") == "unreadable":
            self.notify(row.get("error", "unreadable"), severity="error")
            return
        self.dismiss(row["path"])

    def action_close(self) -> None:
        self.dismiss(None)
