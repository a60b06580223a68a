"""Pilot tests of the queue in the app: a grid typed in the form (count shown, Start refused,
ctrl+g queues it), jobs run one after another as ordinary runs, a failing job does not stop the
queue, a waiting job can be cancelled or removed by key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from app_helpers import make_app, run_async, set_form, wait_loaded, wait_until
from textual.widgets import Label

from data.mnist import Dataset
from mlp_core.config import ConfigError, TrainConfig
from tui.screens.confirm import ConfirmScreen
from tui.widgets.charts import LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import LIST_FOR_QUEUE, ConfigForm
from tui.widgets.queue import QueueView
from tui.widgets.results import ResultsTable

TINY = {"epochs": "1", "batch_size": "64", "val_split": "100", "device": "cpu"}
BASE = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")


def _text(widget: object) -> str:
    return str(widget.content)  # type: ignore[attr-defined]


@run_async
async def test_a_2x2_grid_shows_its_count_and_runs_four_jobs(
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

        # ctrl+g asks first, with the count; Yes queues and runs them.
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, ConfirmScreen) and "4" in app.screen.title_text
        await pilot.press("y")
        view = app.query_one(QueueView)
        assert view.display and view.row_count == 4
        await wait_until(pilot, lambda: app.sweep is None and not app.is_training, timeout=60)
        await pilot.pause(0.2)
        assert view.states == {1: "done", 2: "done", 3: "done", 4: "done"}
        assert "queue: 4 done" in str(view.border_title)
        runs = sorted(runs_dir.glob("*/run.json"))
        configs = {
            (c["hidden"], c["lr"]) for c in (json.loads(p.read_text())["config"] for p in runs)
        }
        assert configs == {(16, 0.05), (16, 0.1), (24, 0.05), (24, 0.1)}
        # Each job is an ordinary run: live in the table while it ran, then in the panel.
        assert app.query_one(ResultsTable).row_count == 1
        # ... and the charts show the last job alone, not every job's curves on top of it.
        assert [len(points) for points in app.query_one(LossChart).series.values()] == [1, 1, 1]
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 4)
        assert (runs_dir / "sweeps").is_dir()

        # A list of devices runs jobs side by side (one per device); it is no grid dimension.
        form.field("device").focus()
        await pilot.press("end", "ctrl+u", *"cpu,cuda:1")
        await pilot.pause()
        assert form.devices() == ["cpu", "cuda:1"] and len(form.grid_configs()) == 4
        assert "on cpu, cuda:1 side by side" in form.grid_text
        assert form.grid_text in str(app.query_one("#status").content)
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
async def test_a_failing_job_does_not_stop_the_queue_and_waiting_jobs_cancel_or_go(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        queue = app._job_queue()
        queue.add_many(
            [
                dataclasses.replace(BASE, lr=1e9),  # diverges
                dataclasses.replace(BASE, val_split=10_000),  # fails: larger than the set
                BASE,
                dataclasses.replace(BASE, hidden=24),
                dataclasses.replace(BASE, hidden=32),
            ]
        )
        app._refresh_queue(show=True)
        view = app.query_one(QueueView)
        # ctrl+t twice: the results table, then the queue; c cancels job 4, x removes job 5.
        await pilot.press("ctrl+t", "ctrl+t")
        assert app.focused is view
        await pilot.press("down", "down", "down", "c")
        assert view.states[4] == "cancelled"
        await pilot.press("down", "x")
        assert 5 not in view.states and [j.id for j in queue.jobs()] == [1, 2, 3, 4]
        await pilot.press("s")  # run the queue
        await wait_until(pilot, lambda: app.sweep is None and not app.is_training, timeout=60)
        await pilot.pause(0.2)
        assert view.states == {1: "diverged", 2: "failed", 3: "done", 4: "cancelled"}
        titles = [n.title for n in app._notifications]
        assert "Job 2 failed" in titles and "Job 1 diverged" in titles
        # Runs of the diverged and the done job; the failed one failed before making its folder,
        # the cancelled one never ran.
        assert len(list(runs_dir.glob("*/run.json"))) == 2
        # C clears the ended jobs; the empty queue hides.
        await pilot.press("C")
        assert queue.jobs() == [] and not view.display
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
