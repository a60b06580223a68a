"""Pilot tests of QueueView in a minimal app: rows, states from a real sweep, c and x keys."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult

from data.mnist import Dataset
from mlp_core.config import preset
from mlp_core.sweep import JobQueue, Sweep, SweepEvent, expand_grid
from tui.widgets.queue import QueueView

SIZE = (120, 30)
BASE = preset("default", hidden=16, epochs=1, val_split=100, device="cpu")


class QueueApp(App):
    """The widget alone, acting on a JobQueue as the real app should."""

    def __init__(self, queue: JobQueue) -> None:
        super().__init__()
        self.queue = queue
        self.requests: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield QueueView(id="queue")

    def on_mount(self) -> None:
        self.query_one(QueueView).set_jobs(self.queue.jobs())
        self.query_one(QueueView).focus()

    @on(QueueView.CancelRequested)
    def cancel(self, message: QueueView.CancelRequested) -> None:
        self.requests.append(("cancel", message.job_id))
        self.queue.cancel(message.job_id)
        message.control.set_jobs(self.queue.jobs())

    @on(QueueView.RemoveRequested)
    def remove(self, message: QueueView.RemoveRequested) -> None:
        self.requests.append(("remove", message.job_id))
        self.queue.remove(message.job_id)
        message.control.set_jobs(self.queue.jobs())


def _cell(view: QueueView, job_id: int, column: str) -> str:
    return str(view.get_cell(str(job_id), column))


def test_keys_cancel_and_remove_the_selected_job() -> None:
    async def scenario() -> None:
        queue = JobQueue(expand_grid(BASE, {"hidden": "16,32,64"}))
        app = QueueApp(queue)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            assert view.row_count == 3
            assert _cell(view, 2, "config") == "hidden=32"
            assert view.border_title == "queue: 3 waiting"
            await pilot.press("down", "c")
            assert app.requests == [("cancel", 2)]
            assert view.states == {1: "waiting", 2: "cancelled", 3: "waiting"}
            assert _cell(view, 2, "state") == "cancelled"
            assert view.selected_job_id == 2  # the cursor stays on the job
            await pilot.press("x")
            assert app.requests[-1] == ("remove", 2)
            assert [j.id for j in queue.jobs()] == [1, 3] and view.row_count == 2
            await pilot.press("delete")
            assert app.requests[-1][0] == "remove" and view.row_count == 1
            assert view.border_title == "queue: 1 waiting"

    asyncio.run(scenario())


def test_states_follow_a_real_sweep(tmp_path: Path, tiny_dataset: Dataset) -> None:
    configs = [*expand_grid(BASE, {"lr": "0.05,1e9"}), replace(BASE, val_split=10_000)]
    queue = JobQueue(configs)
    sweep = Sweep(queue, runs_dir=tmp_path, dataset=tiny_dataset)

    async def scenario() -> None:
        app = QueueApp(queue)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            seen_running = False
            events: list[SweepEvent] = list(sweep.run())
            for event in events:
                view.apply_event(event)
                seen_running = seen_running or view.states[1] == "running"
            await pilot.pause()
            assert seen_running
            assert view.states == {1: "done", 2: "diverged", 3: "failed"}
            job = queue.get(1)
            assert _cell(view, 1, "run") == job.run_name != ""
            assert _cell(view, 1, "epoch") == "1"
            assert _cell(view, 1, "test %") == f"{100 * job.test_accuracy_at_best:.2f}"
            assert view.border_title == "queue: 1 done, 1 failed, 1 diverged"
            # A fresh snapshot shows the same as the events did.
            view.set_jobs(queue.jobs())
            assert view.states == {1: "done", 2: "diverged", 3: "failed"}
            assert _cell(view, 1, "test %") == f"{100 * job.test_accuracy_at_best:.2f}"

    asyncio.run(scenario())
