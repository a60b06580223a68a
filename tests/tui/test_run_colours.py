"""A run has one colour wherever it is drawn: the runs table colours its name like the charts."""

from __future__ import annotations

from pathlib import Path

from app_helpers import past_run, run_async
from textual.app import App
from textual.widgets import DataTable

from data.mnist import Dataset
from tui.colours import run_colour
from tui.screens.runs_table import RunsScreen


class Host(App[None]):
    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir))


@run_async
async def test_the_runs_table_names_each_run_in_its_colour(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs = tmp_path / "runs"
    run = past_run(runs, tiny_dataset, epochs=1, hidden=8)
    app = Host(runs)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            table = app.screen.query(DataTable)
            if table and table.first().row_count:
                break
            await pilot.pause(0.05)
        cell = app.screen.query_one(DataTable).get_cell_at((0, 0))
        assert any(run_colour(run.name).rich in str(span.style) for span in cell.spans)
