"""The app's queue: add the form's config or grid, run the jobs one after another in the torch
thread (side by side on several devices), show them, cancel or remove them.

A mixin of `MnistApp`. Each job is an ordinary run (`mlp_core.sweep.Sweep` over a `JobQueue`):
it appears in the checkpoint panel and its epochs show live in the charts, table and progress
bar like any run, through the same messages (`tui.worker.pump_sweep`). A failed or diverged
job is marked in the queue view and the queue goes on. Jobs added while the queue runs are
picked up; after it ends, adding more (ctrl+g) or `s` in the queue view runs it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from mlp_core.config import ConfigError, TrainConfig
from tui.widgets.config_form import ConfigForm
from tui.widgets.epoch_progress import EpochProgress as EpochProgressBar
from tui.widgets.queue import QueueView
from tui.worker import pump_sweep, run_in_torch_thread

if TYPE_CHECKING:
    from mlp_core.sweep import JobQueue, Sweep, SweepEvent
    from tui.app import MnistApp


class QueueActions:
    """The queue's actions and the sweep's messages (mixed into MnistApp)."""

    #: The sweep running the queue now, or None.
    sweep: Sweep | None = None
    #: Devices chosen for the queue (a device list in the form), or None: each job's own.
    queue_devices: list[str] | None = None
    #: Jobs were queued during a single run: the queue runs when that run ends.
    queue_after_run = False

    def _job_queue(self: MnistApp) -> JobQueue:
        if self.job_queue is None:
            from mlp_core.sweep import JobQueue

            self.job_queue = JobQueue()
        return self.job_queue

    def _queue_view(self: MnistApp) -> QueueView:
        return self.query_one(QueueView)

    # -- adding ---------------------------------------------------------------------------

    def action_queue(self: MnistApp) -> None:
        """Queue the form's config, or every combination of its comma lists (asked first)."""
        from tui.screens.confirm import ConfirmScreen

        if self.backend is None or self.backend.dataset is None:
            self.action_start()  # says why not
            return
        if self.start_from is not None:
            self.notify(
                "Queued jobs start from scratch: Escape in the form leaves fork/resume first.",
                severity="warning",
            )
            return
        form = self.query_one(ConfigForm)
        try:
            configs = form.grid_configs()
        except ConfigError as exc:
            self.notify(str(exc), title="Cannot queue", severity="error")
            self.show_form = True
            return
        devices = form.devices()
        if len(configs) == 1:
            self._enqueue(configs, devices)
            return
        lists = " × ".join(
            f"{name} {','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in values)}"
            for name, values in form.grid().items()
        )
        where = f" on {', '.join(devices)}" if devices else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self._enqueue(configs, devices)

        self.push_screen(
            ConfirmScreen(
                f"{len(configs)} runs: {lists}{where}. Each is a run of its own.",
                title=f"Queue a grid of {len(configs)} runs?",
                yes_label=f"Queue {len(configs)}",
            ),
            answered,
        )

    def _enqueue(self: MnistApp, configs: list[TrainConfig], devices: list[str] | None) -> None:
        queue = self._job_queue()
        queue.add_many(configs)
        if devices is not None or self.sweep is None:
            self.queue_devices = devices
        self._refresh_queue(show=True)
        self.notify(f"{len(configs)} job(s) queued; {queue.counts()['waiting']} waiting")
        if self.sweep is None and not self.is_training:
            self.action_run_queue()
        elif self.sweep is None:
            self.queue_after_run = True
            self.notify("The queue runs when the current run ends.")

    # -- running --------------------------------------------------------------------------

    def action_run_queue(self: MnistApp) -> None:
        """Run the waiting jobs, one after another (one per device with a device list)."""
        from mlp_core.sweep import Sweep

        queue = self._job_queue()
        if self.sweep is not None:
            self.notify("The queue is running; jobs added are picked up.")
            return
        if self.is_training:
            self.notify("A run is in progress: the queue runs when it ends.")
            return
        if self.backend is None or self.backend.dataset is None:
            self.action_start()
            return
        if not queue.counts()["waiting"]:
            self.notify("No job is waiting: ctrl+g queues the form's config.")
            return
        try:
            sweep = Sweep(
                queue,
                runs_dir=self.runs_dir,
                dataset=self.backend.dataset,
                devices=self.queue_devices,
                progress_interval=self.progress_interval,
            )
        except ConfigError as exc:
            self.notify(str(exc), title="Cannot run the queue", severity="error")
            return
        self.sweep = sweep
        self._stop_requested.clear()
        self._training_done.clear()
        self.run_state = "queue starting"
        self.query_one(ConfigForm).set_training(True, lock=False)
        self._show_history([])
        self.query_one(EpochProgressBar).reset("queue starting…")
        self._refresh_queue(show=True)
        self._training_worker = self._run_sweep(sweep)

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _run_sweep(self: MnistApp, sweep: Sweep) -> None:
        worker = get_current_worker()
        run_in_torch_thread(pump_sweep, sweep, self.post_message, lambda: worker.is_cancelled)

    def _sweep_event(self: MnistApp, event: SweepEvent) -> None:
        """A sweep event (on the UI thread): the queue view, and a word on jobs that end."""
        from mlp_core.sweep import JobFinished, SweepFinished, SweepStarted

        self._queue_view().apply_event(event)
        if isinstance(event, SweepStarted):
            self._status(f"queue: {event.total} job(s) · results in {event.sweep_dir}")
        elif isinstance(event, JobFinished):
            self._refresh_queue()
            if event.status in ("failed", "diverged"):
                self.notify(
                    f"{event.run_name or 'the run'}: {event.error}; the queue goes on",
                    title=f"Job {event.job_id} {event.status}",
                    severity="error",
                    timeout=10,
                )
        elif isinstance(event, SweepFinished):
            counts = ", ".join(f"{n} {state}" for state, n in event.counts.items() if n)
            self.notify(f"{counts} · table in {event.results_md}", title="Queue ended", timeout=10)
            self._status(f"queue ended: {counts} · results in {event.sweep_dir}")

    def _sweep_over(self: MnistApp) -> None:
        """The sweep's worker ended (finished, stopped or failed)."""
        self.sweep = None
        self._refresh_queue()

    # -- the view -------------------------------------------------------------------------

    def _refresh_queue(self: MnistApp, show: bool = False) -> None:
        view = self._queue_view()
        jobs = self._job_queue().jobs()
        view.set_jobs(jobs)
        if show or not jobs:
            view.display = bool(jobs)

    def action_toggle_queue(self: MnistApp) -> None:
        """Show (and focus) the queue, or hide it when it has the focus."""
        view = self._queue_view()
        if view.display and not view.has_focus:
            view.focus()
        elif view.display:
            view.display = False
        else:
            view.display = True
            view.focus()

    def action_clear_jobs(self: MnistApp) -> None:
        """Take the jobs that ended (done, failed, diverged, cancelled) off the queue."""
        from mlp_core.sweep import FINAL_STATES

        queue = self._job_queue()
        for job in queue.jobs():
            if job.state in FINAL_STATES:
                queue.remove(job.id)
        self._refresh_queue()

    def _cancel_job(self: MnistApp, job_id: int) -> None:
        self._queue_op(job_id, cancel=True)

    def _remove_job(self: MnistApp, job_id: int) -> None:
        self._queue_op(job_id, cancel=False)

    def _queue_op(self: MnistApp, job_id: int, cancel: bool) -> None:
        from mlp_core.sweep import QueueError

        queue = self._job_queue()
        try:
            queue.cancel(job_id) if cancel else queue.remove(job_id)
        except QueueError as exc:
            self.notify(str(exc), severity="warning")
            return
        self._refresh_queue()

    def queue_words(self: MnistApp) -> str:
        """``queue 2/4`` for the header while a sweep runs, else ""."""
        if self.sweep is None or self.job_queue is None:
            return ""
        counts: dict[str, Any] = self.job_queue.counts()
        total = sum(counts.values()) - counts["cancelled"]
        ended = counts["done"] + counts["failed"] + counts["diverged"]
        return f"queue {ended + counts['running']}/{total}"
