"""The Search mode in the whole app: a search a controller runs opens the queue view even with
no job queued (its trials are its rows), and `S` in the view opens the Search screen."""

from __future__ import annotations

from pathlib import Path

from app_helpers import make_app, run_async, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from mlp_core.config import preset
from mlp_core.search import Search, SearchSpec
from mlp_core.search_space import parse_space
from tui.screens.search import SearchScreen
from tui.widgets.queue import QueueView


@run_async
async def test_a_running_search_opens_the_queue_view_and_s_opens_the_search_screen(
    tmp_path: Path, tiny_dataset: Dataset, tiny_data_dir: Path
) -> None:
    runs_dir = tmp_path / "runs"
    base = preset("default", hidden=16, epochs=1, val_split=100)
    spec = SearchSpec(base, parse_space({"batch_size": "32,64"}, base), trials=2)
    search = Search(spec, runs_dir=runs_dir)  # this test is the controller: it holds the lock
    app = make_app(runs_dir, tiny_dataset, data_dir=tiny_data_dir)
    try:
        search._write_results()  # the enqueued grid: two waiting trials
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_loaded(app, pilot)
            view = app.query_one(QueueView)
            await wait_until(pilot, lambda: view.display and view.row_count == 2)
            assert view.jobs == [] and "search 0/2 trials, running" in str(view.border_title)
            assert str(view.get_cell("trial-1", "config")) == "batch_size=64"
            search.close()  # the controller is gone: the search it watched stays shown
            await wait_until(pilot, lambda: "search ended" in str(view.border_title))
            await pilot.pause(1.5)  # a few more readings of the queue
            assert view.display and view.row_count == 2
            await pilot.press("ctrl+t", "ctrl+t")
            assert app.focused is view
            await pilot.press("S")
            await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, SearchScreen))
    finally:
        search.close()
