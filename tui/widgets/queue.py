"""The queue as a table: each job's config, state, epoch and accuracies, read from the queue's
files (`mlp_core.jobqueue`, one file per job under `<runs>/queue/`), not from memory.

The queue outlives the app (its runner is a process of its own), so the view owns what it
shows: it re-reads the files every `INTERVAL` seconds in a thread worker while it is shown (or
asked to), and its keys act on the files themselves: `c` cancels the job under the cursor
(a running one is stopped), `x`/Delete removes it, `C` clears the ended ones. Starting the
runner needs the form's devices, so `s` only asks, by posting `RunRequested`; each re-read
posts `JobsChanged` for the app's header. A reopened app shows the queue as it is.

Its title names the runner's executor and address (queue/runner.json: local, one run process
per device, or Ray at an address) and whether a runner is alive. `S` opens the Search screen
(`tui.screens.search`), which starts a detached search controller; while a search runs (or
after one started or watched here ended) its trials are rows below the jobs, the best trial so
far and, at the end, Optuna's importances are the bottom border's line (`tui.widgets.queue_search`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from tui.format import percent
from tui.widgets.queue_search import (
    TRIAL_KEY,
    TRIAL_STYLES,
    RunnerInfo,
    best_words,
    importance_words,
    read_runner,
    read_search,
    runner_words,
    search_words,
    trial_cells,
)

if TYPE_CHECKING:
    from mlp_core.config import TrainConfig
    from mlp_core.jobqueue import Job
    from mlp_core.search_status import SearchStatus

#: Each job state and its look (an unknown state is shown plain).
STATE_STYLES = {
    "waiting": "grey62",
    "running": "bold yellow",
    "done": "bold green",
    "finished": "bold green",
    "stopped": "yellow",
    "failed": "bold red",
    "diverged": "bold magenta",
    "interrupted": "yellow",
    "lost": "red",
    "cancelled": "grey50 strike",
}
#: States of a job that is not over.
ACTIVE_STATES = ("waiting", "running")
COLUMNS = ("job", "config", "state", "epoch", "val %", "test %", "run")


def _percent(value: float | None) -> str:
    return percent(value, missing="", sign=False)


@dataclass(frozen=True)
class JobRow:
    """One job as the table shows it (made in the worker thread, from the files)."""

    id: str
    config: dict[str, Any]
    summary: str
    state: str
    epoch: str
    val: str
    test: str
    run: str
    run_dir: Path | None
    error: str


def job_row(job: Job) -> JobRow:
    """A job with its run's progress: the last epoch and the best accuracies so far."""
    from mlp_core.runs import read_metrics

    rows = read_metrics(job.run_dir) if job.run_dir is not None and job.run_dir.is_dir() else []
    best = next((r for r in reversed(rows) if r.get("is_best")), rows[-1] if rows else {})
    epochs = job.config.epochs
    return JobRow(
        id=str(job.id),
        config=asdict(job.config),
        summary=job.config.summary(),
        state=job.state,
        epoch=f"{rows[-1]['epoch']}/{epochs}" if rows else ("" if job.state == "waiting" else "0"),
        val=_percent(best.get("val_accuracy")),
        test=_percent(best.get("test_accuracy")),
        run=job.run_dir.name if job.run_dir is not None else "",
        run_dir=job.run_dir,
        error=job.error,
    )


def read_queue(runs_dir: Path) -> list[JobRow]:
    """Every job of the queue in `runs_dir`, as rows."""
    from mlp_core.jobqueue import list_jobs

    return [job_row(job) for job in list_jobs(runs_dir)]


def varying(rows: list[JobRow]) -> list[str]:
    """The config fields whose values differ between jobs (the grid's axes)."""
    if len(rows) < 2:
        return []
    names = list(rows[0].config)
    return [
        name
        for name in names
        if len({json.dumps(r.config.get(name), sort_keys=True) for r in rows}) > 1
    ]


