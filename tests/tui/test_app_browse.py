"""Pilot tests of the panel's keys in the app: evaluate, digits, compare, label, CSV, delete,
the runs table; and fork and resume from a checkpoint by keyboard."""

from __future__ import annotations

import json
import time
from pathlib import Path

from app_helpers import make_app, past_run, run_async, screen_lines, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from textual.pilot import Pilot

from data.mnist import Dataset
from mlp_core.runs import read_metrics
from tui.app import MnistApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.digits import DigitsScreen
from tui.screens.evaluate import EvaluateScreen
from tui.screens.run_notes import RunNotesScreen
from tui.screens.runs_table import RunsScreen
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm


async def put_cursor(app: MnistApp, pilot: Pilot, path: Path) -> None:
    """Move the panel's cursor to a run or checkpoint (expanding its run) and focus the tree.

    Again if a rescan rebuilt the tree meanwhile (a poll, or the scan after loading): the
    node moved to is then gone, and the rebuild puts the cursor back where it was."""
    panel = app.query_one(CheckpointPanel)
    is_checkpoint = path.name.endswith(".safetensors")
    run_path = path.parent.parent if is_checkpoint else path
    wanted = path if is_checkpoint else None
    started = time.monotonic()
    while time.monotonic() - started < 30:
        run_node = panel._node_for(run_path)
        assert run_node is not None, path
        run_node.expand()
        await pilot.pause()
        node = panel._node_for(path)
        assert node is not None, path
        panel.tree.move_cursor(node, animate=False)
        panel.tree.focus()
        await pilot.pause(0.2)
        if app.selected_checkpoint == wanted and app.selected_run == run_path:
            return
    raise AssertionError(f"the panel's cursor never stayed on {path}")


def _form_text(app: MnistApp, selector: str) -> str:
    return str(app.query_one(ConfigForm).query_one(selector).content)


@run_async
async def test_panel_keys_evaluate_compare_label_export_delete_and_runs_table(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    older = past_run(runs_dir, tiny_dataset, epochs=2, hidden=40)
    newer = past_run(runs_dir, tiny_dataset, epochs=2, hidden=24)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 2)

        # e on a checkpoint: the evaluation screen, with the app's data set; Escape closes.
        await put_cursor(app, pilot, newer / "checkpoints" / "last.safetensors")
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EvaluateScreen) and screen.dataset is tiny_dataset
        await wait_until(pilot, lambda: screen.inspection is not None)
        assert screen.inspection.result.count == len(tiny_dataset.test_labels)
        await pilot.press("escape")
        assert app.screen.query_one(CheckpointPanel) is panel
        await pilot.press("d")
        assert isinstance(app.screen, DigitsScreen)
        await pilot.press("escape")
        # A corrupt checkpoint: the screen says why, the app goes on.
        corrupt = newer / "checkpoints" / "epoch-0009.safetensors"
        corrupt.write_bytes(b"\x00garbage")
        panel.rescan()
        await wait_until(pilot, lambda: panel._node_for(corrupt) is not None)
        await put_cursor(app, pilot, corrupt)
        await pilot.press("e")
        failed = app.screen
        assert isinstance(failed, EvaluateScreen)
        await wait_until(pilot, lambda: failed.error is not None)
        await pilot.press("escape")
        corrupt.unlink()

        # m on two runs: their curves overlay, one line per run, named in the legend.
        await put_cursor(app, pilot, newer)
        await pilot.press("m")
        assert app.query_one(LossChart).compare_series is None  # one run: nothing to compare
        await put_cursor(app, pilot, older)
        await pilot.press("m")
        await pilot.pause()
        accuracy = app.query_one(AccuracyChart)
        names = [newer.name[16:], older.name[16:]]
        assert list(accuracy.compare_series) == names
        assert [len(points) for points in accuracy.compare_series.values()] == [2, 2]
        assert list(app.query_one(LossChart).compare_series) == names
        assert sum("◆" in str(node.label) for node in panel.tree.root.children) == 2
        await pilot.press("m")  # unmark the older one: back to the run's own curves
        await pilot.pause()
        assert accuracy.compare_series is None and list(accuracy.shown()) == ["val", "test"]

        # l: label and note; the label shows in the panel.
        await pilot.press("l")
        assert isinstance(app.screen, RunNotesScreen)
        await pilot.press(*"wide", "enter")
        await wait_until(pilot, lambda: "wide" in str(panel._node_for(older).label))
        assert json.loads((older / "run.json").read_text())["label"] == "wide"

        # c: the metrics as CSV, its path said.
        await pilot.press("c")
        csv_path = older / "metrics.csv"
        assert csv_path.is_file() and len(csv_path.read_text().splitlines()) == 3
        assert any(str(csv_path) in n.message for n in app._notifications)

        # Delete a checkpoint: No keeps it, Yes removes it; then the whole run.
        best = older / "checkpoints" / "best.safetensors"
        await put_cursor(app, pilot, best)
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert best.exists()
        await pilot.press("delete", "y")
        assert not best.exists()
        await wait_until(pilot, lambda: panel._node_for(best) is None)
        await put_cursor(app, pilot, older)
        await pilot.press("delete")
        await pilot.press("escape")
        assert older.exists()
        await pilot.press("delete", "y")
        assert not older.exists()
        await wait_until(pilot, lambda: len(panel.runs) == 1)

        # ctrl+l: the runs table; s/r sort it; Enter loads a run.
        third = past_run(runs_dir, tiny_dataset, epochs=1, hidden=32)
        await pilot.press("ctrl+l")
        table_screen = app.screen
        assert isinstance(table_screen, RunsScreen)
        await wait_until(pilot, lambda: len(table_screen.rows) == 2)
        assert [r["path"] for r in table_screen.rows] == [third, newer]  # by name, newest first
        for _ in range(6):  # name -> label -> val % -> test % -> best -> epochs -> hidden
            await pilot.press("s")
        assert table_screen.sort_by == "hidden"
        assert [r["hidden"] for r in table_screen.rows] == [32, 24]
        await pilot.press("r")
        assert [r["hidden"] for r in table_screen.rows] == [24, 32]
        await pilot.pause()
        assert "hidden ▲" in "\n".join(screen_lines(app))
        assert table_screen.chosen_path() == third  # the cursor stays on its run
        await pilot.press("up")  # the first row: hidden 24, the newer run
        await wait_until(pilot, lambda: table_screen.chosen_path() == newer)
        await pilot.press("enter")  # the app was viewing a finished run already: wait for it
        await wait_until(
            pilot,
            lambda: app.selected_run == newer and app.run_state == "viewing finished run",
        )
        assert len(app.history) == 2
        assert app.query_one(ConfigForm).raw_values()["hidden"] == 24



