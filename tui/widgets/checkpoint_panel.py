"""The checkpoint panel: the runs in the runs directory, newest first, each with its checkpoints,
the details of the one under the cursor, and the keys that act on it.

The panel reads the disk in a thread worker (`tui.catalog`), keeps the tree's expanded runs and
cursor across rescans, and rescans by itself when the runs directory changes (a checkpoint saved
by this app or by another process). It tells the app what the cursor is on with `Highlighted`
and what the user chose (Enter) with `Selected`; it never reaches into other widgets.

The panel owns the actions on what its cursor is on (as Textual's own widgets own theirs):
evaluate, digits, draw, units, gradcheck and training figures open their screens; label, CSV
and delete act on the run folder (`mlp_core.runs`); marks (`m`) show in the tree in the colour
the charts give that run. What needs other widgets goes up as a message, for the app to act
on: `MarksChanged` (the charts overlay the marked runs), `ContinueFrom` (fork or resume: the
form is filled) and `Deleted` (what Start continues from may be gone).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState

from mlp_core.config import ConfigError, TrainConfig
from tui.catalog import CheckpointEntry, RunEntry, RunJsonCache, runs_signature, scan_runs
from tui.colours import colours_for
from tui.widgets.run_labels import checkpoint_details, checkpoint_label, run_details, run_label
from tui.widgets.start_from import StartFrom

#: The checkpoint an action on a whole run uses: its best, else its last, else the newest.
KIND_ORDER = {"best": 0, "last": 1, "epoch": 2}

#: What an action says when the cursor is on nothing it can act on.
HIGHLIGHT_FIRST = "Highlight a run or a checkpoint in the panel first (ctrl+o)."


class CheckpointPanel(Vertical):
    """Runs and checkpoints; `runs` is what was last read from disk."""

    class Highlighted(Message):
        """The cursor is on a run (checkpoint_path None) or a checkpoint."""

        def __init__(self, run_path: Path | None, checkpoint_path: Path | None) -> None:
            super().__init__()
            self.run_path = run_path
            self.checkpoint_path = checkpoint_path

    class Selected(Message):
        """The user chose a run (checkpoint_path None) or a checkpoint, with Enter."""

        def __init__(self, run_path: Path | None, checkpoint_path: Path | None) -> None:
            super().__init__()
            self.run_path = run_path
            self.checkpoint_path = checkpoint_path

    class RunsShown(Message):
        """The tree was rebuilt from a scan of the runs folder (newest run first)."""

        def __init__(self, runs: list[RunEntry]) -> None:
            super().__init__()
            self.runs = runs

    class MarksChanged(Message):
        """The runs marked for comparison, in the order they were marked."""

        def __init__(self, marked: list[Path]) -> None:
            super().__init__()
            self.marked = marked

    class ContinueFrom(Message):
        """Fork (`f`) or resume (`r`): fill the form with `config` to continue from `start`."""

        def __init__(self, start: StartFrom, config: TrainConfig) -> None:
            super().__init__()
            self.start = start
            self.config = config

    class Deleted(Message):
        """A run (checkpoint_path None) or one of its checkpoints was deleted."""

        def __init__(self, run_path: Path, checkpoint_path: Path | None) -> None:
            super().__init__()
            self.run_path = run_path
            self.checkpoint_path = checkpoint_path

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "evaluate", "Eval", tooltip="Evaluate the checkpoint on the test set"),
        Binding("f", "fork", "Fork", tooltip="Fill the form from the checkpoint to fork it"),
        Binding("r", "resume", "Resume", tooltip="Fill the form to resume for more epochs"),
        Binding("m", "toggle_mark", "Mark", tooltip="Mark the run to compare its curves"),
        Binding("l", "label", "Label", tooltip="Label and note of the run"),
        Binding("c", "export_csv", "CSV", tooltip="Export the run's metrics as CSV"),
        Binding("delete", "delete", "Delete", tooltip="Delete the run or checkpoint"),
        Binding("d", "digits", "Digits", show=False, tooltip="Page through the data set"),
        # Look inside the network.
        Binding("p", "draw", "Draw", show=False, tooltip="Draw a digit to classify"),
        Binding("w", "weights", "Units", show=False, tooltip="Hidden units' weights"),
        Binding("g", "gradcheck", "Gradcheck", show=False, tooltip="Check the gradients"),
        Binding("t", "training_figures", "Figures", show=False, tooltip="Training figures"),
    ]
    #: The panel's keys in a line under it (the Footer has no room for them at 80 columns).
    KEYS_HINT = "e eval  f fork  r resume  m mark  l label  c csv  Del delete  d digits"

    #: Seconds between two updates of the live run's checkpoints (each re-lays out the tree).
    LIVE_INTERVAL = 0.5

    def __init__(
        self,
        runs_dir: Path,
        data_dir: Path | None = None,
        device: str = "auto",
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.runs_dir = runs_dir
        #: What the screens the panel opens read the data set from and evaluate on.
        self.data_dir = data_dir
        self.device = device
        #: The data set once the app has loaded it (the screens then need not read it again).
        self.dataset: Any = None
        self.runs: list[RunEntry] = []
        #: The run being trained in this app, marked "live".
        self.live_run: Path | None = None
        self._signature: tuple[Any, ...] | None = None
        #: Each run.json as last parsed by `runs_signature` (re-read when its stat changes).
        self._run_json_cache: RunJsonCache = {}
        self._rescan_pending = False
        #: Checkpoints of the live run written since the last update of the tree.
        self._written: list[tuple[Path, Path, str, int, dict[str, Any]]] = []
        self._details_shown = ""
        #: Where `select_run` put the cursor, until the user moves it: a rebuild of the tree
        #: that was under way (its cursor read before the select) must not put it back.
        self._chosen: Path | None = None
        self._rebuilding = False  # from show_runs until its cursor is restored
        #: Where that restore puts the cursor: a second rebuild before it (two scans close
        #: together) must aim there too, not at the rebuilt tree's cursor line, which may now
        #: hold another run.
        self._restoring: Path | None = None
        #: Rebuilds so far: a restore scheduled by an earlier one is stale (a later restore
        #: puts the cursor back itself).
        self._rebuilds = 0
        #: Runs marked for comparison, in the order they were marked.
        self.marked: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Label(f"runs in {self.runs_dir}", id="panel-title")
        tree: Tree[RunEntry | CheckpointEntry | None] = Tree("runs", id="run-tree")
        tree.show_root = False
        tree.auto_expand = False
        yield tree
        with VerticalScroll(id="details-scroll"):
            yield Static("loading…", id="details")
        yield Static(self.KEYS_HINT, id="panel-keys")

    def start_watching(self, interval: float = 2.0) -> None:
        """Scan now, then notice changes on disk every `interval` seconds."""
        self.rescan()
        self.set_interval(interval, self._poll)

    # -- reading the disk ---------------------------------------------------------------

    def action_rescan(self) -> None:
        """Read the runs directory again (the palette's command)."""
        self.rescan()

    def rescan(self) -> None:
        """Read the runs directory again (soon: several calls in a row make one scan)."""
        if not self._rescan_pending:
            self._rescan_pending = True
            self.set_timer(0.05, self._scan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def _scan(self) -> list[RunEntry]:
        self._rescan_pending = False
        self._signature = runs_signature(self.runs_dir, self._run_json_cache)
        return scan_runs(self.runs_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def _poll(self) -> bool:
        """Whether a run was added, changed or removed by another process (the live run's
        own changes are followed from its events, so they are left out)."""
        live = self.live_run.name if self.live_run is not None else None
        now = runs_signature(self.runs_dir, self._run_json_cache)
        return _without(now, live) != _without(self._signature or (), live)

    def checkpoint_written(
        self, run_path: Path, path: Path, kind: str, epoch: int, metrics: dict[str, Any]
    ) -> None:
        """A checkpoint of the live run was written: show it soon, from the event itself
        (`metrics`: its epoch's row), without reading the disk. Several in a row (last, best,
        epoch-N of one epoch; many short epochs) make one update every `LIVE_INTERVAL`."""
        self._written.append((run_path, path, kind, epoch, metrics))
        if len(self._written) == 1:
            self.set_timer(self.LIVE_INTERVAL, self._apply_written)

    def _apply_written(self) -> None:
        written, self._written = self._written, []
        for run_path, path, kind, epoch, metrics in written:
            node = self._node_for(run_path)
            if node is None or not isinstance(node.data, RunEntry) or node.data.error:
                self.rescan()  # a run the tree does not show yet
                return
            self._update_run(_with_checkpoint(node.data, path, kind, epoch, metrics))

    def _update_run(self, entry: RunEntry) -> None:
        """Put a re-read run in its place in the tree (a full rescan when it is new)."""
        node = self._node_for(entry.path)
        if node is None or not isinstance(node.data, RunEntry):
            self.rescan()
            return
        self.runs = [entry if run.path == entry.path else run for run in self.runs]
        node.data = entry
        node.set_label(self._label(entry))
        _sync_leaves(node, entry.checkpoints)
        cursor = self.tree.cursor_node
        if cursor is not None and cursor.data is not None:
            self._show_details(cursor.data)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker: Worker[Any] = event.worker
        if worker.group == "scan" and event.state == WorkerState.SUCCESS:
            self.show_runs(worker.result or [])
        elif worker.group == "scan" and event.state == WorkerState.ERROR:
            self._details_shown = ""
            self.query_one("#details", Static).update(
                Text(f"cannot read {self.runs_dir}: {worker.error}", style="red")
            )
        elif worker.group == "poll" and event.state == WorkerState.SUCCESS and worker.result:
            self.rescan()
        if worker.group in ("scan", "poll"):
            event.stop()

    # -- the tree -----------------------------------------------------------------------

    @property
    def tree(self) -> Tree[RunEntry | CheckpointEntry | None]:
        return self.query_one("#run-tree", Tree)

    def show_runs(self, runs: list[RunEntry]) -> None:
        """Rebuild the tree from `runs`, keeping expanded runs and the cursor where they were."""
        tree = self.tree
        expanded = {n.data.path for n in tree.root.children if n.is_expanded and n.data}
        cursor = tree.cursor_node.data if tree.cursor_node else None
        if self._rebuilding:  # the last rebuild's cursor is not restored yet
            cursor_path = self._chosen or self._restoring
        else:
            cursor_path = self._chosen or getattr(cursor, "path", None)
        self._rebuilding, self._restoring = True, cursor_path
        self._rebuilds += 1
        first_scan = not self.runs and not expanded
        self.runs = runs
        tree.clear()
        if not runs:
            tree.root.add_leaf(Text(f"no runs yet in {self.runs_dir}", style="dim"), data=None)
            self._show_details(None)
            self._rebuilding = False
            return
        for index, run in enumerate(runs):
            live = self.live_run is not None and run.path == self.live_run
            node = tree.root.add(self._label(run), data=run)
            for checkpoint in run.checkpoints:
                node.add_leaf(checkpoint_label(checkpoint), data=checkpoint)
            if run.path in expanded or live or (first_scan and index == 0):
                node.expand()
        self.call_after_refresh(self._restore_cursor, cursor_path, self._rebuilds)
        self.post_message(self.RunsShown(list(runs)))
        kept = [path for path in self.marked if any(run.path == path for run in runs)]
        if kept != self.marked:
            self.marked = kept
            self.post_message(self.MarksChanged(list(kept)))

    def _restore_cursor(self, path: Path | None, rebuild: int | None = None) -> None:
        if rebuild is not None and rebuild != self._rebuilds:
            return  # a later rebuild restores the cursor itself
        path = self._chosen or path
        self._rebuilding = False
        tree = self.tree
        target = self._node_for(path) if path is not None else None
        if target is not None:
            # From the top, then as little as it takes to show the cursor: a run that just
            # appeared (or ended) at the top stays in view whenever both fit.
            tree.scroll_to(y=0, animate=False, immediate=True)
            self._move_cursor_to(target)
        elif tree.cursor_line < 0 and tree.root.children:
            tree.cursor_line = 0
        node = tree.cursor_node
        self._show_details(node.data if node else None)

    def _node_for(self, path: Path) -> TreeNode[Any] | None:
        for run_node in self.tree.root.children:
            if run_node.data is not None and run_node.data.path == path:
                return run_node
            for child in run_node.children:
                if child.data is not None and child.data.path == path:
                    return child
        return None

    def run_entry(self, path: Path) -> RunEntry | None:
        return next((run for run in self.runs if run.path == path), None)

    def checkpoint_entry(self, path: Path) -> CheckpointEntry | None:
        """The checkpoint file `path` as the last scan read it, or None."""
        run = self.run_entry(path.parent.parent)
        return next((c for c in run.checkpoints if c.path == path), None) if run else None

    def _label(self, entry: RunEntry) -> Text:
        live = self.live_run is not None and entry.path == self.live_run
        mark = None
        if entry.path in self.marked:
            mark = colours_for([p.name for p in self.marked])[entry.path.name].rich
        return run_label(entry, live, mark)

    def _relabel_runs(self) -> None:
        for node in self.tree.root.children:
            if isinstance(node.data, RunEntry):
                node.set_label(self._label(node.data))

    def action_toggle_mark(self) -> None:
        """Mark (or unmark) the run under the cursor for comparison."""
        run_path, _ = self._paths(self.tree.cursor_node.data if self.tree.cursor_node else None)
        if run_path is None:
            return
        if run_path in self.marked:
            self.marked.remove(run_path)
        else:
            self.marked.append(run_path)
        self._relabel_runs()
        self.post_message(self.MarksChanged(list(self.marked)))

    def action_clear_marks(self) -> None:
        """Unmark every run: the charts show the run on screen again."""
        if self.marked:
            self.marked = []
            self._relabel_runs()
            self.post_message(self.MarksChanged([]))

    def select_run(self, run_path: Path) -> None:
        """Move the cursor to a run (chosen elsewhere, in the runs table)."""
        self._chosen = run_path
        node = self._node_for(run_path)
        if node is not None:
            self._move_cursor_to(node)

    def _move_cursor_to(self, node: TreeNode[Any]) -> None:
        """Put the cursor on `node`, laying the tree's lines out first.

        Tree.move_cursor goes to the node's line number, which a rebuilt tree only knows
        once its lines are laid out (at its next render, or when asked for them); before
        that it is -1, and the cursor landed on line 0: the newest run (seen in CI dry runs,
        when a rebuild's restore ran after a refresh that had not drawn the tree)."""
        tree = self.tree
        _ = tree.last_line  # builds the lines: every shown node gets its line number
        tree.move_cursor(node, animate=False)

    def mark_live(self, run_path: Path | None) -> None:
        """Mark the run being trained (None when training ends) and read the disk again."""
        self.live_run = run_path
        self.rescan()

    # -- what the cursor is on ---------------------------------------------------------

    def cursor_paths(self) -> tuple[Path | None, Path | None]:
        """The run and the checkpoint (None on a run's own row) under the cursor."""
        node = self.tree.cursor_node
        return self._paths(node.data if node is not None else None)

    def target_checkpoint(self) -> CheckpointEntry | None:
        """The highlighted checkpoint, or the highlighted run's best (else last) one; None,
        said why, where there is none."""
        node = self.tree.cursor_node
        data = node.data if node is not None else None
        if isinstance(data, CheckpointEntry):
            entry: CheckpointEntry | None = data
        elif isinstance(data, RunEntry):
            readable = [c for c in data.checkpoints if c.error is None]
            entry = min(readable, key=lambda c: KIND_ORDER.get(c.kind, 3), default=None)
            if entry is None:
                self.notify(f"{data.name} has no readable checkpoint.")
                return None
        else:
            self.notify(HIGHLIGHT_FIRST)
            return None
        if entry is not None and not entry.path.exists():  # deleted since the last scan
            self.notify("That checkpoint is gone; the panel reads the disk again.")
            self.rescan()
            return None
        return entry

    def target_run(self) -> Path | None:
        """The highlighted run (or the run of the highlighted checkpoint); None, said why."""
        run_path, _ = self.cursor_paths()
        if run_path is None:
            self.notify("Highlight a run in the panel first (ctrl+o).")
        return run_path

    def continuing(self, entry: CheckpointEntry, forking: bool) -> StartFrom | None:
        """What Start would continue from with `entry` (None, said why, where it cannot)."""
        if entry.error is not None:
            self.notify(f"{entry.path.name}: {entry.error}", severity="error")
            return None
        try:
            parent = TrainConfig.from_dict(entry.config)
        except (ConfigError, TypeError) as exc:
            self.notify(f"{entry.path.name}: config not readable ({exc})", severity="error")
            return None
        run = self.run_entry(entry.path.parent.parent)
        latest = bool(run and run.metrics) and run.metrics[-1].get("epoch") == entry.epoch
        return StartFrom(entry.path, entry.epoch or 0, parent, latest, forking)

    # -- the keys: look inside --------------------------------------------------------

    def action_evaluate(self) -> None:
        """Evaluate the highlighted checkpoint (a run: its best) on the test set."""
        from tui.screens.evaluate import EvaluateScreen

        entry = self.target_checkpoint()
        if entry is not None:
            screen = EvaluateScreen(entry.path, self.data_dir, self.device, dataset=self.dataset)
            self.app.push_screen(screen)

    def action_digits(self) -> None:
        """Page through the training and test digits."""
        from tui.screens.digits import DigitsScreen

        self.app.push_screen(DigitsScreen(self.data_dir, dataset=self.dataset))

    def action_draw(self) -> None:
        """Draw a digit and see the highlighted checkpoint (a run: its best) classify it."""
        from tui.screens.draw import DrawScreen

        entry = self.target_checkpoint()
        if entry is not None:
            self.app.push_screen(DrawScreen(entry.path, self.data_dir, dataset=self.dataset))

    def action_weights(self) -> None:
        """The hidden units' incoming weights as images, sortable; Enter shows one large."""
        from tui.screens.weights import WeightsScreen

        entry = self.target_checkpoint()
        if entry is not None:
            self.app.push_screen(WeightsScreen(entry.path, self.data_dir, dataset=self.dataset))

    def action_gradcheck(self) -> None:
        """Check the hand-written gradients at the checkpoint's weights (finite differences,
        autograd), as `mnist-tui gradcheck` does."""
        from tui.screens.gradcheck import GradcheckScreen

        entry = self.target_checkpoint()
        if entry is not None:
            screen = GradcheckScreen(entry.path, self.data_dir, dataset=self.dataset)
            self.app.push_screen(screen)

    def action_training_figures(self) -> None:
        """Chart the run's gradient norms, update/weight ratios and dead units per epoch."""
        from tui.screens.training_figures import TrainingFiguresScreen

        run = self.target_run()
        if run is not None:
            self.app.push_screen(TrainingFiguresScreen(run))

    # -- the keys: fork and resume ------------------------------------------------------

    def action_fork(self) -> None:
        """Fill the form from the checkpoint's config; Start then trains a new run from it."""
        self._continue_from(resume=False)

    def action_resume(self) -> None:
        """Fill the form to continue the checkpoint's run for more epochs."""
        self._continue_from(resume=True)

    def _continue_from(self, resume: bool) -> None:
        entry = self.target_checkpoint()
        start = self.continuing(entry, forking=not resume) if entry is not None else None
        if start is None:
            return
        config = start.parent
        if start.epoch >= config.epochs:  # the run ended there: as many epochs again
            config = dataclasses.replace(config, epochs=start.epoch + config.epochs)
        self.post_message(self.ContinueFrom(start, config))

    # -- the keys: tidy -----------------------------------------------------------------

    def action_label(self) -> None:
        """Edit the highlighted run's label and note."""
        from tui.screens.run_notes import RunNotesScreen

        run = self.target_run()
        if run is None:
            return

        def saved(info: Any) -> None:
            if info is not None:
                self.rescan()
                self.notify(f"{run.name}: label {info.label!r} saved" if info.label else "saved")

        self.app.push_screen(RunNotesScreen(run), saved)

    def action_export_csv(self) -> None:
        """Write the highlighted run's metrics as CSV beside its metrics log."""
        from mlp_core.export import export_metrics_csv
        from mlp_core.runs import RunError

        run = self.target_run()
        if run is None:
            return
        try:
            path = export_metrics_csv(run)
        except RunError as exc:
            self.notify(str(exc), title="Export failed", severity="error")
            return
        self.notify(str(path), title="Metrics written as CSV", timeout=10)

    def action_delete(self) -> None:
        """Delete the highlighted checkpoint, or run, after a confirmation."""
        from tui.screens.confirm import ConfirmScreen

        run, checkpoint = self.cursor_paths()
        if run is None:
            self.notify(HIGHLIGHT_FIRST)
            return
        if self._training(run):
            self.notify("That run is training: stop it first (ctrl+s).", severity="warning")
            return
        if checkpoint is not None:
            question = f"Delete the checkpoint {checkpoint.name} of {run.name}?"
        else:
            question = f"Delete the run {run.name} with all its checkpoints and metrics?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(run, checkpoint)

        self.app.push_screen(ConfirmScreen(question, title="Delete"), answered)

    def _training(self, run: Path) -> bool:
        """Whether the run is followed live here or was judged running at the last scan. (A
        run that began since is refused too: `mlp_core.runs` never deletes a run whose
        process holds its lock.)"""
        entry = self.run_entry(run)
        return run == self.live_run or (entry is not None and entry.status == "running")

    def _delete(self, run: Path, checkpoint: Path | None) -> None:
        from mlp_core.runs import RunError, delete_checkpoint, delete_run

        try:
            if checkpoint is not None:
                delete_checkpoint(checkpoint)
            else:
                delete_run(run)
        except RunError as exc:  # it began training while the question was asked, say
            self.notify(str(exc), title="Not deleted", severity="error")
            return
        self.notify(f"{(checkpoint or run).name} deleted")
        self.post_message(self.Deleted(run, checkpoint))
        self.rescan()

    # -- cursor and choice ---------------------------------------------------------------

    def _show_details(self, data: RunEntry | CheckpointEntry | None) -> None:
        if isinstance(data, RunEntry):
            text = run_details(data)
        elif isinstance(data, CheckpointEntry):
            text = checkpoint_details(data)
        else:
            text = Text("Enter on a run loads its curves and config.", style="dim")
        if text.plain != self._details_shown:  # an update re-lays out the screen: only if new
            # Each epoch of the live run changes its figures, not the text's shape: then a
            # repaint is enough (a layout of the whole screen costs 10-30 ms at 160x48).
            same_shape = _shape(text.plain) == _shape(self._details_shown)
            self._details_shown = text.plain
            self.query_one("#details", Static).update(text, layout=not same_shape)

    @staticmethod
    def _paths(data: RunEntry | CheckpointEntry | None) -> tuple[Path | None, Path | None]:
        if isinstance(data, RunEntry):
            return data.path, None
        if isinstance(data, CheckpointEntry):
            return data.path.parent.parent, data.path
        return None, None

    @on(Tree.NodeHighlighted, "#run-tree")
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        event.stop()
        if not self._rebuilding and getattr(event.node.data, "path", None) != self._chosen:
            self._chosen = None  # the user moved on: rebuilds keep the cursor where it is
        self._show_details(event.node.data)
        self.post_message(self.Highlighted(*self._paths(event.node.data)))

    @on(Tree.NodeSelected, "#run-tree")
    def _selected(self, event: Tree.NodeSelected[Any]) -> None:
        event.stop()
        if event.node.data is None:
            return
        if isinstance(event.node.data, RunEntry):
            event.node.expand()
        self._show_details(event.node.data)
        self.post_message(self.Selected(*self._paths(event.node.data)))


def _without(signature: tuple[Any, ...], name: str | None) -> tuple[Any, ...]:
    return tuple(item for item in signature if item[0] != name)


def _with_checkpoint(
    entry: RunEntry, path: Path, kind: str, epoch: int, metrics: dict[str, Any]
) -> RunEntry:
    """`entry` with the checkpoint just written (replacing one of the same file), its epoch's
    metrics row added, and files the engine pruned (keep top k) left out."""
    rows = [row for row in entry.metrics if row.get("epoch") != epoch]
    rows = sorted([*rows, metrics], key=lambda row: row.get("epoch", 0)) if metrics else rows
    best = next((row for row in reversed(rows) if row.get("is_best")), None)
    best_epoch = best.get("epoch") if best else None
    shown = {"val_accuracy", "val_loss", "test_accuracy", "test_loss", "train_loss"}
    new = CheckpointEntry(
        path=path,
        kind=kind,
        epoch=epoch,
        metrics={key: value for key, value in metrics.items() if key in shown},
        config=entry.config,
        created=datetime.now().isoformat(timespec="seconds"),
        size=path.stat().st_size if path.exists() else 0,
    )
    kept = [c for c in entry.checkpoints if c.path != path and c.path.exists()]
    checkpoints = [
        dataclasses.replace(c, is_best=c.kind == "best" or c.epoch == best_epoch)
        for c in [*kept, new]
    ]
    order = {"last": 0, "best": 1}
    checkpoints.sort(key=lambda c: (order.get(c.kind, 2), c.path.name))
    return dataclasses.replace(entry, metrics=rows, checkpoints=checkpoints)


def _shape(plain: str) -> list[int]:
    """Each line's length: two texts of one shape take the same room on screen."""
    return [len(line) for line in plain.split("\n")]


def _sync_leaves(node: TreeNode[Any], checkpoints: Sequence[CheckpointEntry]) -> None:
    """Make a run node's leaves show `checkpoints`. The same files as before (last and best
    rewritten each epoch): relabel them in place, a repaint; only a new or removed file
    rebuilds the leaves, which makes the tree (and the screen) lay out again."""
    children = list(node.children)
    if [child.data.path for child in children] != [c.path for c in checkpoints]:
        node.remove_children()
        for checkpoint in checkpoints:
            node.add_leaf(checkpoint_label(checkpoint), data=checkpoint)
        return
    for child, checkpoint in zip(children, checkpoints, strict=True):
        child.data = checkpoint
        label = checkpoint_label(checkpoint)
        if child.label != label:
            child.set_label(label)
