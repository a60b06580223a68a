"""Stopping in the app: a queue started just as a run ends can still be stopped, ctrl+s stops a
running queue, a running job can be cancelled, a cancelled worker stops its queue."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from app_helpers import QUICK, make_app, run_async, set_form, wait_loaded, wait_until

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.events import Event
from tui.widgets.queue import QueueView
from tui.worker import torch_thread_busy

#: A job that would take many seconds: only a stop ends it soon.
LONG = TrainConfig(hidden=16, epochs=400, batch_size=64, val_split=100, device="cpu")


def _block_until_torch_idle(timeout: float = 30) -> None:
    """Wait WITHOUT letting the app's event loop run: the worker's end is then not handled yet
    (the window in which a new run used to be taken for the one that ended)."""
    deadline = time.monotonic() + timeout
    while torch_thread_busy():
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(0.005)
    time.sleep(0.05)  # the worker thread returns


@run_async
async def test_a_queue_started_as_a_run_ends_can_be_stopped(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        gate = threading.Event()

        def source(should_stop: object) -> Iterator[Event]:
            gate.wait(10)  # a run that ends when the test says
            return iter([])

        app.run_events(source)
        await wait_until(pilot, torch_thread_busy)
        gate.set()
        _block_until_torch_idle()
        set_form(app, {**QUICK, "epochs": str(LONG.epochs)})
        app.action_queue()  # right after the run's end, before the app has handled it
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.states.get(1) == "running", timeout=20)
        assert app.sweep is not None and app.is_training
        await pilot.pause(0.3)
        assert app.sweep is not None, "the old run's end was taken for the queue's"
        await pilot.press("ctrl+s")
        waited = await wait_until(pilot, lambda: not app.is_training, timeout=10)
        assert waited < 5 and app.sweep is None
        assert view.states[1] != "done"


@run_async
async def test_ctrl_s_stops_a_running_queue_and_a_running_job_can_be_cancelled(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        queue = app._job_queue()
        queue.add_many([LONG, dataclasses.replace(LONG, hidden=24), LONG])
        app._refresh_queue(show=True)
        app.action_run_queue()
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.states.get(1) == "running", timeout=20)
        # c on the running job: it stops after its batch, the queue goes on with job 2.
        view.focus()
        view.move_cursor(row=0)
        await pilot.press("c")
        await wait_until(pilot, lambda: view.states.get(2) == "running", timeout=10)
        assert view.states[1] == "cancelled"
        # ctrl+s: the queue stops; job 3 never starts.
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.is_training, timeout=10)
        assert app.sweep is None and not torch_thread_busy()
        assert view.states[2] == "cancelled" and view.states[3] == "waiting"


@run_async
async def test_a_cancelled_queue_worker_stops_its_sweep(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        app._job_queue().add_many([LONG, LONG])
        app.action_run_queue()
        view = app.query_one(QueueView)
        await wait_until(pilot, lambda: view.states.get(1) == "running", timeout=20)
        app.workers.cancel_group(app, "training")
        await wait_until(pilot, lambda: not torch_thread_busy(), timeout=5)
        assert app._job_queue().get(2).state == "waiting"

        # Exiting with a queue running (Textual cancels the worker): the training thread stops
        # too, and its last messages after the exit raise nothing.
        app.action_run_queue()
        await wait_until(pilot, lambda: app._job_queue().get(2).state == "running", timeout=20)
        app.exit()
    deadline = time.monotonic() + 5
    while torch_thread_busy():
        assert time.monotonic() < deadline, "the queue went on training after the app exited"
        time.sleep(0.02)


@run_async
async def test_the_folder_of_a_running_queue_job_cannot_be_deleted(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from tui.screens.confirm import ConfirmScreen

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        app._job_queue().add_many([LONG])
        app.action_run_queue()
        queue = app._job_queue()
        await wait_until(pilot, lambda: queue.get(1).run_dir != "", timeout=20)
        run = Path(queue.get(1).run_dir)
        # Side by side, the screen follows one job only: this one is not the live run.
        app.live_run = None
        app.selected_run, app.selected_checkpoint = run, None
        app.action_delete()  # the panel's Delete key (keys wait for an idle screen)
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("is training" in n.message for n in app._notifications)
        # Asked before the job started, answered after: still refused.
        app._delete(run, None)
        assert run.is_dir()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.is_training, timeout=10)
