"""The mnist-tui app: set hyperparameters, start runs, watch them, browse what was saved.

The app trains nothing itself. A run is a process of its own (`mlp_core.runproc.launch_run`,
detached: it outlives the app and a dropped terminal), and the app is a viewer and controller
of run folders: a thread worker follows the run on screen with `RunFollower.poll()` (4 times a
second) and posts what it finds as the app's messages (`tui.messages`), so a run this app
started, one the queue runner started and one another app instance started are all shown the
same way, replayed from their folder and then live. Stop writes the run's STOP file
(`stop_run`); quitting with live runs asks whether to leave them running.

Importing this module does not import torch: the first screen is drawn first, and torch and the
data set (for the form's checks, the digits and the evaluation screens) load behind it in a
daemon thread (`tui.worker.load_backend`, posted back as a `BackendLoaded` message).

What is global lives here: the layout, start, follow, stop, quit, and what takes several
widgets (a fork fills the form; marked runs overlay the charts); what a run's messages mean for
the app (the header's state, the form's lock, toasts, the queue) is here too, and the run itself
is drawn by `tui.widgets.run_view.RunView`. The widgets own their actions and post messages up:
the checkpoint panel acts on what its cursor is on (evaluate, the look
inside screens, label, CSV, delete; `CheckpointPanel.ContinueFrom` and `Deleted` come up), the
form keeps what Start continues from (`tui.widgets.start_from`), the queue view acts on the
queue's files (`tui.widgets.queue`). The palette offers a widget's action by its name
(`panel.evaluate` in `tui.keys.PALETTE_COMMANDS`).

Extension points:
- `MnistApp.selected_run` / `selected_checkpoint`: what the checkpoint panel's cursor is on.
- `MnistApp.KEYS` (`tui.keys.APP_KEYS`) and `MnistApp.EXTRA_COMMANDS`: the app's keys and
  palette-only commands.
- `MnistApp.start_training(config, start=None)` launches a run; `MnistApp.follow(run_path)`
  shows any run folder, live or not.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, get_current_worker

from mlp_core.config import PRESETS, ConfigError, TrainConfig
from tui import user_config
from tui.compositor import RowBandCompositor
from tui.keys import APP_KEYS, PALETTE_COMMANDS, PLAIN_KEYS
from tui.messages import (
    BackendLoaded,
    CheckpointWritten,
    EpochCompleted,
    EpochProgress,
    Launched,
    RunBegan,
    RunDiverged,
    RunEnded,
    RunFailed,
    RunGone,
    Stopped,
)
from tui.screens.event_log import EventLog
from tui.widgets.app_header import AppHeader
from tui.widgets.charts import AccuracyChart, LossChart, MetricChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm
from tui.widgets.queue import QueueView
from tui.widgets.results import ResultsTable
from tui.widgets.run_labels import legend_names
from tui.widgets.run_view import RunView
from tui.widgets.system_monitor import SystemMonitor
from tui.worker import Backend, follow_run, load_backend

if TYPE_CHECKING:
    from data.mnist import Dataset

#: Below this width the form and the checkpoint panel take turns beside the charts.
NARROW_WIDTH = 120

#: Below this height the queue view keeps to a few rows (the charts and table keep theirs).
SHORT_HEIGHT = 40

#: The widgets whose actions the palette offers by name (`panel.evaluate`).
PALETTE_TARGETS: dict[str, type[Widget]] = {
    "panel": CheckpointPanel,
    "queue": QueueView,
    "form": ConfigForm,
}


Handler = TypeVar("Handler", bound=Callable[..., None])


def _while_running(handler: Handler) -> Handler:
    """A worker's message can arrive after the app has begun to exit (a run's last events,
    the worker's end): its widgets are gone then, so such a message is dropped."""

    @functools.wraps(handler)
    def guarded(self: App[None], *args: Any) -> None:
        if self.is_running:
            handler(self, *args)

    return guarded  # type: ignore[return-value]


def _shown(widget: Widget) -> bool:
    """Whether the widget and every container above it are displayed."""
    return all(getattr(node, "display", True) for node in widget.ancestors_with_self)


def _freeze_what_start_made() -> None:
    """Leave the objects made at start (torch's, Textual's, the data set's: about 270,000) out
    of every later garbage collection.

    Python's full collection walks every tracked object; with torch imported one took about
    140 ms of the UI thread, every few seconds while a run is followed (the app makes many
    short-lived objects drawing it), and on a machine whose every core trains that time is
    taken from the run. Collected once, then frozen (`gc.freeze`), the start-up objects are
    never walked again; what the app makes later is collected as usual.
    """
    gc.collect()
    gc.freeze()


