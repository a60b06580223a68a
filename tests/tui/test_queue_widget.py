"""Pilot tests of QueueView in a minimal app: it shows the queue's files, and its keys act on
those files (cancel, remove, clear), so what it shows is what another process sees."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App, ComposeResult

from mlp_core.config import preset
from mlp_core.grid import expand_grid
from mlp_core.jobqueue import enqueue, list_jobs
from tui.widgets.queue import QueueView

SIZE = (120, 30)
BASE = preset("default", hidden=16, epochs=1, val_split=100, device="cpu")


class QueueApp(App[None]):
    """The widget alone, on a runs folder."""

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.run_requests = 0

    def compose(self) -> ComposeResult:
        yield QueueView(self.runs_dir, id="queue")

    def on_mount(self) -> None:
        self.query_one(QueueView).focus()

    def on_queue_view_run_requested(self) -> None:
        self.run_requests += 1


async def _until(pilot: object, condition: object, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out waiting"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _cell(view: QueueView, job_id: str, column: str) -> str:
    return str(view.get_cell(job_id, column))


def test_the_view_shows_the_files_and_its_keys_act_on_them(tmp_path: Path) -> None:
    jobs = enqueue(tmp_path, expand_grid(BASE, {"hidden": "16,32,64"}))
    ids = [job.id for job in jobs]

    async def scenario() -> None:
        app = QueueApp(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            await _until(pilot, lambda: view.row_count == 3)
            assert _cell(view, ids[1], "config") == "hidden=32"
            assert view.border_title.startswith("queue: 3 waiting · local")
            assert view.words() == "queue 0/3"
            await pilot.press("down", "c")
            await _until(pilot, lambda: view.states.get(ids[1]) == "cancelled")
            on_disk = {job.id: job.state for job in list_jobs(tmp_path)}
            assert on_disk == {ids[0]: "waiting", ids[1]: "cancelled", ids[2]: "waiting"}
            assert view.selected_job_id == ids[1]  # the cursor stays on the job
            await pilot.press("x")
            await _until(pilot, lambda: view.row_count == 2)
            assert [job.id for job in list_jobs(tmp_path)] == [ids[0], ids[2]]
            # Another process adds a job: the view shows it without being told.
            enqueue(tmp_path, [BASE])
            await _until(pilot, lambda: view.row_count == 3)
            assert view.border_title.startswith("queue: 3 waiting · local")
            await pilot.press("s")
            await pilot.pause()
            assert app.run_requests == 1  # the app starts the runner (it knows the devices)

    asyncio.run(scenario())


def test_clear_takes_the_ended_jobs_off(tmp_path: Path) -> None:
    from mlp_core.jobqueue import cancel_job

    jobs = enqueue(tmp_path, [BASE, BASE])
    cancel_job(tmp_path, jobs[0].id)

    async def scenario() -> None:
        app = QueueApp(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(QueueView)
            await _until(pilot, lambda: view.row_count == 2)
            assert view.border_title.startswith("queue: 1 waiting, 1 cancelled · ")
            await pilot.press("C")
            await _until(pilot, lambda: view.row_count == 1)
            assert [job.id for job in list_jobs(tmp_path)] == [jobs[1].id]

    asyncio.run(scenario())
