"""The mnist-tui app: set hyperparameters, train, watch, and browse what was saved.

A thin front-end over `mlp_core.train()`: a thread worker iterates the engine's events and posts
them as messages (`tui.messages`); the handlers here only move values into widgets. Importing
this module does not import torch: the first screen is drawn first, and torch and the data set
are loaded behind it by a daemon thread (`tui.worker.load_backend`, posted back as a
`BackendLoaded` message), with a status line saying so.

Extension points (for modal screens and other panels):
- `MnistApp.selected_run` / `selected_checkpoint`: what the checkpoint panel's cursor is on;
  `CheckpointPanel.Highlighted` and `CheckpointPanel.Selected` bubble to the app.
- `MnistApp.KEYS` (`tui.keys.APP_KEYS`): the app's own keys, offered in the command palette
  and shown in the Footer (but those with `show=False`); the panel's and the queue view's keys
  are their widgets' BINDINGS. `MnistApp.EXTRA_COMMANDS`: palette-only commands.
- `MnistApp.start_training(config, start=None)` and `MnistApp.run_events(source)`: start a run
  from a config or a checkpoint (or its file), or show the events of any other `EventSource`
  (a callable that takes the stop test and returns an iterator of engine events).

The actions on the panel's runs and checkpoints (evaluate, fork, resume, compare, label,
export, delete, the runs table) are in `tui.app_browse`; the queue of jobs in `tui.app_queue`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from mlp_core.config import PRESETS, ConfigError, TrainConfig
from mlp_core.events import Event
from tui.app_browse import NARROW_WIDTH, BrowseActions
from tui.app_inspect import InspectActions
from tui.app_queue import QueueActions
from tui.keys import APP_KEYS, PALETTE_COMMANDS
from tui.messages import (
    BackendLoaded,
    CheckpointWritten,
    EpochCompleted,
    EpochProgress,
    JobUpdate,
    RunBegan,
    RunDiverged,
    RunEnded,
    RunFailed,
)
from tui.widgets.app_header import AppHeader
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm
from tui.widgets.epoch_progress import EpochProgress as EpochProgressBar
from tui.widgets.queue import QueueView
from tui.widgets.results import ResultsTable
from tui.worker import (
    Backend,
    EventSource,
    load_backend,
    pump_events,
    run_in_torch_thread,
    training_source,
)

if TYPE_CHECKING:
    from data.mnist import Dataset
    from mlp_core.checkpoint import Checkpoint
    from mlp_core.sweep import JobQueue

#: Below this height the queue view keeps to a few rows (the charts and table keep theirs).
SHORT_HEIGHT = 40
#: Quitting while training waits this long for the run to stop cleanly.
QUIT_GRACE_SECONDS = 1.5


Handler = TypeVar("Handler", bound=Callable[..., None])


def _while_running(handler: Handler) -> Handler:
    """A worker's message can arrive after the app has begun to exit (a run's last events,
    the worker's end): its widgets are gone then, so such a message is dropped."""

    @functools.wraps(handler)
    def guarded(self: App[None], *args: Any) -> None:
        if self.is_running:
            handler(self, *args)

    return guarded  # type: ignore[return-value]


class MainScreen(Screen[None]):
    """The app's own screen (under any modal one): it re-lays the app out when the terminal is
    resized. The app's own Resize handler runs before the app knows its new size; a screen's
    runs after, and background screens get it too, so a resize under a modal is not lost."""

    def on_resize(self, event: events.Resize) -> None:
        app = self.app
        if isinstance(app, MnistApp):
            app.adapt_layout(event.size.width)


