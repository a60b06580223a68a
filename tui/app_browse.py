"""The actions on what the checkpoint panel's cursor is on: evaluate, fork or resume, compare,
label, export, delete; and the runs table.

`RunActions` is a small controller the app holds (not a mixin): it keeps the state these
actions share (what Start continues from, the runs compared) and acts through the app's
widgets. The keys are bound in `CheckpointPanel.BINDINGS` and `MnistApp.KEYS` to the app's
`action_*` names, which hand over to it (so the command palette offers them too).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.text import printable
from tui.catalog import CheckpointEntry, RunEntry
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm

if TYPE_CHECKING:
    from tui.app import MnistApp

#: Below this width the form and the checkpoint panel take turns beside the charts.
NARROW_WIDTH = 120

#: Preferred checkpoint of a run for an action on the run itself.
KIND_ORDER = {"best": 0, "last": 1, "epoch": 2}


def legend_names(entries: list[RunEntry]) -> list[str]:
    """Short, distinct names for a chart legend: the label, else the name without its date."""
    names: list[str] = []
    for entry in entries:
        name = printable(entry.label or "")[:24] or entry.name[16:] or entry.name
        base, count = name, 2
        while name in names:
            name, count = f"{base} #{count}", count + 1
        names.append(name)
    return names


class RunActions:
    """Actions on the highlighted run or checkpoint: one object the app holds (`app.runs`),
    with its own state (what Start continues from, the runs compared), acting through the
    app's widgets and screens."""

    def __init__(self, app: MnistApp) -> None:
        self.app = app
        #: The checkpoint the next Start continues from (fork or resume), or None: a new run.
        self.start_from: Path | None = None
        #: `f` chose a fork: Start makes a new run even with the config unchanged (never a
        #: silent resume that doubles the epochs of the run forked from).
        self.forking = False
        #: Runs overlaid in the charts (two or more marked in the panel), in marking order.
        self.compared: list[Path] = []

    # -- what the cursor is on ----------------------------------------------------------

    def _panel(self) -> CheckpointPanel:
        return self.app.query_one(CheckpointPanel)

    def _checkpoint_entry(self, path: Path) -> CheckpointEntry | None:
        entry = self._panel().run_entry(path.parent.parent)
        return next((c for c in entry.checkpoints if c.path == path), None) if entry else None

    def _target_checkpoint(self) -> CheckpointEntry | None:
        """The highlighted checkpoint, or the highlighted run's best (else last) one."""
        if self.app.selected_checkpoint is not None:
            entry = self._checkpoint_entry(self.app.selected_checkpoint)
        elif self.app.selected_run is not None:
            run = self._panel().run_entry(self.app.selected_run)
            readable = [c for c in run.checkpoints if c.error is None] if run else []
            entry = min(readable, key=lambda c: KIND_ORDER.get(c.kind, 3), default=None)
            if entry is None:
                self.app.notify(f"{self.app.selected_run.name} has no readable checkpoint.")
                return None
        else:
            self.app.notify("Highlight a run or a checkpoint in the panel first (ctrl+o).")
            return None
        if entry is None:
            self.app.notify("That checkpoint is gone; the panel reads the disk again.")
            self._panel().rescan()
        return entry

    def _target_run(self) -> Path | None:
        if self.app.selected_run is None:
            self.app.notify("Highlight a run in the panel first (ctrl+o).")
        return self.app.selected_run

    def _dataset(self) -> Any:
        return self.app.backend.dataset if self.app.backend is not None else None

    # -- inspect ------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Evaluate the highlighted checkpoint (a run: its best) on the test set."""
        from tui.screens.evaluate import EvaluateScreen

        entry = self._target_checkpoint()
        if entry is not None:
            self.app.push_screen(
                EvaluateScreen(
                    entry.path, self.app.data_dir, self.app.device, dataset=self._dataset()
                )
            )

    def digits(self) -> None:
        """Page through the training and test digits."""
        from tui.screens.digits import DigitsScreen

        self.app.push_screen(DigitsScreen(self.app.data_dir, dataset=self._dataset()))

    # -- fork and resume ----------------------------------------------------------------

    def fork(self) -> None:
        """Fill the form from the checkpoint's config; Start then trains a new run from it."""
        self._continue_from(resume=False)

    def resume(self) -> None:
        """Fill the form to continue the checkpoint's run for more epochs."""
        self._continue_from(resume=True)

    def _continue_from(self, resume: bool) -> None:
        entry = self._target_checkpoint()
        if entry is None:
            return
        if entry.error is not None:
            self.app.notify(f"{entry.path.name}: {entry.error}", severity="error")
            return
        if self.app.is_training:
            self.app.notify("A run is in progress: the form is locked until it ends.")
            return
        try:
            config = TrainConfig.from_dict(entry.config)
        except (ConfigError, TypeError) as exc:
            self.app.notify(f"{entry.path.name}: config not readable ({exc})", severity="error")
            return
        epoch = entry.epoch or 0
        if epoch >= config.epochs:  # the run ended there: as many epochs again
            config = dataclasses.replace(config, epochs=epoch + config.epochs)
        form = self.app.query_one(ConfigForm)
        form.fill(config, keep_device=True)
        self.start_from = entry.path
        self.forking = not resume
        self.app.show_form = True
        if self.app.size.width < NARROW_WIDTH:  # the form takes the panel's turn
            self.app.show_panel = False
        self.update_start_from()
        form.field("epochs" if resume else "lr").focus()

    def new_run(self) -> None:
        """Leave fork/resume mode: Start makes a new run from scratch again."""
        if self.start_from is not None:
            self.start_from, self.forking = None, False
            self.update_start_from()
            self.app.notify("Start trains a new run from scratch.")

    def update_start_from(self) -> None:
        """Say above Start what it continues from, and whether that is a resume or a fork."""
        form = self.app.query_one(ConfigForm)
        path = self.start_from
        entry = self._checkpoint_entry(path) if path is not None else None
        if path is None or entry is None:
            self.start_from, self.forking = None, False
            form.set_start_from(None)
            return
        source = f"{path.parent.parent.name}@{entry.epoch} ({path.stem})"
        escape = "\nEscape: a new run instead"
        try:
            config = form.config()
            parent = TrainConfig.from_dict(entry.config)
        except (ConfigError, TypeError):
            form.set_start_from(f"⑂ from {source}: fix the form first{escape}", "Start")
            return
        run = self._panel().run_entry(path.parent.parent)
        latest = bool(run and run.metrics) and run.metrics[-1]["epoch"] == entry.epoch
        same = dataclasses.replace(parent, epochs=config.epochs, device=config.device) == config
        if config.epochs <= (entry.epoch or 0):
            text = f"⑂ from {source}: epochs must be above {entry.epoch}"
        elif config.hidden != parent.hidden:
            text = f"⑂ from {source}: hidden must stay {parent.hidden}"
        elif same and latest and not self.forking:
            form.set_start_from(
                f"↻ Start resumes {source} to epoch {config.epochs}{escape}", "Resume"
            )
            return
        else:
            text = f"⑂ Start forks {source} into a new run"
        form.set_start_from(text + escape, "Fork")

    # -- compare ------------------------------------------------------------------------

    def toggle_mark(self) -> None:
        """Mark or unmark the highlighted run for comparison."""
        self._panel().action_toggle_mark()

    def clear_marks(self) -> None:
        self._panel().clear_marks()

    def show_compare(self) -> None:
        """Overlay the marked runs (two or more) in both charts; else the run on screen."""
        panel = self._panel()
        entries = [e for e in (panel.run_entry(p) for p in self.compared) if e and not e.error]
        charts = (self.app.query_one(LossChart), self.app.query_one(AccuracyChart))
        if len(entries) < 2:
            for chart in charts:
                chart.set_compare(None)
            return
        runs = [
            (
                name,
                self.app.history if entry.path == self.app.live_run else entry.metrics,
                entry.path.name,
            )
            for name, entry in zip(legend_names(entries), entries, strict=True)
        ]
        for chart in charts:
            chart.set_compare(runs)

    # -- tidy ---------------------------------------------------------------------------

    def label(self) -> None:
        """Edit the highlighted run's label and note."""
        from tui.screens.run_notes import RunNotesScreen

        run = self._target_run()
        if run is None:
            return

        def saved(info: Any) -> None:
            if info is not None:
                self._panel().rescan()
                self.app.notify(
                    f"{run.name}: label {info.label!r} saved" if info.label else "saved"
                )

        self.app.push_screen(RunNotesScreen(run), saved)

    def export_csv(self) -> None:
        """Write the highlighted run's metrics as CSV beside its metrics log."""
        from mlp_core.export import export_metrics_csv
        from mlp_core.runs import RunError

        run = self._target_run()
        if run is None:
            return
        try:
            path = export_metrics_csv(run)
        except RunError as exc:
            self.app.notify(str(exc), title="Export failed", severity="error")
            return
        self.app.notify(str(path), title="Metrics written as CSV", timeout=10)

    def delete(self) -> None:
        """Delete the highlighted checkpoint, or run, after a confirmation."""
        from tui.screens.confirm import ConfirmScreen

        run, checkpoint = self.app.selected_run, self.app.selected_checkpoint
        if run is None:
            self.app.notify("Highlight a run or a checkpoint in the panel first (ctrl+o).")
            return
        if run in self._training_runs():
            self.app.notify("That run is training: stop it first (ctrl+s).", severity="warning")
            return
        if checkpoint is not None:
            question = f"Delete the checkpoint {checkpoint.name} of {run.name}?"
        else:
            question = f"Delete the run {run.name} with all its checkpoints and metrics?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(run, checkpoint)

        self.app.push_screen(ConfirmScreen(question, title="Delete"), answered)

    def _training_runs(self) -> set[Path]:
        """Every run judged running (by this app, the queue or another instance), and the
        folder of every queue job running now."""
        from tui.widgets.queue import QueueView

        rows = self.app.query_one(QueueView).jobs
        queued = {r.run_dir for r in rows if r.state == "running" and r.run_dir is not None}
        return set(self.app.live_runs()) | queued

    def _delete(self, run: Path, checkpoint: Path | None) -> None:
        from mlp_core.runs import RunError, delete_checkpoint, delete_run

        if run in self._training_runs():  # it started while the question was asked
            self.app.notify("That run is training: stop it first (ctrl+s).", severity="warning")
            return
        try:
            if checkpoint is not None:
                delete_checkpoint(checkpoint)
            else:
                delete_run(run)
        except RunError as exc:
            self.app.notify(str(exc), title="Not deleted", severity="error")
            return
        gone = checkpoint or run
        start = self.start_from
        if start is not None and start.parent.parent == run and checkpoint in (None, start):
            self.new_run()
        self.app.notify(f"{gone.name} deleted")
        self._panel().rescan()

    # -- the runs table -----------------------------------------------------------------

    def runs_table(self) -> None:
        """Every run in a sortable table; Enter loads one."""
        from tui.screens.runs_table import RunsScreen

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._panel().select_run(path)
                self.app.selected_run, self.app.selected_checkpoint = path, None
                self.app.show_run(path)

        self.app.push_screen(RunsScreen(self.app.runs_dir), chosen)
