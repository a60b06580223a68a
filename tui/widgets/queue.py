"""The sweep queue as a table: each job's config, state, epoch and accuracies.

Attributes down, messages up: the app gives the widget the queue's jobs (`set_jobs`) and the
sweep's events (`apply_event`); `c` and `x`/Delete only ask, by posting `CancelRequested` or
`RemoveRequested` with the selected job's id, and the app acts on its `JobQueue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from mlp_core.events import EpochEnd, Progress, RunStarted
from tui.format import percent

if TYPE_CHECKING:  # mlp_core.sweep imports torch: not before the first screen is drawn
    from mlp_core.sweep import Job, JobEvent, SweepEvent

#: Each job state (as `mlp_core.sweep.JOB_STATES`, in its order) and its look.
STATE_STYLES = {
    "waiting": "grey62",
    "running": "bold yellow",
    "done": "bold green",
    "failed": "bold red",
    "diverged": "bold magenta",
    "cancelled": "grey50 strike",
}
COLUMNS = ("job", "config", "state", "epoch", "val %", "test %", "run")


def _percent(value: float | None) -> str:
    return percent(value, missing="", sign=False)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


class QueueView(DataTable):
    """Jobs of a sweep, one row each; the cursor selects a job for `c` (cancel) or `x` (remove)."""

    DEFAULT_CSS = """
    QueueView {
        height: auto;
        max-height: 16;
        border-top: solid $panel;
        border-title-align: left;
    }
    """

    BINDINGS = [  # noqa: RUF012 (Textual's own widgets declare bindings as a list)
        Binding("c", "cancel_job", "Cancel job"),
        Binding("x,delete", "remove_job", "Remove job"),
        Binding("s", "app.run_queue", "Run queue"),
        Binding("C", "app.clear_jobs", "Clear ended", show=False),
    ]

    class JobRequest(Message):
        """The user asked for something to be done to job `job_id`."""

        def __init__(self, view: QueueView, job_id: int) -> None:
            super().__init__()
            self.view = view
            self.job_id = job_id

        @property
        def control(self) -> QueueView:
            return self.view

    class CancelRequested(JobRequest):
        """The user asked to cancel job `job_id` (waiting: drop it; running: stop it)."""

    class RemoveRequested(JobRequest):
        """The user asked to take job `job_id` off the queue."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.states: dict[int, str] = {}
        """Each shown job's state, by id (what the table shows, for the app and tests)."""
        self._config_columns: list[str] = []

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)
        self._update_title()

    # -- attributes down --------------------------------------------------------------------

    def set_jobs(self, jobs: Sequence[Job]) -> None:
        """Show exactly `jobs` (a `JobQueue.jobs()` snapshot), keeping the selected job."""
        from mlp_core.sweep import varying_fields

        selected = self.selected_job_id
        self.clear()
        self.states = {}
        self._config_columns = varying_fields(job.config for job in jobs)
        for job in jobs:
            self.states[job.id] = job.state
            self.add_row(*self._cells(job), key=str(job.id))
        if selected in self.states:
            self.move_cursor(row=self.get_row_index(str(selected)))
        self._update_title()

    def apply_event(self, event: SweepEvent) -> None:
        """Update a job's row from a sweep event (call it on the UI thread)."""
        from mlp_core.sweep import JobEvent, JobFinished, JobStarted, SweepFinished, SweepStarted

        if isinstance(event, (SweepStarted, SweepFinished)):
            self._update_title()
            return
        job_id = getattr(event, "job_id", None)
        if job_id not in self.states:
            return  # removed from the view, or not shown yet
        if isinstance(event, JobStarted):
            self._set(job_id, state="running", epoch="", run="")
        elif isinstance(event, JobFinished):
            self._set(
                job_id,
                state=event.status,
                epoch=str(event.epochs_done),
                val=_percent(event.best_val_accuracy),
                test=_percent(_first(event.test_accuracy_at_best, event.final_test_accuracy)),
                run=event.run_name,
            )
        elif isinstance(event, JobEvent):
            self._apply_training_event(job_id, event)

    def _apply_training_event(self, job_id: int, wrapped: JobEvent) -> None:
        event = wrapped.event
        if isinstance(event, RunStarted):
            self._set(job_id, epoch=f"{event.start_epoch}/{event.epochs}", run=event.run_name)
        elif isinstance(event, Progress):
            self._set(job_id, epoch=f"{event.epoch} {100 * event.step // event.steps}%")
        elif isinstance(event, EpochEnd):
            self._set(
                job_id,
                epoch=str(event.epoch),
                val=_percent(event.val_accuracy),
                test=_percent(event.test_accuracy),
            )

    @property
    def selected_job_id(self) -> int | None:
        """The id of the job under the cursor, or None for an empty queue."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    # -- messages up ------------------------------------------------------------------------

    def action_cancel_job(self) -> None:
        job_id = self.selected_job_id
        if job_id is not None:
            self.post_message(self.CancelRequested(self, job_id))

    def action_remove_job(self) -> None:
        job_id = self.selected_job_id
        if job_id is not None:
            self.post_message(self.RemoveRequested(self, job_id))

    # -- drawing ----------------------------------------------------------------------------

    def _cells(self, job: Job) -> list[str | Text]:
        values = asdict(job.config)
        shown = [
            f"{name}={values[name]:g}"
            if isinstance(values[name], float)
            else f"{name}={values[name]}"
            for name in self._config_columns
        ]
        return [
            str(job.id),
            " ".join(shown) or job.config.summary(),
            Text(job.state, style=STATE_STYLES.get(job.state, "")),
            str(job.epochs_done or "") if job.state != "running" else str(job.epoch),
            _percent(job.best_val_accuracy),
            _percent(_first(job.test_accuracy_at_best, job.final_test_accuracy)),
            job.run_name,
        ]

    def _set(self, job_id: int, **cells: str) -> None:
        keys = {"val": "val %", "test": "test %"}
        for name, value in cells.items():
            if name == "state":
                self.states[job_id] = value
                self.update_cell(str(job_id), "state", Text(value, style=STATE_STYLES[value]))
            else:
                self.update_cell(str(job_id), keys.get(name, name), value)
        self._update_title()

    def _update_title(self) -> None:
        counts = {state: 0 for state in STATE_STYLES}
        for state in self.states.values():
            counts[state] += 1
        parts = [f"{n} {state}" for state, n in counts.items() if n]
        self.border_title = f"queue: {', '.join(parts) if parts else 'empty'}"