class MnistApp(BrowseActions, QueueActions, InspectActions, App[None]):
    """Form on the left, charts, progress and results in the centre, checkpoints on the right."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"

    #: Every key of the app, in one place: the Footer shows them, the palette offers them.
    KEYS: ClassVar[list[Binding]] = APP_KEYS
    BINDINGS: ClassVar[list[BindingType]] = [
        dataclasses.replace(key, priority=True) for key in APP_KEYS
    ]
    #: Palette-only commands: (title, help, action).
    EXTRA_COMMANDS: ClassVar[list[tuple[str, str, str]]] = PALETTE_COMMANDS

    #: Shown in the header: idle, loading, training 3/10, stopping, finished, failed (...).
    run_state: reactive[str] = reactive("loading")
    device_label: reactive[str] = reactive("device: loading")
    #: The run and checkpoint under the checkpoint panel's cursor (for screens to act on).
    selected_run: reactive[Path | None] = reactive(None)
    selected_checkpoint: reactive[Path | None] = reactive(None)
    show_panel: reactive[bool] = reactive(True)
    show_form: reactive[bool] = reactive(True)

    def __init__(
        self,
        runs_dir: Path,
        data_dir: Path | None = None,
        device: str = "auto",
        *,
        dataset: Dataset | None = None,
        progress_interval: float = 0.5,
        watch_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.device = device
        self.progress_interval = progress_interval
        self.watch_interval = watch_interval
        self._given_dataset = dataset
        self.backend: Backend | None = None
        #: Metrics rows of the run on screen (live or loaded from its log).
        self.history: list[dict[str, Any]] = []
        #: The folder of the run being trained, while it is.
        self.live_run: Path | None = None
        self._stop_requested = threading.Event()
        self._training_done = threading.Event()
        self._training_done.set()
        #: The worker of the run or queue being trained (its end is `_training_over`).
        self._training_worker: Worker[None] | None = None
        self._epochs = 0
        self._was_narrow = False
        self._status_text = ""
        self._grid_shown = False
        self.job_queue: JobQueue | None = None
        self._noted: str | None = None
        try:
            self.initial_config = dataclasses.replace(PRESETS["default"], device=device)
        except ConfigError:
            self.initial_config = PRESETS["default"]

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with Horizontal(id="main"):
            yield ConfigForm(self.initial_config, id="form")
            with Vertical(id="centre"):
                with Horizontal(id="charts"):
                    yield LossChart(id="loss-chart")
                    yield AccuracyChart(id="accuracy-chart")
                yield EpochProgressBar(id="progress")
                yield ResultsTable(id="results")
                yield QueueView(id="queue")
            yield CheckpointPanel(self.runs_dir, id="panel")
        yield Static("Loading torch and the data set in the background…", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(QueueView).display = False
        self.show_panel = self.size.width >= NARROW_WIDTH
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
        self.device_label = backend.device_label or "device unavailable"
        self.query_one(CheckpointPanel).start_watching(self.watch_interval)
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

    # -- starting and stopping ------------------------------------------------------------

    @property
    def is_training(self) -> bool:
        return not self._training_done.is_set()

    def action_start(self) -> None:
        """Start a run with the form's config, if everything is ready and valid."""
        if self.is_training:
            what = "The queue is running" if self.sweep is not None else "A run is in progress"
            self.notify(f"{what}: stop it first (ctrl+s).", severity="warning")
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
        start, self.start_from = self.start_from, None
        if start is not None:
            self._update_start_from()
        self.start_training(config, start=start)

    def start_training(self, config: TrainConfig, start: Checkpoint | Path | None = None) -> None:
        """Train `config` (from `start`, a checkpoint or its file, to resume or fork). A file is
        read by the worker: a checkpoint that cannot be read fails the run with the reason."""
        assert self.backend is not None and self.backend.dataset is not None
        source = training_source(
            config, self.backend.dataset, self.runs_dir, start, self.progress_interval
        )
        self._epochs = config.epochs
        self.run_events(source)

    def run_events(self, source: EventSource) -> Worker[None]:
        """Show the events of `source` as a live run: an `EventSource`, a callable given the
        function to poll for a stop, returning an iterator of engine events (called in the
        worker, so an error it raises is reported like a training error)."""
        self._stop_requested.clear()
        self._training_done.clear()
        self.run_state = "starting"
        self.query_one(ConfigForm).set_training(True)
        self._show_history([])
        self.query_one(EpochProgressBar).reset("starting…")
        self._training_worker = self._train(source)
        return self._training_worker

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _train(self, source: EventSource) -> None:
        worker = get_current_worker()
        stop = self._stop_requested

        def should_stop() -> bool:
            return worker.is_cancelled or stop.is_set()

        run_in_torch_thread(pump_events, _events_of(source, should_stop), self.post_message)

    def action_stop(self) -> None:
        """Ask the run to stop: the engine sees it before the next batch."""
        if not self.is_training:
            self.notify("No run to stop.")
            return
        self._stop_requested.set()
        if self.sweep is not None:
            self.sweep.stop()
        self.run_state = "stopping"

    async def action_quit(self) -> None:
        """Quit; a run in progress is stopped first (whole checkpoints, run.json says so)."""
        if self.is_training:
            self._stop_requested.set()
            if self.sweep is not None:
                self.sweep.stop()
            self.run_state = "stopping"
            deadline = time.monotonic() + QUIT_GRACE_SECONDS
            while self.is_training and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        self.exit()

    # -- training messages ----------------------------------------------------------------

    @on(RunBegan)
    @_while_running
    def _run_began(self, message: RunBegan) -> None:
        event = message.event
        self.live_run = Path(event.run_dir)
        self._epochs = event.epochs
        self.device_label = event.device
        self.run_state = f"training {event.start_epoch}/{event.epochs}"
        # Each run starts its own table and curves (a queue's jobs follow one another here);
        # a resumed or forked run starts from the epochs it already has.
        from mlp_core.runs import read_metrics

        self._show_history(read_metrics(self.live_run) if event.start_epoch else [])
        self.query_one(CheckpointPanel).mark_live(self.live_run)
        sizes = f"{event.train_size} train / {event.val_size} val / {event.test_size} test"
        self._status(f"run {event.run_name} · {event.dataset} {sizes} · {event.device}")
        if event.note and event.note != self._noted:  # once, not for every run of a queue
            self._noted = event.note
            self.notify(event.note, title="Data set", severity="warning")

    @on(EpochProgress)
    @_while_running
    def _progress(self, message: EpochProgress) -> None:
        event = message.event
        self.query_one(EpochProgressBar).show(
            event.epoch,
            self._epochs,
            event.step,
            event.steps,
            event.samples_per_second,
            event.eta_seconds,
            event.train_loss,
        )
        if not self._stop_requested.is_set():
            self.run_state = f"training {event.epoch}/{self._epochs}"

    @on(EpochCompleted)
    @_while_running
    def _epoch_completed(self, message: EpochCompleted) -> None:
        event = message.event
        row = event.to_dict()
        row.pop("event", None)
        self.history.append(row)
        self.query_one(ResultsTable).add_epoch(row)
        self.query_one(LossChart).set_history(self.history)
        self.query_one(AccuracyChart).set_history(self.history)
        if self.live_run in self.compared:
            self._show_compare()
        self.query_one(EpochProgressBar).epoch_done(
            event.epoch, self._epochs, event.seconds, event.samples_per_second
        )
        if not self._stop_requested.is_set():
            self.run_state = f"training {event.epoch}/{self._epochs}"

    @on(CheckpointWritten)
    @_while_running
    def _checkpoint_written(self, message: CheckpointWritten) -> None:
        event = message.event
        path = Path(event.path)
        row = next((r for r in reversed(self.history) if r.get("epoch") == event.epoch), {})
        panel = self.query_one(CheckpointPanel)
        panel.checkpoint_written(path.parent.parent, path, event.kind, event.epoch, row)

    @on(RunEnded)
    @_while_running
    def _run_ended(self, message: RunEnded) -> None:
        event = message.event
        self.run_state = event.status
        summary = f"{event.status} after {event.epochs_done} epoch(s) in {event.seconds:.1f}s"
        if event.best_epoch is not None:
            accuracy = event.best_val_accuracy
            if accuracy is not None:
                summary += f"; best epoch {event.best_epoch}: val {100 * accuracy:.2f}%"
            if event.test_accuracy_at_best is not None:
                summary += f", test {100 * event.test_accuracy_at_best:.2f}%"
        self.query_one(EpochProgressBar).idle(summary)
        if self.sweep is None:  # a queue's jobs are followed in the queue view instead
            self.notify(summary, title=f"Run {event.status}")

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
        self.query_one(EpochProgressBar).idle(f"diverged: {event.reason}")
        self.notify(f"{event.reason}.{kept}", title="Run diverged", severity="error", timeout=15)

    @on(RunFailed)
    @_while_running
    def _run_failed(self, message: RunFailed) -> None:
        self.run_state = f"failed ({message.kind})"
        self.query_one(EpochProgressBar).idle(f"failed: {message.text}")
        self.notify(message.text, title=f"Run failed: {message.kind}", severity="error", timeout=15)

    @_while_running
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker: Worker[Any] = event.worker
        if worker.group == "training" and worker.is_finished:
            self._training_over(worker)

    def _training_over(self, worker: Worker[Any]) -> None:
        """The training worker ended. `_training_done` is set here, on the UI thread, after
        every message the worker posted: a run or queue started from then on is never taken
        for the one that ended. A worker that is no longer the current one is ignored."""
        if worker is not self._training_worker:
            return
        self._training_worker = None
        self._training_done.set()
        if worker.state == WorkerState.ERROR:
            self.run_state = "failed"
            self.notify(str(worker.error), title="Run failed", severity="error", timeout=15)
        elif self.run_state in ("starting", "stopping") or self.run_state.startswith(
            ("training", "queue")
        ):
            self.run_state = "stopped"
        self.live_run = None
        self.query_one(ConfigForm).set_training(False)
        self.query_one(CheckpointPanel).mark_live(None)
        if self.sweep is not None:
            self._sweep_over()
        elif self.queue_after_run:  # jobs were queued during the run
            self.queue_after_run = False
            self.call_later(self.action_run_queue)
        self._update_header()

    # -- the queue and the sweep's messages -----------------------------------------------

    @on(JobUpdate)
    @_while_running
    def _job_update(self, message: JobUpdate) -> None:
        self._sweep_event(message.event)
        self._update_header()

    @on(QueueView.CancelRequested)
    def _cancel_requested(self, message: QueueView.CancelRequested) -> None:
        self._cancel_job(message.job_id)

    @on(QueueView.RemoveRequested)
    def _remove_requested(self, message: QueueView.RemoveRequested) -> None:
        self._remove_job(message.job_id)

    @on(ConfigForm.Changed)
    def _form_changed(self) -> None:
        if self.start_from is not None:
            self._update_start_from()
        grid = self.query_one(ConfigForm).grid_text
        if grid:  # also here: under the buttons it can be out of sight at 80x24
            self.query_one("#status", Static).update(grid)
            self._grid_shown = True
        elif self._grid_shown:  # the list is gone: the status it covered comes back
            self._status(self._status_text)

    @on(CheckpointPanel.MarksChanged)
    def _marks_changed(self, message: CheckpointPanel.MarksChanged) -> None:
        self.compared = message.marked
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

    def show_run(self, run_path: Path) -> None:
        """Put a past run on screen: its curves, table and config, as if it had just run."""
        if self.is_training:
            self.notify("Training: the charts follow the live run; details are in the panel.")
            return
        entry = self.query_one(CheckpointPanel).run_entry(run_path)
        if entry is None or entry.error is not None:
            reason = entry.error if entry else "not found"
            self.notify(f"{run_path.name}: {reason}", severity="error")
            return
        self._show_history(entry.metrics)
        try:
            config = TrainConfig.from_dict(entry.config)
        except (ConfigError, TypeError) as exc:
            self.notify(f"{run_path.name}: config not loaded ({exc})", severity="warning")
        else:
            self.query_one(ConfigForm).fill(config, keep_device=True)
        self._epochs = int(entry.config.get("epochs", len(entry.metrics)))
        self.run_state = f"viewing {entry.status} run"
        self.query_one(EpochProgressBar).reset(
            f"{entry.name}: {entry.status}, {len(entry.metrics)} epoch(s) · ctrl+r runs this config"
        )

    def action_load_selected(self) -> None:
        if self.selected_run is None:
            self.notify("Highlight a run in the checkpoint panel first (ctrl+o).")
            return
        self.show_run(self.selected_run)

    def action_resume_selected(self) -> None:
        """Train from the highlighted checkpoint with the form's config now (the engine resumes
        in place when only epochs or device changed, and forks a new run otherwise)."""
        if self.selected_checkpoint is None:
            self.notify("Highlight a checkpoint in the panel first (ctrl+o).")
            return
        if self.is_training:
            self.action_start()  # says why not
            return
        self.start_from = self.selected_checkpoint
        self._update_start_from()
        self.action_start()

    def action_rescan(self) -> None:
        self.query_one(CheckpointPanel).rescan()

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

    # -- header, status, palette ----------------------------------------------------------

    def watch_run_state(self) -> None:
        self._update_header()

    def watch_device_label(self) -> None:
        self._update_header()

    def _update_header(self) -> None:
        queue = self.queue_words()
        state = f"{queue} · {self.run_state}" if queue else self.run_state
        self.sub_title = f"{self.device_label} · {state}"

    def _status(self, text: str) -> None:
        """The status line (a grid's size covers it while the form holds a list)."""
        self._status_text, self._grid_shown = text, False
        self.query_one("#status", Static).update(text)

    def _show_history(self, rows: list[dict[str, Any]]) -> None:
        self.history = list(rows)
        self.query_one(ResultsTable).set_history(self.history)
        self.query_one(LossChart).set_history(self.history)
        self.query_one(AccuracyChart).set_history(self.history)

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
            yield SystemCommand(title, help_text, partial(self.run_action, action))


def _events_of(source: EventSource, should_stop: Any) -> Iterator[Event]:
    """The source's events, made lazily so that an error in `source` itself is reported like
    an error while training (by `pump_events`)."""
    yield from source(should_stop)


def run_app(runs_dir: Path, data_dir: Path | None, device: str) -> None:
    """Open the app (the `mnist-tui` command with no subcommand)."""
    MnistApp(runs_dir=runs_dir, data_dir=data_dir, device=device).run()
