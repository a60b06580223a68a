"""The Search mode of the queue view: `S` opens the Search screen, whose fields are checked
as typed (the reason beside the field); Start creates the study and detaches a controller
process (`mlp_core.search_launch`), and the view shows its trials as they end, the best trial
so far and, at the end, Optuna's importances; its title names the runner's executor."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path

import optuna
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from textual.app import App, ComposeResult
from textual.widgets import Button, Checkbox, Input, Static

from mlp_core.config import preset
from mlp_core.jobqueue import RUNNER_FILE, RUNNER_LOCK, queue_dir
from mlp_core.liveness import try_lock
from mlp_core.search_launch import LOG_FILE
from mlp_core.search_status import read_search_status
from tui.screens.search import SearchScreen, field_reason, parse_more
from tui.widgets.queue import QueueView
from tui.widgets.queue_search import _with_progress, importance_words

SIZE = (160, 48)
BASE = preset("default")


class ViewApp(App[None]):
    def __init__(self, runs_dir: Path, data_dir: Path | None = None) -> None:
        super().__init__()
        self.runs_dir, self.data_dir = runs_dir, data_dir

    def compose(self) -> ComposeResult:
        yield QueueView(self.runs_dir, data_dir=self.data_dir, id="queue")

    def on_mount(self) -> None:
        self.query_one(QueueView).focus()


async def _until(pilot: object, condition: object, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out waiting"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _reason(screen: SearchScreen, name: str) -> str:
    return str(screen.query_one(f"#reason-{name}", Static).content)


def test_field_reasons_name_what_is_wrong() -> None:
    assert field_reason("lr", "1e-3..0.3:log", BASE) == ""
    assert field_reason("batch_size", "32,64,128", BASE) == ""
    assert field_reason("epochs", "3", BASE) == ""
    assert field_reason("lr", "", BASE) == ""  # empty: the preset's value
    assert "LOW must be smaller" in field_reason("lr", "0.3..0.1", BASE)
    assert "log range must be above 0" in field_reason("lr", "0..0.1:log", BASE)
    assert "scale after ':' must be log" in field_reason("hidden", "8..64:ln", BASE)
    assert field_reason("hidden", "many", BASE).startswith("hidden")
    assert field_reason("lr", "-1", BASE)  # out of the config's own range
    assert parse_more("val_split=100 val-split=5") == {"val_split": "5"}


def test_typing_checks_each_field_and_escape_starts_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = ViewApp(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("S")
            await _until(pilot, lambda: isinstance(app.screen, SearchScreen))
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            start = screen.query_one("#search-start", Button)
            assert not start.disabled  # the defaults are a valid search
            assert app.focused is screen.query_one("#search-lr", Input)
            await pilot.press("ctrl+u", *"0.3..0.1")
            await _until(pilot, lambda: "LOW must be smaller" in _reason(screen, "lr"))
            assert start.disabled
            await pilot.press("ctrl+u", *"0.01")
            await _until(pilot, lambda: _reason(screen, "lr") == "")
            screen.query_one("#search-more", Input).focus()
            await pilot.press(*"oops")
            await _until(pilot, lambda: "NAME=VALUES" in _reason(screen, "more"))
            await pilot.press("ctrl+u")
            # lr fixed, the rest one value each: nothing to search, said on the Start line.
            for name in ("hidden", "batch_size"):
                screen.query_one(f"#search-{name}", Input).value = "64"
            await _until(pilot, lambda: "nothing to search" in _reason(screen, "space"))
            assert start.disabled
            screen.query_one("#search-trials", Input).value = "0"
            await _until(pilot, lambda: _reason(screen, "trials") == "trials: at least 1")
            await pilot.press("escape")
            await _until(pilot, lambda: not isinstance(app.screen, SearchScreen))
            assert not (tmp_path / "sweeps").exists()

    asyncio.run(scenario())


def test_a_search_started_in_the_view_runs_detached_and_shows_its_trials(
    tmp_path: Path, tiny_data_dir: Path
) -> None:
    runs_dir = tmp_path / "runs"
    values = {"lr": "0.02..0.2:log", "hidden": "8..16", "batch_size": "64", "epochs": "1",
              "more": "val_split=100", "trials": "3"}

    async def scenario() -> None:
        app = ViewApp(runs_dir, tiny_data_dir)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            await _until(pilot, lambda: view.runner is not None)
            assert "local (a run process per device), no runner" in str(view.border_title)
            await pilot.press("S")
            await _until(pilot, lambda: isinstance(app.screen, SearchScreen))
            screen = app.screen
            for name, text in values.items():
                screen.query_one(f"#search-{name}", Input).value = text
            screen.query_one("#search-prune", Checkbox).value = False
            await pilot.pause()
            await pilot.click("#search-start")
            await _until(pilot, lambda: not isinstance(app.screen, SearchScreen), timeout=60)
            await _until(pilot, lambda: view.search is not None, timeout=20)
            folder = view.search.folder
            # The trials show as rows below the (empty) queue, each as results.csv has it.
            await _until(pilot, lambda: view.search is not None and len(
                [t for t in view.search.trials if t.state == "complete"]) == 3, timeout=120)
            assert view.row_count == 3 and view.jobs == []
            assert str(view.get_cell("trial-0", "job")) == "trial 0"
            assert "lr=" in str(view.get_cell("trial-0", "config"))
            # Once the controller ends, the importances line joins the best trial's.
            await _until(pilot, lambda: not view.search.running, timeout=30)
            await _until(pilot, lambda: "importance" in str(view.border_subtitle), timeout=10)
            status = read_search_status(folder)
            best = status.best
            assert best is not None
            subtitle = str(view.border_subtitle)
            assert subtitle.startswith(f"best: trial {best.number}, val {best.val:.2f}%")
            assert importance_words(status) in subtitle
            assert "ended: 3 complete" in str(view.border_title)
            # A running trial's figures come from its run's metrics (results.csv has them at
            # its end): the same figures, read the running way.
            first = status.trials[0]
            running = replace(first, state="running", epochs="", val=None, test=None)
            followed = _with_progress(runs_dir, running)
            assert followed.epochs == "1" and round(followed.val or 0, 2) == first.val
            view.move_cursor(row=2)
            assert view.selected_job_id is None  # c and x never act on a trial
            view._search_changed = True  # a new reading redraws: the cursor stays on trial 2
            view.set_rows([])
            assert view.cursor_row == 2
        study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder}/study.db")
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
        assert best.number == study.best_trial.number
        assert "done in" in (folder / LOG_FILE).read_text()
        assert json.loads((folder / "search.json").read_text())["prune"] is False

    asyncio.run(scenario())


def test_the_title_names_the_runners_executor_and_whether_it_lives(tmp_path: Path) -> None:
    folder = queue_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / RUNNER_FILE).write_text(json.dumps({"pid": os.getpid(), "executor":
                                                  "ray:10.0.0.1:6379"}))

    async def scenario() -> None:
        app = ViewApp(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            await _until(pilot, lambda: "Ray at 10.0.0.1:6379, runner not running" in str(
                view.border_title))
            fd = try_lock(folder / RUNNER_LOCK)  # a runner holds the queue now
            try:
                await _until(pilot, lambda: f"runner alive (pid {os.getpid()})" in str(
                    view.border_title), timeout=5)
            finally:
                os.close(fd)

    asyncio.run(scenario())