class MainScreen(Screen[None]):
    """The app's own screen (under any modal one): it re-lays the app out when the terminal is
    resized. The app's own Resize handler runs before the app knows its new size; a screen's
    runs after, and background screens get it too, so a resize under a modal is not lost.

    Its compositor repaints a partial update's rows only (tui/compositor.py): what the app
    repaints while it follows a run, it takes from the cores the run trains on."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._compositor = RowBandCompositor()

    def on_resize(self, event: events.Resize) -> None:
        app = self.app
        if isinstance(app, MnistApp):
            app.adapt_layout(event.size.width)

    def on_screen_resume(self) -> None:
        """A dialog closed: the focus goes back where it was, or somewhere useful."""
        app = self.app
        if isinstance(app, MnistApp):
            self.call_after_refresh(app.keep_focus)


class MnistApp(App[None]):
    """Form on the left, charts, progress and results in the centre, checkpoints on the right."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"

    #: Every key of the app, in one place: the Footer shows them, the palette offers them.
    KEYS: ClassVar[list[Binding]] = APP_KEYS
    BINDINGS: ClassVar[list[BindingType]] = [
        dataclasses.replace(key, priority=True) for key in APP_KEYS
    ] + list(PLAIN_KEYS)
    #: Palette-only commands: (title, help, action).
    EXTRA_COMMANDS: ClassVar[list[tuple[str, str, str]]] = PALETTE_COMMANDS

    # The App's state is `var`, not `reactive`: a reactive of the App repaints the whole
    # screen when it changes (App.refresh), and run_state and sub_title change with every
    # epoch of a run the app follows. The watchers repaint what shows them (AppHeader is one
    # line); a full repaint of a 160x48 screen four times a second took CPU from the run.
    sub_title: var[str] = var("")
    #: Shown in the header: idle, loading, training 3/10, stopping, finished, failed (...).
    run_state: var[str] = var("loading")
    device_label: var[str] = var("device: loading")
    #: The run and checkpoint under the checkpoint panel's cursor (for screens to act on).
    selected_run: var[Path | None] = var(None)
    selected_checkpoint: var[Path | None] = var(None)
    show_panel: var[bool] = var(True)
    show_form: var[bool] = var(True)

    def __init__(
        self,
        runs_dir: Path,
        data_dir: Path | None = None,
        device: str = "auto",
        *,
        dataset: Dataset | None = None,
        watch_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.device = device
        #: Seconds between two looks of the panel at the runs folder (a death shows by then).
        self.watch_interval = watch_interval
        self._given_dataset = dataset
        self.backend: Backend | None = None
        #: The folder of the run followed on screen (live or ended), or None.
        self.live_run: Path | None = None
        #: The followed run has not ended yet (its end event not seen).
        self._followed_live = False
        #: A run is being launched (the form is locked until it shows or fails).
        self._launching = False
        self._follow_worker: Worker[None] | None = None
        #: Set to cut the follow worker's wait short (a cancel then takes effect at once).
        self._wake = threading.Event()
        #: The queue was started here: its running jobs are followed one after another.
        self._follow_queue = False
        #: Queue jobs' runs already put on screen (each is followed once).
        self._jobs_followed: set[Path] = set()
        self._queue_seen = False
        #: Devices chosen for the queue (a device list in the form), or None: the form's.
        self.queue_devices: list[str] | None = None
        self._was_narrow = False
        self._status_text = ""
        self._grid_shown = False
        #: The latest run was put on screen after the first scan (once).
        self._latest_shown = False
        self._noted: str | None = None
        #: Every message of the session (toasts are few and short; the log keeps them all).
        self.event_log = EventLog()
        #: What is remembered between launches (form, charts, panel), never in the runs folder.
        self.user_config, self._config_note = user_config.load()
        self._config_saved_at = 0.0
        try:
            self.initial_config = dataclasses.replace(PRESETS["default"], device=device)
        except ConfigError:
            self.initial_config = PRESETS["default"]
        remembered, _refused = self.user_config.form_config(self.initial_config)
        # The device is the command line's (--device), never a remembered one.
        self.initial_config = dataclasses.replace(remembered, device=self.initial_config.device)

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with Horizontal(id="main"):
            yield ConfigForm(self.initial_config, id="form")
            with Vertical(id="centre"):
                yield RunView(id="run-view")
                yield QueueView(self.runs_dir, data_dir=self.data_dir, id="queue")
            yield CheckpointPanel(self.runs_dir, self.data_dir, self.device, id="panel")
        with Horizontal(id="status-line"):
            yield Static("Loading torch and the data set in the background…", id="status")
            yield SystemMonitor(id="monitor")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(QueueView).display = False
        for chart in self.query(MetricChart):
            chart.apply_choices(*self.user_config.chart(chart.id or ""))
        if self._config_note:
            self.notify(self._config_note, title="Settings", severity="warning")
        self.show_panel = self.size.width >= NARROW_WIDTH
        if self.size.width >= NARROW_WIDTH:  # both fit: as they were left last time
            self.show_panel = self.user_config.panel.get("show_panel") is not False
            self.show_form = self.user_config.panel.get("show_form") is not False
        self._was_narrow = self.size.width < NARROW_WIDTH
        self._apply_layout()
        self._update_header()
        if self.initial_config.device != self.device:
            self.notify(
                f"device {self.device!r}: must be auto, cpu, cuda or cuda:N", severity="error"
            )
        self._load()

    # -- loading behind the first screen --------------------------------------------------

    def _load(self) -> None:
        """Load torch and the data set in a daemon thread, not a Textual worker: the app's exit
        waits for its workers, and an import of torch cannot be interrupted. Quitting while
        it loads then exits at once; the thread is abandoned."""
        thread = threading.Thread(target=self._load_in_thread, name="loading", daemon=True)
        thread.start()

    def _load_in_thread(self) -> None:
        started = time.perf_counter()
        try:
            backend = load_backend(self.data_dir, self.device, self._given_dataset)
        except Exception as exc:  # whatever it is, the app must say it and go on
            reason = f"loading failed: {type(exc).__name__}: {exc}"
            backend = Backend(None, reason, None, None, time.perf_counter() - started)
        self.post_message(BackendLoaded(backend))

    @on(BackendLoaded)
    @_while_running
    def _backend_loaded(self, message: BackendLoaded) -> None:
        self._loaded(message.backend)

    def _loaded(self, backend: Backend) -> None:
        self.backend = backend
        _freeze_what_start_made()
        self.device_label = backend.device_label or "device unavailable"
        panel = self.query_one(CheckpointPanel)
        panel.dataset = backend.dataset
        panel.start_watching(self.watch_interval)
        if backend.device_error:
            self.notify(backend.device_error, title="Device", severity="error", timeout=10)
        dataset = backend.dataset
        if dataset is None:
            self.run_state = "no data"
            self._status(f"Data set not loaded: {backend.dataset_error}")
            self.notify(backend.dataset_error or "", title="Data set", severity="error", timeout=15)
            return
        form = self.query_one(ConfigForm)
        form.train_size = len(dataset.train_labels)
        form.cpu_only = not backend.cuda
        form.revalidate()
        self.run_state = "ready"
        self._status(
            f"{dataset.name}: {len(dataset.train_labels)} train / {len(dataset.test_labels)} test "
            f"images · runs in {self.runs_dir} · loaded in {backend.seconds:.1f}s"
        )
        if dataset.note:
            self._noted = dataset.note
            self.notify(dataset.note, title="Data set", severity="warning", timeout=10)
        if backend.logind_warning:
            self.notify(backend.logind_warning, title="Runs and logout", severity="warning")

    # -- starting, following, stopping ----------------------------------------------------

    @property
    def is_training(self) -> bool:
        """Whether the run on screen is live (or being launched): the form is locked then."""
        return self._launching or self._followed_live

    def action_start(self) -> None:
        """Start a run with the form's config, if everything is ready and valid."""
        if self.is_training:
            self.notify("A run is in progress: stop it first (ctrl+s).", severity="warning")
            return
        if self.backend is None:
            self.notify("Still loading torch and the data set; try again in a moment.")
            return
        if self.backend.dataset is None:
            self.notify(f"No data set: {self.backend.dataset_error}", severity="error")
            return
        form = self.query_one(ConfigForm)
        if not form.revalidate():
            name, reason = next(iter(form.problems().items()))
            self.notify(f"{name} {reason}", title="Cannot start", severity="error")
            self.show_form = True
            form.field(name).focus()
            return
        try:
            config = form.config()
        except ConfigError as exc:
            self.notify(str(exc), title="Cannot start", severity="error")
            return
        start = form.take_start_from()
        if start is None:
            self.start_training(config)
        else:
            self.start_training(config, start=start.checkpoint, fork=start.forking)

    def start_training(
        self, config: TrainConfig, start: Path | None = None, fork: bool = False
    ) -> None:
        """Launch a run process for `config` (from the checkpoint file `start`, to resume or
        fork; `fork`: a new run even where it could resume in place) and follow it. The
        launch waits for the child to hold its folder, so it is done
        in a worker; a run that cannot start (checkpoint, data set, device) says why."""
        self._launching = True
        self.run_state = "starting"
        self.query_one(ConfigForm).set_training(True)
        self.query_one(RunView).reset("starting the run process…")
        self.call_after_refresh(self.keep_focus)
        self._launch(config, start, fork)

    @work(thread=True, exit_on_error=False, group="launch")
    def _launch(self, config: TrainConfig, start: Path | None, fork: bool) -> None:
        from mlp_core.runproc import LaunchError, launch_run

        try:
            run_path = launch_run(
                self.runs_dir, config, data_dir=self.data_dir, start=start, fork=fork
            )
        except LaunchError as exc:
            self.post_message(RunFailed("launch", str(exc), None))
            return
        self.post_message(Launched(run_path))

    @on(Launched)
    @_while_running
    def _launched(self, message: Launched) -> None:
        self._launching = False
        self.follow(message.run_path)

    def follow(self, run_path: Path, lock: bool = True) -> None:
        """Show the run in `run_path` as it trains: what its folder holds first (curves,
        table), then what its process adds (epochs, the progress bar, checkpoints, its end).
        The same for a run this app launched, one the queue runner launched, or one started
        by another app instance. `lock` False leaves the form open (to queue more while a
        queue job is followed)."""
        self._stop_following()
        self.live_run = run_path
        self._followed_live = True
        self.run_state = "following"
        self.query_one(ConfigForm).set_training(True, lock=lock)
        self.query_one(RunView).reset(f"{run_path.name}: reading…")
        self.query_one(CheckpointPanel).mark_live(run_path)
        self._wake = threading.Event()
        self._follow_worker = self._follow(run_path, self._wake)
        self.call_after_refresh(self.keep_focus)

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow")
    def _follow(self, run_path: Path, wake: threading.Event) -> None:
        worker = get_current_worker()
        follow_run(run_path, self.post_message, lambda: worker.is_cancelled, wake=wake)

    def _stop_following(self) -> None:
        """Stop reading the followed run (the run itself goes on)."""
        if self._follow_worker is not None:
            self._follow_worker.cancel()
            self._wake.set()
            self._follow_worker = None
        if self._followed_live:
            self._followed_live = False
            self.query_one(ConfigForm).set_training(False)
        self.live_run = None
        self.query_one(CheckpointPanel).mark_live(None)

    def _run_over(self) -> None:
        """The followed run ended (its end event): the form is free again."""
        self._followed_live = False
        self.query_one(ConfigForm).set_training(False)
        self.query_one(CheckpointPanel).mark_live(None)
        self._update_header()
        self.call_after_refresh(self.keep_focus)

    def action_stop(self) -> None:
        """Stop the followed run (through its STOP file; it ends after its batch), or, with
        the followed run a queue job or none followed, the queue's running jobs."""
        queue = self.query_one(QueueView)
        queued = {row.run_dir for row in queue.jobs if row.state == "running" and row.run_dir}
        if self.live_run is not None and self._followed_live and self.live_run not in queued:
            self.run_state = "stopping"
            self._stop_runs([self.live_run], queue=False)
        elif queued or queue.words():
            self._follow_queue = False
            self.run_state = "stopping"
            self._stop_runs(sorted(queued), queue=True)
        elif self._launching:
            self.notify("The run is starting; stop it once it shows.")
        else:
            self.notify("No run to stop.")

    @work(thread=True, exit_on_error=False, group="stop")
    def _stop_runs(self, runs: list[Path], queue: bool, wait: bool = True) -> None:
        """stop_run each run (waiting for it, off the UI thread); with `queue`, the runner
        launches no more."""
        from mlp_core.jobqueue import stop_queue
        from mlp_core.runproc import stop_run

        if queue:  # the runner launches nothing more; its running jobs get their STOP file
            stop_queue(self.runs_dir)
        for run in runs:
            status = stop_run(run, wait=wait)
            self.post_message(Stopped(run, status))

    @on(Stopped)
    @_while_running
    def _stopped(self, message: Stopped) -> None:
        if message.status == "interrupted":  # it was already dead: say so, never silently
            self.notify(f"{message.run_path.name} had died: marked interrupted.")
        self.query_one(CheckpointPanel).rescan()

    def live_runs(self) -> list[Path]:
        """Every run the panel last judged running, and the followed one while it is live."""
        runs = [e.path for e in self.query_one(CheckpointPanel).runs if e.status == "running"]
        if self.live_run is not None and not self._followed_live:  # its end was seen: the
            runs = [run for run in runs if run != self.live_run]  # panel's scan may be older
        if self.live_run is not None and self._followed_live and self.live_run not in runs:
            runs.append(self.live_run)
        return runs

    async def action_quit(self) -> None:
        """Quit. With runs training, ask: leave them running (the default) or stop them."""
        from tui.screens.quit_live import QuitLiveScreen

        live = self.live_runs()
        queue_active = bool(self.query_one(QueueView).words())
        if not live and not queue_active:
            self._leave()
            return

        def answered(answer: str | None) -> None:
            if answer == "stop":
                from mlp_core.jobqueue import stop_queue
                from mlp_core.runproc import stop_run

                if queue_active:
                    stop_queue(self.runs_dir)
                for run in live:
                    stop_run(run, wait=False)  # STOP files: the runs end after their batch
            if answer is not None:
                self._leave()

        self.push_screen(QuitLiveScreen([p.name for p in live], queue_active), answered)

    def _leave(self) -> None:
        self._remember_form()
        if self.size.width >= NARROW_WIDTH:  # narrower, the layout chose (they take turns)
            self.user_config.panel.update(show_panel=self.show_panel, show_form=self.show_form)
        self.save_settings(force=True)
        if self._follow_worker is not None:
            self._follow_worker.cancel()
            self._wake.set()
        self.exit()

    # -- a run's messages -----------------------------------------------------------------

    @on(RunBegan)
    @_while_running
    def _run_began(self, message: RunBegan) -> None:
        event = message.event
        self.run_state = f"training {event.start_epoch}/{event.epochs}"
        # The follower replays the run's metrics.jsonl from its start: the table and curves
        # fill from the epoch messages that follow, a resumed run's earlier epochs included.
        self.query_one(RunView).began(event)
        sizes = f"{event.train_size} train / {event.val_size} val / {event.test_size} test"
        self._status(f"run {event.run_name} · {event.dataset} {sizes} · {event.device}")
        device = str(event.device)
        monitor = self.query_one(SystemMonitor)
        monitor.gpu_index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
        if event.note and event.note != self._noted:  # once, not for every run of a queue
            self._noted = event.note
            self.notify(event.note, title="Data set", severity="warning")

    @on(EpochProgress)
    @_while_running
    def _progress(self, message: EpochProgress) -> None:
        event = message.event
        view = self.query_one(RunView)
        view.progress(event)
        if self.run_state != "stopping":
            self.run_state = f"training {event.epoch}/{view.epochs}"

    @on(EpochCompleted)
    @_while_running
    def _epoch_completed(self, message: EpochCompleted) -> None:
        event = message.event
        view = self.query_one(RunView)
        view.epoch_completed(event)
        if self.live_run in self.compared:
            self._show_compare()
        if self.run_state != "stopping":
            self.run_state = f"training {event.epoch}/{view.epochs}"

    @on(CheckpointWritten)
    @_while_running
    def _checkpoint_written(self, message: CheckpointWritten) -> None:
        event = message.event
        path = Path(event.path)
        row = self.query_one(RunView).row_of(event.epoch)
        panel = self.query_one(CheckpointPanel)
        panel.checkpoint_written(path.parent.parent, path, event.kind, event.epoch, row)

    @on(RunEnded)
    @_while_running
    def _run_ended(self, message: RunEnded) -> None:
        event = message.event
        self.run_state = event.status
        # The best epoch first: at 80 columns the end of the line is cut.
        summary = f"{event.status} after {event.epochs_done} epoch(s) in {event.seconds:.1f}s"
        if event.best_epoch is not None:
            best = f"best epoch {event.best_epoch}"
            if event.best_val_accuracy is not None:
                best += f": val {100 * event.best_val_accuracy:.2f}%"
            if event.test_accuracy_at_best is not None:
                best += f", test {100 * event.test_accuracy_at_best:.2f}%"
            summary = f"{best} · {summary}"
        self.query_one(RunView).ended(summary)
        if not self._follow_queue:  # a queue's jobs are followed in the queue view instead
            self.notify(summary, title=f"Run {event.status}")
        self._run_over()
        self._follow_next_job()

    @on(RunDiverged)
    @_while_running
    def _run_diverged(self, message: RunDiverged) -> None:
        event = message.event
        self.run_state = "diverged"
        kept = (
            f" Last good checkpoint: {event.last_good_checkpoint}"
            if event.last_good_checkpoint
            else ""
        )
        self.query_one(RunView).ended(f"diverged: {event.reason}")
        self.notify(f"{event.reason}.{kept}", title="Run diverged", severity="error", timeout=15)
        self._run_over()
        self._follow_next_job()

    @on(RunGone)
    @_while_running
    def _run_gone(self, message: RunGone) -> None:
        """The run process died (interrupted), failed, or its host went quiet (lost)."""
        event = message.event
        status, reason = getattr(event, "status", "ended"), getattr(event, "reason", "")
        self.run_state = status
        self.query_one(RunView).ended(f"{status}: {reason}" if reason else status)
        severity = "warning" if status in ("interrupted", "lost") else "error"
        self.notify(reason or status, title=f"Run {status}", severity=severity, timeout=15)
        self._run_over()
        self._follow_next_job()

    @on(RunFailed)
    @_while_running
    def _run_failed(self, message: RunFailed) -> None:
        self._launching = False
        self.run_state = f"failed ({message.kind})"
        self.query_one(ConfigForm).set_training(False)
        self.query_one(RunView).ended(f"failed: {message.text}")
        self.notify(message.text, title=f"Run failed: {message.kind}", severity="error", timeout=15)

    # -- the queue ------------------------------------------------------------------------

    def action_queue(self) -> None:
        """Queue the form's config, or every combination of its comma lists (asked first)."""
        from tui.screens.confirm import ConfirmScreen

        if self.backend is None or self.backend.dataset is None:
            self.action_start()  # says why not
            return
        form = self.query_one(ConfigForm)
        if form.start_from is not None:
            self.notify(
                "Queued jobs start from scratch: Escape in the form leaves fork/resume first.",
                severity="warning",
            )
            return
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

    def _enqueue(self, configs: list[TrainConfig], devices: list[str] | None) -> None:
        """Queue the jobs and follow them here as they run."""
        if devices is not None:
            self.queue_devices = devices
        self._follow_queue = True
        self.query_one(QueueView).add(configs, self._queue_devices())

    @on(QueueView.RunRequested)
    def action_run_queue(self) -> None:
        """Start the queue runner (a process of its own) if jobs wait and none runs."""
        self._follow_queue = True
        self.query_one(QueueView).start_runner(self._queue_devices())

    def _queue_devices(self) -> list[str]:
        """The devices the form listed for the queue, else the form's one device (each job
        also names its own)."""
        if self.queue_devices:
            return self.queue_devices
        return [str(self.query_one(ConfigForm).raw_values().get("device") or "auto")]

    @on(QueueView.JobsChanged)
    @_while_running
    def _jobs_changed(self, message: QueueView.JobsChanged) -> None:
        view = self.query_one(QueueView)
        shown = bool(message.jobs) or view.showing_search  # p2-search: a search's trials too
        if shown and not self._queue_seen:  # a reopened app shows the queue as it is
            self._queue_seen = True
            view.display = True
        elif not shown:  # cleared, here or elsewhere: out of the way
            self._queue_seen = False
            view.display = False
        if not view.words():
            self._follow_queue = False
        self._follow_next_job()
        self._update_header()

    def _follow_next_job(self) -> None:
        """With the queue started here, follow a running job when no live run is on screen;
        a job that ran and ended between two looks at the queue is replayed instead (short
        jobs can), so the screen always ends on the queue's latest job."""
        if not self._follow_queue or self.is_training:
            return
        jobs = [row for row in self.query_one(QueueView).jobs if row.run_dir is not None]
        running = [row.run_dir for row in jobs if row.state == "running"]
        ended = [row.run_dir for row in jobs if row.state not in ("waiting", "running")]
        fresh = [run for run in running if run not in self._jobs_followed]
        unseen = [run for run in ended if run not in self._jobs_followed]
        target = fresh[0] if fresh else (unseen[-1] if unseen else None)
        if target is not None:
            self._jobs_followed.update(unseen)
            self._jobs_followed.add(target)
            self.follow(target, lock=False)

    def action_toggle_queue(self) -> None:
        """Show (and focus) the queue, or hide it when it has the focus."""
        view = self.query_one(QueueView)
        if view.display and not view.has_focus:
            view.focus()
        elif view.display:
            view.display = False
        else:
            view.display = True
            view.focus()

    @on(ConfigForm.Changed)
    def _form_changed(self) -> None:
        self._remember_form()
        self.save_settings()
        grid = self.query_one(ConfigForm).grid_text
        if grid:  # also here: under the buttons it can be out of sight at 80x24
            self.query_one("#status", Static).update(grid)
            self._grid_shown = True
        elif self._grid_shown:  # the list is gone: the status it covered comes back
            self._status(self._status_text)

    @on(CheckpointPanel.MarksChanged)
    def _marks_changed(self, message: CheckpointPanel.MarksChanged) -> None:
        self._show_compare()
        if len(message.marked) >= 2:
            self._status(f"comparing {len(message.marked)} runs · m on a marked run unmarks it")
        elif message.marked:
            self._status("1 run marked: mark another (m) to compare their curves")

    # -- the checkpoint panel -------------------------------------------------------------

    @on(CheckpointPanel.Highlighted)
    def _panel_highlighted(self, message: CheckpointPanel.Highlighted) -> None:
        self.selected_run = message.run_path
        self.selected_checkpoint = message.checkpoint_path

    @on(CheckpointPanel.Selected)
    def _panel_selected(self, message: CheckpointPanel.Selected) -> None:
        self.selected_run = message.run_path
        self.selected_checkpoint = message.checkpoint_path
        if message.run_path is not None and message.checkpoint_path is None:
            self.show_run(message.run_path)

    @on(CheckpointPanel.RunsShown)
    def _runs_shown(self, message: CheckpointPanel.RunsShown) -> None:
        """The first scan: the latest run goes on screen (charts, table), never "no run yet";
        the form keeps the values remembered from the last launch. A live run is not followed
        from here (that would lock the form): Enter on it in the panel does."""
        if self._latest_shown:
            return
        self._latest_shown = True
        if message.runs and not self.history and self.live_run is None and not self.is_training:
            latest = next(
                (e for e in message.runs if e.error is None and e.status != "running"), None
            )
            if latest is not None:
                self.show_run(latest.path, fill_form=False)

    def show_run(self, run_path: Path, fill_form: bool = True) -> None:
        """Put a run on screen: its curves, table and config (unless not `fill_form`); a live
        run is followed, as if this app had started it."""
        entry = self.query_one(CheckpointPanel).run_entry(run_path)
        if entry is None or entry.error is not None:
            reason = entry.error if entry else "not found"
            self.notify(f"{run_path.name}: {reason}", severity="error")
            return
        if entry.status == "running":
            if fill_form:
                self._fill_form(entry.config, run_path)
            if run_path != self.live_run or not self._followed_live:
                self.follow(run_path)
            return
        if self._launching:
            self.notify("A run is starting: its charts come first.")
            return
        self._stop_following()
        epochs = int(entry.config.get("epochs", len(entry.metrics)))
        self.query_one(RunView).loaded(entry.metrics, epochs, entry.status, entry.name)
        if fill_form:
            self._fill_form(entry.config, run_path)
            self.run_state = f"viewing {entry.status} run"  # at launch it still says "ready"

    def _fill_form(self, config_dict: dict[str, Any], run_path: Path) -> None:
        try:
            config = TrainConfig.from_dict(config_dict)
        except (ConfigError, TypeError) as exc:
            self.notify(f"{run_path.name}: config not loaded ({exc})", severity="warning")
        else:
            self.query_one(ConfigForm).fill(config, keep_device=True)

    def action_load_selected(self) -> None:
        if self.selected_run is None:
            self.notify("Highlight a run in the checkpoint panel first (ctrl+o).")
            return
        self.show_run(self.selected_run)

    def action_resume_selected(self) -> None:
        """Train from the highlighted checkpoint with the form's config now (the engine resumes
        in place when only epochs or device changed, and forks a new run otherwise)."""
        panel = self.query_one(CheckpointPanel)
        path = self.selected_checkpoint
        entry = panel.checkpoint_entry(path) if path is not None else None
        if entry is None:
            self.notify("Highlight a checkpoint in the panel first (ctrl+o).")
            return
        if self.is_training:
            self.action_start()  # says why not
            return
        start = panel.continuing(entry, forking=False)
        if start is not None:
            self.query_one(ConfigForm).continue_from(start)
            self.action_start()

    def action_runs_table(self) -> None:
        """Every run in a sortable table; Enter loads one."""
        from tui.screens.runs_table import RunsScreen

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.query_one(CheckpointPanel).select_run(path)
                self.selected_run, self.selected_checkpoint = path, None
                self.show_run(path)

        self.push_screen(RunsScreen(self.runs_dir), chosen)

    # -- what the panel's keys ask of other widgets -----------------------------------------

    @on(CheckpointPanel.ContinueFrom)
    def _continue_from(self, message: CheckpointPanel.ContinueFrom) -> None:
        """Fork or resume: the form is filled from the checkpoint, and says so on top."""
        if self.is_training:
            self.notify("A run is in progress: the form is locked until it ends.")
            return
        form = self.query_one(ConfigForm)
        form.continue_from(message.start, message.config)
        self.show_form = True
        if self.size.width < NARROW_WIDTH:  # the form takes the panel's turn
            self.show_panel = False
        form.field("lr" if message.start.forking else "epochs").focus()

    @on(CheckpointPanel.Deleted)
    def _deleted(self, message: CheckpointPanel.Deleted) -> None:
        self.query_one(ConfigForm).forget_start_from(message.run_path, message.checkpoint_path)

    @property
    def compared(self) -> list[Path]:
        """The runs overlaid in the charts (two or more marked in the panel), in marking order."""
        return self.query_one(CheckpointPanel).marked

    def _show_compare(self) -> None:
        """Overlay the marked runs (two or more) in both charts; else the run on screen."""
        panel = self.query_one(CheckpointPanel)
        entries = [e for e in (panel.run_entry(p) for p in self.compared) if e and not e.error]
        runs = [
            (name, self.history if entry.path == self.live_run else entry.metrics, entry.path.name)
            for name, entry in zip(legend_names(entries), entries, strict=True)
        ]
        self.query_one(RunView).compare(runs if len(runs) >= 2 else None)

    # -- layout ---------------------------------------------------------------------------

    def action_toggle_panel(self) -> None:
        """Show and focus the panel; hide it when it already has the focus."""
        tree = self.query_one("#run-tree")
        if self.show_panel and not tree.has_focus:
            tree.focus()
            return
        self.show_panel = not self.show_panel
        if self.show_panel:
            if self.size.width < NARROW_WIDTH:
                self.show_form = False
            self.query_one("#run-tree").focus()

    def action_toggle_form(self) -> None:
        """Show and focus the form; hide it when the focus is already in it."""
        form = self.query_one(ConfigForm)
        if self.show_form and not form.has_focus_within:
            form.focus_first()
            return
        self.show_form = not self.show_form
        if self.show_form:
            if self.size.width < NARROW_WIDTH:
                self.show_panel = False
            self.query_one(ConfigForm).focus_first()

    def action_focus_table(self) -> None:
        """Focus the results table; again (with jobs queued): the queue."""
        table, queue = self.query_one(ResultsTable), self.query_one(QueueView)
        if table.has_focus and queue.display:
            queue.focus()
        else:
            table.focus()

    def watch_show_panel(self) -> None:
        self._apply_layout()

    def watch_show_form(self) -> None:
        self._apply_layout()

    def adapt_layout(self, width: int) -> None:
        """After a resize: below `NARROW_WIDTH` the form and the panel take turns (the panel
        gives way); back above it both are shown again."""
        if width < NARROW_WIDTH and self.show_form and self.show_panel:
            self.show_panel = False
        elif width >= NARROW_WIDTH and self._was_narrow:
            self.show_form = self.show_panel = True
        self._was_narrow = width < NARROW_WIDTH
        self._apply_layout()

    def _apply_layout(self) -> None:
        if not self.is_mounted:
            return
        screen = self.query_one(ConfigForm).screen  # the main screen, even under a modal
        screen.set_class(self.size.width < NARROW_WIDTH, "-narrow")
        screen.set_class(self.size.height < SHORT_HEIGHT, "-short")
        self.query_one(ConfigForm).display = self.show_form
        self.query_one(CheckpointPanel).display = self.show_panel
        self.call_after_refresh(self.keep_focus)
        self._update_header()

    # -- header, status, palette ----------------------------------------------------------

    def watch_run_state(self) -> None:
        self._update_header()

    def watch_device_label(self) -> None:
        self._update_header()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every message goes to the event log (ctrl+b) with its time; the toast is short-lived
        (3 s, 8 s for warnings and errors), so toasts never pile up over the charts."""
        self.event_log.add(str(message), str(severity), title)
        if timeout is None or timeout > 8:
            timeout = 3 if severity == "information" else 8
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def keep_focus(self) -> None:
        """Never leave the main screen with nothing focused (the next key would do nothing):
        the form locked by a start, a hidden panel, a closed dialog all land here."""
        if self.screen is not self.query_one(ConfigForm).screen:
            return
        focused = self.focused
        if focused is not None and not focused.disabled and _shown(focused):
            return
        if self.show_form and not self.is_training:
            self.query_one(ConfigForm).focus_first()
        else:
            self.query_one(LossChart).focus()

    def action_help(self) -> None:
        """Every key, by where it applies (`?`, F1); Escape closes it."""
        from tui.screens.help import HelpScreen, default_rows

        self.push_screen(HelpScreen(default_rows([*APP_KEYS, *PLAIN_KEYS])))

    def action_event_log(self) -> None:
        from tui.screens.event_log import EventLogScreen

        self.push_screen(EventLogScreen(self.event_log))

    def action_focus_charts(self) -> None:
        """Focus the loss chart, then the accuracy chart (their cursor, 1-5 and `l` keys)."""
        loss, accuracy = self.query_one(LossChart), self.query_one(AccuracyChart)
        (accuracy if loss.has_focus else loss).focus()

    @on(MetricChart.ChoicesChanged)
    def _chart_choices(self, message: MetricChart.ChoicesChanged) -> None:
        self.user_config.set_chart(message.chart.id or "", message.log_scale, message.hidden)
        self.save_settings(force=True)

    def save_settings(self, force: bool = False) -> None:
        """Write the remembered choices (at most every few seconds unless `force`: it fsyncs)."""
        now = time.monotonic()
        if not force and now - self._config_saved_at < 5:
            return
        self._config_saved_at = now
        note = user_config.save(self.user_config)
        if note:
            self.event_log.add(note, "warning", "Settings")

    def _remember_form(self) -> None:
        form = self.query_one(ConfigForm)
        if form.problems():
            return
        try:
            self.user_config.remember_form(form.config())
        except ConfigError:
            return

    def _update_header(self) -> None:
        if not self.is_mounted:
            return
        queue = self.query_one(QueueView).words()
        # The device's load while a run trains (or the queue runs), at the status line's end;
        # the rest of the time the status line has the whole row for what it says.
        self.query_one(SystemMonitor).display = self.is_training or bool(queue)
        state = f"{queue} · {self.run_state}" if queue else self.run_state
        self.sub_title = f"{self.device_label} · {state}"

    def _status(self, text: str) -> None:
        """The status line (a grid's size covers it while the form holds a list)."""
        self._status_text, self._grid_shown = text, False
        self.query_one("#status", Static).update(text)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Metrics rows of the run on screen (live or loaded from its log)."""
        return self.query_one(RunView).history

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in self.KEYS:
            if key.action != "quit":
                help_text = f"{key.tooltip} ({key.key})"
                yield SystemCommand(
                    key.description, help_text, partial(self.run_action, key.action)
                )
        for title, help_text, action in self.EXTRA_COMMANDS:
            where, _, name = action.rpartition(".")
            yield SystemCommand(title, help_text, partial(self._palette_action, where, name))

    async def _palette_action(self, where: str, name: str) -> None:
        """Run a palette command: an action of the app, or of the widget `where` names."""
        target = self.query_one(PALETTE_TARGETS[where]) if where else None
        await self.run_action(name, target)


def run_app(runs_dir: Path, data_dir: Path | None, device: str) -> None:
    """Open the app (the `mnist-tui` command with no subcommand)."""
    MnistApp(runs_dir=runs_dir, data_dir=data_dir, device=device).run()
