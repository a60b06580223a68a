"""The checkpoint panel: the runs in the runs directory, newest first, each with its checkpoints,
and the details of the one under the cursor.

The panel reads the disk in a thread worker (`tui.catalog`), keeps the tree's expanded runs and
cursor across rescans, and rescans by itself when the runs directory changes (a checkpoint saved
by this app or by another process). It tells the app what the cursor is on with `Highlighted`
and what the user chose (Enter) with `Selected`; it never reaches into other widgets.

Runs can be marked for comparison (`m`): marks show in the tree in the colour the charts give
that run, and `MarksChanged` tells the app. The other keys of the panel (evaluate, fork,
resume, label, CSV, delete, digits) are the app's actions, bound here so that the Footer shows
them while the panel has the focus.
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

from mlp_core.text import printable
from tui.catalog import (
    CheckpointEntry,
    RunEntry,
    RunJsonCache,
    human_size,
    runs_signature,
    scan_runs,
)
from tui.colours import colours_for
from tui.format import number, percent, run_started

STATUS_STYLE = {
    "running": "bold green",
    "finished": "green",
    "stopped": "yellow",
    "interrupted": "yellow",
    "diverged": "red",
    "failed": "red",
}


def _when(name: str) -> str:
    """'20261127-221530-h1024...' -> '11-27 22:15' (the run's start, from its name)."""
    return run_started(name) or name[:11]


#: Run statuses as the tree shows them (short: the panel is narrow).
STATUS_WORD = {"finished": "done", "interrupted": "interr."}


#: A run's label in its panel row is cut to this many characters (the details show it whole).
LABEL_WIDTH = 16


def run_label(entry: RunEntry, live: bool, mark: str | None = None) -> Text:
    """``◆ 98.1% done 11-27 22:15 wide h1024 lr0.05`` (best validation accuracy, or test).

    The accuracy and the status come first: a long label or a narrow panel cuts the end of
    the row, never them. A label is shown printable (terminal escapes made visible) and cut.
    mark: the colour of the run in the compared charts, when it is marked.
    """
    if entry.error is not None:
        return Text.assemble((entry.name, "red"), (" unreadable", "bold red"))
    config = entry.config
    summary = f"h{config.get('hidden', '?')} lr{config.get('lr', 0):g}" if config else "?"
    best = entry.best or {}
    accuracy = number(best.get("val_accuracy", best.get("test_accuracy")))
    status = "live" if live else entry.status
    label = printable(entry.label or "")
    if len(label) > LABEL_WIDTH:
        label = label[: LABEL_WIDTH - 1] + "…"
    return Text.assemble(
        ("◆ " if mark else "", f"bold {mark}" if mark else ""),
        ("" if accuracy is None else f"{100 * accuracy:.1f}% ", "bold"),
        (STATUS_WORD.get(status, status), STATUS_STYLE.get("running" if live else status, "")),
        " ",
        (_when(entry.name), "dim"),
        " ",
        (f"{label} " if label else "", "bold italic"),
        ("⑂" if entry.parent else "", "cyan"),
        summary,
    )


def _points(value: float | None) -> str:
    """An accuracy in percent without the sign (the tree has no room for it)."""
    return " " + percent(value, sign=False)


def checkpoint_label(entry: CheckpointEntry) -> Text:
    """``best e7   val  98.12 test  98.05 ★``."""
    if entry.error is not None:
        return Text.assemble((entry.path.name, "red"), (" unreadable", "bold red"))
    return Text.assemble(
        (f"{entry.kind:<5}", "bold" if entry.kind == "best" else ""),
        f"e{entry.epoch:<3} ",
        ("val", "dim"),
        _points(entry.val_accuracy),
        (" test", "dim"),
        _points(entry.test_accuracy),
        (" ★" if entry.is_best else "", "bold yellow"),
    )


def _value(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and "accuracy" in key:
        return percent(value)
    if isinstance(value, float):
        return f"{value:.4g}" if key == "lr" else f"{value:.4f}"
    return str(value)


def _config_lines(config: dict[str, Any]) -> list[str]:
    return [
        f"  {name:<14} {value:g}" if isinstance(value, float) else f"  {name:<14} {value}"
        for name, value in config.items()
    ]


def run_details(entry: RunEntry) -> Text:
    if entry.error is not None:
        return Text.assemble(("unreadable run\n", "bold red"), f"{entry.path}\n{entry.error}")
    best = entry.best
    lines = [
        entry.name,
        f"status   {entry.status}" + (f" ({entry.run_error})" if entry.run_error else ""),
        f"created  {entry.created}",
        f"device   {entry.device}",
        f"data     {entry.dataset}",
        f"epochs   {len(entry.metrics)} of {entry.config.get('epochs', '?')}",
    ]
    if best:
        lines.append(
            f"best     epoch {best.get('epoch')}: val {percent(best.get('val_accuracy'))}, "
            f"test {percent(best.get('test_accuracy'))}"
        )
    if entry.label:
        lines.insert(1, f"label    {printable(entry.label)}")
    if entry.note:
        lines.insert(2 if entry.label else 1, f"note     {printable(entry.note)}")
    if entry.parent:
        lines.append(entry.lineage or f"forked from {entry.parent.get('run')}")
    lines += ["config", *_config_lines(entry.config)]
    return Text("\n".join(lines))


def checkpoint_details(entry: CheckpointEntry) -> Text:
    if entry.error is not None:
        return Text.assemble(
            ("unreadable checkpoint\n", "bold red"), f"{entry.path}\n{entry.error}"
        )
    metrics = entry.metrics
    lines = [
        entry.path.parent.parent.name,
        f"file     {entry.path.name}",
        f"kind     {entry.kind}" + ("  ★ (the best epoch)" if entry.is_best else ""),
        f"epoch    {entry.epoch}",
        f"saved    {entry.created}",
        f"size     {human_size(entry.size)}",
        "metrics",
    ]
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "lr"):
        lines.append(f"  {key:<14} {_value(key, metrics.get(key))}")
    lines += ["config", *_config_lines(entry.config)]
    return Text("\n".join(lines))


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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "app.evaluate", "Eval", tooltip="Evaluate the checkpoint on the test set"),
        Binding("f", "app.fork", "Fork", tooltip="Fill the form from the checkpoint to fork it"),
        Binding("r", "app.resume", "Resume", tooltip="Fill the form to resume for more epochs"),
        Binding("m", "toggle_mark", "Mark", tooltip="Mark the run to compare its curves"),
        Binding("l", "app.label", "Label", tooltip="Label and note of the run"),
        Binding("c", "app.export_csv", "CSV", tooltip="Export the run's metrics as CSV"),
        Binding("delete", "app.delete", "Delete", tooltip="Delete the run or checkpoint"),
        Binding("d", "app.digits", "Digits", show=False, tooltip="Page through the data set"),
        # Look inside the network (tui/app_inspect.py).
        Binding("p", "app.draw", "Draw", show=False, tooltip="Draw a digit to classify"),
        Binding("w", "app.weights", "Units", show=False, tooltip="Hidden units' weights"),
        Binding("g", "app.gradcheck", "Gradcheck", show=False, tooltip="Check the gradients"),
        Binding("t", "app.training_figures", "Figures", show=False, tooltip="Training figures"),
    ]
    #: The panel's keys in a line under it (the Footer has no room for them at 80 columns).
    KEYS_HINT = "e eval  f fork  r resume  m mark  l label  c csv  Del delete  d digits"

    #: Seconds between two updates of the live run's checkpoints (each re-lays out the tree).
    LIVE_INTERVAL = 0.5

    def __init__(self, runs_dir: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs_dir = runs_dir
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

    def clear_marks(self) -> None:
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
