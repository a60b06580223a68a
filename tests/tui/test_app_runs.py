"""The app as a viewer of run processes: a run started with ctrl+r trains in a process of its
own and is followed from its folder; a live run started elsewhere is followed on selection
(replayed, then live, with the progress bar); kill -9 shows as interrupted within 2 s; quitting
with a live run asks, and leaving it running leaves it running."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from app_helpers import (
    QUICK,
    data_dir_for,
    make_app,
    past_run,
    run_async,
    set_form,
    wait_loaded,
    wait_until,
)
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.runproc import launch_run, stop_run
from mlp_core.runs import load_run, read_metrics
from tui.screens.quit_live import QuitLiveScreen
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.epoch_progress import EpochProgress
from tui.widgets.results import ResultsTable

#: Many short epochs: a run that lives until stopped or killed.
LONG = TrainConfig(hidden=16, epochs=300, batch_size=16, val_split=100, device="cpu")


def _run_pid(run_dir: Path) -> int:
    return int(json.loads((run_dir / "run.json").read_text())["pid"])


@run_async
async def test_ctrl_r_trains_in_a_process_of_its_own_and_the_app_follows_it(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, QUICK)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.live_run is not None, timeout=60)
        run_dir = app.live_run
        assert run_dir is not None
        assert _run_pid(run_dir) != os.getpid()  # not trained in the app's process
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        await pilot.pause(0.3)
        table = app.query_one(ResultsTable)
        assert sorted(table.rows_by_epoch) == [1, 2, 3]
        assert [row["epoch"] for row in read_metrics(run_dir)] == [1, 2, 3]
        assert [row["epoch"] for row in app.history] == [1, 2, 3]
        assert not app.is_training and not app.query_one("#field-hidden").disabled
        assert load_run(run_dir).status == "finished"


@run_async
async def test_a_live_run_started_elsewhere_is_followed_and_a_kill_shows_within_2s(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    data_dir = data_dir_for(runs_dir, tiny_dataset)
    run_dir = launch_run(runs_dir, LONG, data_dir=data_dir)  # as the CLI or another app would
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: panel.run_entry(run_dir) is not None)
        assert panel.run_entry(run_dir).status == "running"  # type: ignore[union-attr]
        await wait_until(pilot, lambda: len(read_metrics(run_dir)) >= 2, timeout=60)
        app.show_run(run_dir)  # what Enter on it in the panel does
        table = app.query_one(ResultsTable)
        # Replayed from metrics.jsonl, then live: an epoch row this app did not start.
        await wait_until(pilot, lambda: len(table.rows_by_epoch) >= 2, timeout=20)
        seen = len(table.rows_by_epoch)
        await wait_until(pilot, lambda: len(table.rows_by_epoch) > seen, timeout=30)
        assert app.is_training and app.run_state.startswith("training")
        await wait_until(pilot, lambda: "img/s" in app.query_one(EpochProgress).text)
        panel.select_run(run_dir)
        panel.action_delete()  # a live run's folder is never deleted
        await pilot.pause()
        assert any("That run is training" in n.message for n in app._notifications)

        os.kill(_run_pid(run_dir), signal.SIGKILL)
        killed = time.monotonic()
        await wait_until(pilot, lambda: app.run_state == "interrupted", timeout=10)
        assert time.monotonic() - killed <= 2.0
        assert not app.is_training
        await wait_until(
            pilot,
            lambda: panel.run_entry(run_dir).status == "interrupted",  # type: ignore[union-attr]
            timeout=5,
        )


@run_async
async def test_a_finished_run_is_replayed_through_the_follower(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    run_dir = past_run(runs_dir, tiny_dataset, epochs=2)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        app.follow(run_dir)
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=10)
        assert [row["epoch"] for row in app.history] == [1, 2]
        assert not app.is_training


@run_async
async def test_quit_with_a_live_run_asks_and_leaving_it_running_leaves_it_running(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, {**QUICK, "epochs": str(LONG.epochs), "batch_size": "16"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state.startswith("training"), timeout=60)
        run_dir = app.live_run
        assert run_dir is not None
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitLiveScreen))
        await pilot.press("enter")  # the default: leave it running
        await wait_until(pilot, lambda: app._exit, timeout=5)
    time.sleep(0.5)
    assert load_run(run_dir).status == "running"  # the app is gone; the run is not
    assert stop_run(run_dir) == "stopped"


@run_async
async def test_quit_can_stop_the_live_runs(tmp_path: Path, tiny_dataset: Dataset) -> None:
    runs_dir = tmp_path / "runs"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, {**QUICK, "epochs": str(LONG.epochs), "batch_size": "16"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state.startswith("training"), timeout=60)
        run_dir = app.live_run
        assert run_dir is not None
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitLiveScreen))
        await pilot.press("escape")  # stay
        await pilot.pause(0.2)
        assert not app._exit and app.is_training
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitLiveScreen))
        await pilot.press("s")
        await wait_until(pilot, lambda: app._exit, timeout=5)
    deadline = time.monotonic() + 15
    while load_run(run_dir).status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert load_run(run_dir).status == "stopped"


@run_async
async def test_ctrl_s_stops_the_followed_run_with_whole_checkpoints(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from mlp_core.checkpoint import load_checkpoint

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, {**QUICK, "epochs": str(LONG.epochs), "batch_size": "16"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.history) >= 2, timeout=60)
        run_dir = app.live_run
        assert run_dir is not None
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.is_training, timeout=15)
        await pilot.pause(0.3)
        assert app.run_state == "stopped"
        assert load_run(run_dir).status == "stopped"
        last = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
        assert 2 <= last.epoch < LONG.epochs
        assert not app.query_one("#field-hidden").disabled
