"""Pilot tests of the queue in the app: a grid typed in the form (count shown, Start refused,
ctrl+g asks and queues it as files), the runner process runs the jobs and the app follows them;
a reopened app shows the queue as its files say, and its keys act on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import make_app, run_async, set_form, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from textual.widgets import Label

from data.mnist import Dataset
from mlp_core.config import ConfigError, TrainConfig
from mlp_core.jobqueue import enqueue, list_jobs
from tui.screens.confirm import ConfirmScreen
from tui.widgets.config_form import LIST_FOR_QUEUE, ConfigForm
from tui.widgets.queue import QueueView
from tui.widgets.results import ResultsTable

TINY = {"epochs": "1", "batch_size": "64", "val_split": "100", "device": "cpu"}
BASE = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")


def _text(widget: object) -> str:
    return str(widget.content)  # type: ignore[attr-defined]


@run_async
async def test_a_grid_shows_its_count_and_its_jobs_run_in_the_runner(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        form = app.query_one(ConfigForm)
        set_form(app, TINY)
        # Lists typed by keyboard: the field accepts them, the form counts the grid.
        for name, text in (("hidden", "16,24"), ("lr", "0.05,0.1")):
            form.field(name).focus()
            await pilot.press("end", "ctrl+u", *text)
        await pilot.pause()
        assert not form.query_one("#reason-hidden").display  # a list is no error
        assert _text(form.query_one("#form-grid")).startswith("grid: 4 runs (hidden × lr)")

        # Start refuses a list and says why; nothing runs.
        await pilot.press("ctrl+r")
        assert not app.is_training
        assert any(LIST_FOR_QUEUE in n.message for n in app._notifications)

        # ctrl+g asks first, with the count; No queues nothing.
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, ConfirmScreen) and "4" in app.screen.title_text
        await pilot.press("n")
        assert list_jobs(runs_dir) == []
        # Two runs (one list) to keep the test short; Yes writes them and starts the runner.
        form.field("lr").focus()
        await pilot.press("end", "ctrl+u", *"0.05")
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, ConfirmScreen) and "2" in app.screen.title_text
        await pilot.press("y")
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.display and view.row_count == 2)
        # The app follows the jobs as they run: a live run on screen.
        await wait_until(pilot, lambda: app.live_run is not None, timeout=60)
        await wait_until(pilot, lambda: set(view.states.values()) == {"done"}, timeout=90)
        states = {job.state for job in list_jobs(runs_dir)}
        assert states == {"done"}
        assert len(list(runs_dir.glob("*/run.json"))) == 2
        await wait_until(pilot, lambda: app.query_one(ResultsTable).row_count == 1)
        assert "queue: 2 done" in str(view.border_title)

        # A list of devices runs jobs side by side (one per device); it is no grid dimension.
        form.field("device").focus()
        await pilot.press("end", "ctrl+u", *"cpu,cuda:1")
        await pilot.pause()
        assert form.devices() == ["cpu", "cuda:1"] and len(form.grid_configs()) == 2
        assert "on cpu, cuda:1 side by side" in form.grid_text
        # The CPU twice (auto is the CPU without a GPU) is refused, with the reason.
        assert form.cpu_only
        await pilot.press("ctrl+u", *"cpu,auto")
        await pilot.pause()
        reason = "names the CPU twice (cpu, auto)"
        assert reason in str(app.query_one("#reason-device", Label).content)
        with pytest.raises(ConfigError, match="CPU twice"):
            form.devices()
        app._notifications.clear()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert any(reason in n.message for n in app._notifications)


@run_async
async def test_a_reopened_app_shows_the_queue_and_its_keys_act_on_the_files(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    jobs = enqueue(runs_dir, [BASE, TrainConfig(**{**BASE.__dict__, "hidden": 24}), BASE])
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.display and view.row_count == 3)
        assert "queue 0/3" in app.sub_title
        # ctrl+t twice: the results table, then the queue; c cancels job 2, x removes job 3.
        await pilot.press("ctrl+t", "ctrl+t")
        assert app.focused is view
        await pilot.press("down", "c")
        await wait_until(pilot, lambda: view.states.get(jobs[1].id) == "cancelled")
        await pilot.press("down", "x")
        await wait_until(pilot, lambda: view.row_count == 2)
        assert [job.id for job in list_jobs(runs_dir)] == [jobs[0].id, jobs[1].id]
        await pilot.press("s")  # run the queue: the runner process takes the waiting job
        await wait_until(pilot, lambda: view.states.get(jobs[0].id) == "done", timeout=90)
        # C clears the ended jobs; the empty queue hides.
        await pilot.press("C")
        await wait_until(pilot, lambda: not view.display and list_jobs(runs_dir) == [])
        # Every action is in the command palette too.
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for title in (
            "Queue",
            "Run the queue",
            "Clear ended jobs",
            "Runs",
            "Delete the highlighted run or checkpoint",
            "Evaluate the highlighted checkpoint",
            "Fork from the highlighted checkpoint",
            "Mark the highlighted run to compare",
            "Export the highlighted run's metrics",
            "See the data set",
        ):
            assert title in titles, title


@run_async
async def test_ctrl_s_stops_the_queue_its_waiting_jobs_stay_waiting(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    import dataclasses
    import time

    from mlp_core.runs import load_run

    runs_dir = tmp_path / "runs"
    long = dataclasses.replace(BASE, epochs=300, batch_size=16)
    jobs = enqueue(runs_dir, [long, long])
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.row_count == 2)
        app.action_run_queue()  # what `s` in the queue view asks for
        await wait_until(pilot, lambda: app.live_run is not None, timeout=60)
        followed = app.live_run
        assert app.is_training and "queue 1/2" in app.sub_title
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.is_training, timeout=20)
        await wait_until(pilot, lambda: view.states.get(jobs[0].id) == "cancelled", timeout=10)
        assert load_run(followed).status == "stopped"
        time.sleep(1.5)  # the runner would have launched the next job by now
        assert {job.id: job.state for job in list_jobs(runs_dir)}[jobs[1].id] == "waiting"


@run_async
async def test_the_status_line_comes_back_when_the_list_is_removed(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        status = app.query_one("#status")
        normal = _text(status)
        assert "tiny: 600 train" in normal
        app.query_one(ConfigForm).field("hidden").focus()
        await pilot.press("end", "ctrl+u", *"16,24")
        await pilot.pause()
        assert _text(status).startswith("grid: 2 runs")
        await pilot.press("ctrl+u", *"16")
        await pilot.pause()
        assert _text(status) == normal