def _continues_from(form: ConfigForm) -> Path | None:
    """The checkpoint the form's next Start continues from, or None."""
    return form.start_from.checkpoint if form.start_from is not None else None

@run_async
async def test_fork_fills_the_form_records_the_parent_and_resume_continues(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    parent = past_run(runs_dir, tiny_dataset, epochs=2, hidden=24)
    last = parent / "checkpoints" / "last.safetensors"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 1)
        form = app.query_one(ConfigForm)

        # f: the form holds the checkpoint's config; Escape in the form leaves fork mode.
        await put_cursor(app, pilot, last)
        await pilot.press("f")
        assert _continues_from(form) == last
        # A finished run of 2 epochs: as many more; unchanged, still a fork (never a resume).
        assert form.raw_values()["hidden"] == 24 and form.raw_values()["epochs"] == 4
        assert "forks" in _form_text(app, "#form-from")
        assert app.focused is form.field("lr")
        await pilot.press("escape")
        assert _continues_from(form) is None and not form.query_one("#form-from").display

        # f again, change lr and epochs: the banner says fork, Start trains a new run.
        await put_cursor(app, pilot, last)
        await pilot.press("f")
        await pilot.press("end", "ctrl+u", *"0.01")
        form.field("epochs").focus()
        await pilot.press("end", "ctrl+u", "3")
        await pilot.pause()
        assert "forks" in _form_text(app, "#form-from") and parent.name in _form_text(
            app, "#form-from"
        )
        assert str(form.query_one("#start").label) == "Fork"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        assert app.run_state == "finished" and _continues_from(form) is None
        child = next(p.parent for p in runs_dir.glob("*/run.json") if p.parent != parent)
        info = json.loads((child / "run.json").read_text())
        assert info["parent"]["run"] == parent.name and info["parent"]["epoch"] == 2
        assert info["config"]["lr"] == 0.01
        await wait_until(pilot, lambda: (e := panel.run_entry(child)) is not None and e.lineage)
        assert panel.run_entry(child).lineage == f"forked from {parent.name}@2"
        assert "⑂" in str(panel._node_for(child).label)

        # r: more epochs of the same run, in place.
        await put_cursor(app, pilot, last)
        await pilot.press("r")
        assert form.raw_values()["epochs"] == 4  # finished at 2: two more
        assert "resumes" in _form_text(app, "#form-from")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        assert app.run_state == "finished"
        assert [m["epoch"] for m in read_metrics(parent)] == [1, 2, 3, 4]
        assert len(list(runs_dir.glob("*/run.json"))) == 2


@run_async
async def test_fork_with_an_unchanged_config_makes_a_new_run(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """f then Start with the form as it was filled: a new run from the checkpoint's weights;
    the run forked from keeps its own epochs (no silent resume that doubles them)."""
    runs_dir = tmp_path / "runs"
    parent = past_run(runs_dir, tiny_dataset, epochs=2, hidden=24)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 1)
        await put_cursor(app, pilot, parent / "checkpoints" / "last.safetensors")
        await pilot.press("f")
        assert str(app.query_one(ConfigForm).query_one("#start").label) == "Fork"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        assert [m["epoch"] for m in read_metrics(parent)] == [1, 2]
        children = [p.parent for p in runs_dir.glob("*/run.json") if p.parent != parent]
        assert len(children) == 1
        info = json.loads((children[0] / "run.json").read_text())
        assert info["parent"]["run"] == parent.name and info["parent"]["epoch"] == 2
        assert app.focused is not None  # focus left somewhere useful after ctrl+r