class QueueView(DataTable):
    """Jobs of the queue, one row each; the cursor selects a job for `c` or `x`."""

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
        Binding("s", "run_queue", "Run queue"),
        Binding("C", "clear_jobs", "Clear ended", show=False),
        Binding(
            "S",
            "search",
            "Search",
            tooltip="New Optuna search (ranges, trials, pruning); its trials show here",
        ),
    ]

    #: Seconds between two readings of the queue's files.
    INTERVAL = 1.0

    class JobsChanged(Message):
        """The queue was read again: `jobs` is every job, as shown."""

        def __init__(self, rows: list[JobRow]) -> None:
            super().__init__()
            self.jobs = rows

    class RunRequested(Message):
        """The user asked for the waiting jobs to run (the app starts the runner)."""

    def __init__(
        self, runs_dir: Path, *, data_dir: Path | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.runs_dir = runs_dir
        #: The data set's folder for a search's controller (None: the app's, else the default).
        self.data_dir = data_dir
        self.jobs: list[JobRow] = []
        """The jobs as last read (for the app and tests; `rows` is the DataTable's)."""
        self.runner: RunnerInfo | None = None
        """The queue runner as last read (executor, address, alive)."""
        self.search: SearchStatus | None = None
        """The search shown below the jobs, as last read, or None."""
        #: Search folders started from here or seen running: shown after they end too.
        self.watched: set[Path] = set()
        self._search_changed = False

    @property
    def states(self) -> dict[str, str]:
        """Each shown job's state, by id."""
        return {row.id: row.state for row in self.jobs}

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)
        self._update_title()
        self.reload()
        self.set_interval(self.INTERVAL, self.reload)

    # -- reading the files --------------------------------------------------------------

    def reload(self) -> None:
        """Read the queue's files again (in a worker thread)."""
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue-read")
    def _read(self) -> tuple[list[JobRow], RunnerInfo, SearchStatus | None]:
        search = read_search(self.runs_dir, set(self.watched))
        return read_queue(self.runs_dir), read_runner(self.runs_dir), search

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker: Worker[Any] = event.worker
        if worker.group == "queue-read":
            event.stop()
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                rows, runner, search = worker.result
                self.set_search(runner, search)
                self.set_rows(rows)
        elif worker.group == "queue-act":
            event.stop()
            if event.state == WorkerState.ERROR:
                self.notify(str(worker.error), severity="warning")
            if worker.is_finished:
                self.reload()

    def set_search(self, runner: RunnerInfo | None, search: SearchStatus | None) -> None:
        """Take the runner and search as read (shown at the next redraw, if they changed)."""
        if search is not None and search.running:
            self.watched.add(search.folder.absolute())
        self._search_changed = (runner, search) != (self.runner, self.search)
        self.runner, self.search = runner, search

    @property
    def showing_search(self) -> bool:
        """Whether a search's trials are shown (the app keeps the view open for them)."""
        return self.search is not None

    def set_rows(self, rows: list[JobRow]) -> None:
        """Show exactly `rows` (and the search), keeping the selected job; say so up."""
        changed = rows != self.jobs or self._search_changed
        self._search_changed = False
        self.jobs = rows
        if changed:
            self._redraw()
        self.post_message(self.JobsChanged(rows))

    def _selected_key(self) -> str | None:
        """The row key under the cursor: a job's id or a trial's key."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def _redraw(self) -> None:
        selected = self._selected_key()
        self.clear()
        columns = varying(self.jobs)
        for row in self.jobs:
            shown = " ".join(
                f"{n}={row.config[n]:g}"
                if isinstance(row.config[n], float)
                else f"{n}={row.config[n]}"
                for n in columns
            )
            state = Text(row.state, style=STATE_STYLES.get(row.state, ""))
            cells = [row.id, shown or row.summary, state, row.epoch, row.val, row.test, row.run]
            self.add_row(*cells, key=row.id)
        for trial in self.search.trials if self.search is not None else []:
            cells = trial_cells(trial)
            state = Text(trial.state, style=TRIAL_STYLES.get(trial.state, ""))
            self.add_row(*cells[:2], state, *cells[3:], key=f"{TRIAL_KEY}{trial.number}")
        ids = [row.id for row in self.jobs]
        ids += [f"{TRIAL_KEY}{t.number}" for t in (self.search.trials if self.search else [])]
        if selected in ids:
            self.move_cursor(row=ids.index(selected))
        self._update_title()

    @property
    def selected_job_id(self) -> str | None:
        """The id of the job under the cursor, or None for an empty queue."""
        key = self._selected_key()
        if key is None or key.startswith(TRIAL_KEY):
            return None  # a search's trial: the controller's, not the queue's
        return key

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.jobs:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def words(self) -> str:
        """``queue 2/4`` (jobs started or ended / all but cancelled) while jobs wait or run."""
        counts = self.counts()
        if not any(counts.get(state) for state in ACTIVE_STATES):
            return ""
        total = sum(counts.values()) - counts.get("cancelled", 0)
        return f"queue {total - counts.get('waiting', 0)}/{total}"

    # -- the keys: they act on the files ---------------------------------------------------

    def action_cancel_job(self) -> None:
        """Cancel the job under the cursor: a waiting one is dropped, a running one stopped."""
        from mlp_core.jobqueue import cancel_job

        job_id = self.selected_job_id
        if job_id is not None:
            self._act(cancel_job, job_id)

    def action_remove_job(self) -> None:
        """Take the job under the cursor off the queue."""
        from mlp_core.jobqueue import remove_job

        job_id = self.selected_job_id
        if job_id is not None:
            self._act(remove_job, job_id)

    def action_clear_jobs(self) -> None:
        """Take the jobs that ended (finished, failed, cancelled...) off the queue."""
        from mlp_core.jobqueue import clear_ended

        self._act(lambda runs_dir, _: clear_ended(runs_dir), "")

    def action_run_queue(self) -> None:
        self.post_message(self.RunRequested())

    def add(self, configs: list[TrainConfig], devices: list[str]) -> None:
        """Queue a job for each config (its file in the queue folder), show the queue, and
        start a runner on `devices` to run them."""
        from mlp_core.jobqueue import enqueue

        jobs = enqueue(self.runs_dir, configs)
        self.notify(f"{len(jobs)} job(s) queued")
        self.display = True
        self.start_runner(devices)

    @work(thread=True, exit_on_error=False, group="runner")
    def start_runner(self, devices: list[str]) -> None:
        """Start the queue runner (a process of its own, `mlp_core.jobqueue`) unless one
        holds the queue already; it exits when the queue is empty."""
        from mlp_core.jobqueue import ensure_runner

        ensure_runner(self.runs_dir, devices, data_dir=self.data_dir)
        self.app.call_from_thread(self.reload)

    def action_search(self) -> None:
        """Open the Search screen; a search started there is shown here as it runs."""
        from tui.screens.search import SearchScreen

        data_dir = self.data_dir or getattr(self.app, "data_dir", None)

        def started(folder: Path | None) -> None:
            if folder is not None:
                self.watched.add(folder.absolute())
                self.notify(f"search started: {folder.name}", title="Search")
                self.reload()

        self.app.push_screen(SearchScreen(self.runs_dir, data_dir), started)

    @work(thread=True, exit_on_error=False, group="queue-act")
    def _act(self, operation: Any, job_id: str) -> None:
        """A queue operation off the UI thread (cancelling a running job stops its run)."""
        operation(self.runs_dir, job_id)

    def _update_title(self) -> None:
        counts = self.counts()
        order = [*STATE_STYLES, *(state for state in counts if state not in STATE_STYLES)]
        parts = [f"{counts[state]} {state}" for state in order if counts.get(state)]
        title = f"queue: {', '.join(parts) if parts else 'empty'}"
        if self.runner is not None:
            title += f" · {runner_words(self.runner)}"
        if self.search is not None:
            title += f" · {search_words(self.search)}"
            lines = [best_words(self.search), importance_words(self.search)]
            self.border_subtitle = " · ".join(line for line in lines if line)
            self.styles.border_bottom = ("solid", self.styles.border_top[1])
        elif self.border_subtitle:
            self.border_subtitle = ""
            self.styles.border_bottom = None
        self.border_title = title
