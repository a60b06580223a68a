"""The checkpoint panel in the app: a past run looked at as if it had just run; unreadable
files listed with their reason; app state for other screens to act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app_helpers import (
    make_app,
    past_run,
    run_async,
    screen_lines,
    set_form,
    wait_loaded,
    wait_until,
)
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from tui.catalog import scan_run, scan_runs
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm
from tui.widgets.results import ResultsTable


def _break_files(runs_dir: Path, good_run: Path) -> None:
    """An unreadable run folder and a corrupt checkpoint beside a good one."""
    broken = runs_dir / "20200101-000000-h1-lr1-b1"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "run.json").write_text("{ not json")
    (good_run / "checkpoints" / "epoch-0009.safetensors").write_bytes(b"\x00garbage")


@run_async
async def test_select_a_past_run_loads_its_curves_table_and_config(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    older = past_run(runs_dir, tiny_dataset, epochs=2, hidden=24)
    newer = past_run(runs_dir, tiny_dataset, epochs=3, hidden=40)
    _break_files(runs_dir, older)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 3)
        assert [run.path for run in panel.runs][:2] == [newer, older]  # newest first

        await pilot.press("ctrl+o")  # the panel is shown at 160 columns: this focuses it
        assert app.focused is panel.tree
        await pilot.press("enter")  # the newest run, under the cursor
        await pilot.pause(0.3)
        assert app.selected_run == newer and app.selected_checkpoint is None
        table = app.query_one(ResultsTable)
        assert sorted(table.rows_by_epoch) == [1, 2, 3]
        assert [e for e, _ in app.query_one(LossChart).series["train"]] == [1, 2, 3]
        assert len(app.query_one(AccuracyChart).series["val"]) == 3
        assert app.query_one(ConfigForm).raw_values()["hidden"] == 40
        assert app.run_state == "viewing finished run"

        await pilot.press("down")  # its first checkpoint: last
        await pilot.pause(0.2)
        assert app.selected_run == newer
        assert app.selected_checkpoint == newer / "checkpoints" / "last.safetensors"
        details = "\n".join(screen_lines(app))
        assert "size" in details and "KiB" in details and "saved" in details
        assert "hidden" in details and "test_accuracy" in details


@run_async
async def test_unreadable_files_are_listed_with_their_reason(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    good = past_run(runs_dir, tiny_dataset, epochs=1)
    _break_files(runs_dir, good)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 2)
        broken = next(run for run in panel.runs if run.error is not None)
        assert "cannot read" in broken.error
        corrupt = next(c for c in panel.runs[0].checkpoints if c.path.name.startswith("epoch"))
        assert corrupt.error is not None
        labels = [str(node.label) for node in panel.tree.root.children]
        assert any("unreadable" in label for label in labels)
        # Enter on the broken run explains instead of failing.
        broken_node = next(n for n in panel.tree.root.children if n.data is broken)
        panel.tree.move_cursor(broken_node)
        panel.tree.focus()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert any("cannot read" in n.message for n in app._notifications)
        assert "cannot read" in "\n".join(screen_lines(app))


@run_async
async def test_continue_from_the_highlighted_checkpoint(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    run = past_run(runs_dir, tiny_dataset, epochs=2, hidden=24)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 1)
        await pilot.press("ctrl+o", "enter", "down")  # the run's config in the form; "last"
        await pilot.pause(0.2)
        assert app.selected_checkpoint == run / "checkpoints" / "last.safetensors"
        set_form(app, {"epochs": "3"})
        await app.run_action("resume_selected")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        await pilot.pause(0.2)
        assert app.run_state == "finished"
        # Same config but epochs: resumed in place, epochs 1-2 inherited, 3 trained now.
        assert sorted(app.query_one(ResultsTable).rows_by_epoch) == [1, 2, 3]
        assert [p.parent.name for p in runs_dir.glob("*/run.json")] == [run.name]


def test_scan_reads_metadata_marks_best_and_survives_junk(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    run = past_run(runs_dir, tiny_dataset, epochs=2)
    _break_files(runs_dir, run)
    (runs_dir / "not-a-run").mkdir()
    entries = scan_runs(runs_dir)
    assert len(entries) == 2
    good = next(e for e in entries if e.error is None)
    by_kind = {c.kind: c for c in good.checkpoints}
    assert by_kind["last"].epoch == 2 and by_kind["last"].size > 0
    assert by_kind["best"].is_best
    assert by_kind["best"].epoch == good.best["epoch"]
    assert by_kind["epoch"].error is not None
    assert scan_runs(tmp_path / "missing") == []


def _hand_edited_runs(runs_dir: Path) -> dict[str, Path]:
    """Run folders edited by hand: run.json not an object, a status of the wrong type, and a
    metrics log with lines that are no epoch rows or hold text where numbers belong."""
    folders = {}
    for name, run_json in (
        ("20200101-000001-list", "[]"),
        ("20200101-000002-status", '{"status": 5}'),
        ("20200101-000003-odd", '{"status": "finished", "parent": {"run": "x", "epoch": 1}}'),
    ):
        folder = runs_dir / name
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(run_json)
        folders[name.rsplit("-", 1)[1]] = folder
    (folders["status"] / "metrics.jsonl").write_text(
        '{"foo": 1}\n1\n{"epoch": 1, "is_best": true, "val_accuracy": "x", "train_loss": "bad"}\n'
        '{"epoch": 2, "train_loss": 0.5, "val_accuracy": 0.9}\n'
    )
    return folders


def test_any_error_while_reading_one_run_marks_only_that_run(
    tmp_path: Path, monkeypatch: object
) -> None:
    import mlp_core.inspect

    runs_dir = tmp_path / "runs"
    folders = _hand_edited_runs(runs_dir)

    def lineage_fails(path: Path) -> str:
        raise RuntimeError("unexpected trouble")

    monkeypatch.setattr(mlp_core.inspect, "lineage_text", lineage_fails)  # type: ignore[attr-defined]
    entries = {entry.path: entry for entry in scan_runs(runs_dir)}
    assert len(entries) == 3
    assert "unexpected trouble" in (entries[folders["odd"]].error or "")
    assert entries[folders["list"]].error is not None
    assert entries[folders["status"]].error is None
    assert "unexpected trouble" in (scan_run(folders["odd"]).error or "")


@run_async
async def test_hand_edited_runs_are_listed_and_shown_without_crashing(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    folders = _hand_edited_runs(runs_dir)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 3)
        labels = "\n".join(str(node.label) for node in panel.tree.root.children)
        assert "unreadable" in labels and "5" in labels
        app.show_run(folders["status"])
        await pilot.pause(0.2)
        table = app.query_one(ResultsTable)
        assert sorted(table.rows_by_epoch) == [1, 2]  # the lines without an epoch skipped
        assert [e for e, _ in app.query_one(LossChart).series["train"]] == [2]  # "bad" skipped
        assert app.query_one(AccuracyChart).series["val"] == [(2, 90.0)]
        panel.select_run(folders["status"])
        await pilot.pause(0.2)
        assert "best     epoch 1: val –" in "\n".join(screen_lines(app))
        assert app.is_running


@run_async
async def test_an_unreadable_checkpoint_fails_the_launch_with_the_reason(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    run = past_run(runs_dir, tiny_dataset, epochs=1)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 1)
        set_form(app, {"hidden": "24", "epochs": "2", "batch_size": "64", "val_split": "100"})
        last = run / "checkpoints" / "last.safetensors"
        last.write_bytes(b"\x00garbage")  # spoilt after the panel read it
        app.selected_run, app.selected_checkpoint = run, last
        await app.run_action("resume_selected")
        await wait_until(pilot, lambda: app.run_state.startswith("failed"), timeout=60)
        assert app.run_state == "failed (launch)" and not app.is_training
        failed = [n for n in app._notifications if n.title == "Run failed: launch"]
        assert failed and failed[0].message  # the run process's own reason


@run_async
async def test_the_panel_follows_a_long_run_and_runs_made_elsewhere(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """Each checkpoint shows in the panel while the run goes on, and a run folder made by
    another process meanwhile appears too."""
    from mlp_core.config import TrainConfig
    from mlp_core.runproc import launch_run, stop_run

    runs_dir = tmp_path / "runs"
    config = TrainConfig(hidden=16, epochs=300, batch_size=16, val_split=100, device="cpu")
    app = make_app(runs_dir, tiny_dataset)
    run_dir = launch_run(runs_dir, config, data_dir=app.data_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        app.follow(run_dir)

        def shown_epochs() -> set[int]:
            node = panel._node_for(run_dir)
            return {c.data.epoch for c in node.children} if node else set()

        # The last checkpoint's epoch moves on in the tree while the run trains.
        await wait_until(pilot, lambda: max(shown_epochs(), default=0) >= 2, timeout=60)
        seen = max(shown_epochs())
        await wait_until(pilot, lambda: max(shown_epochs()) > seen, timeout=30)
        assert app.is_training
        other = past_run(runs_dir, tiny_dataset, epochs=1, hidden=8)  # another process's run
        await wait_until(pilot, lambda: panel.run_entry(other) is not None, timeout=5)
        assert app.is_training
        best = next(c for c in panel.run_entry(run_dir).checkpoints if c.kind == "best")
        assert best.val_accuracy is not None and best.is_best
        assert stop_run(run_dir) == "stopped"
        await wait_until(pilot, lambda: not app.is_training, timeout=10)


@run_async
async def test_a_rewritten_checkpoint_is_relabelled_in_place_not_rebuilt(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """Each epoch rewrites last (and best): the panel relabels those leaves, it does not
    remove and re-add them (that lays out the whole screen again, every epoch, on the
    cores the run trains on). A new file does add a leaf."""
    from mlp_core.runs import read_metrics

    runs_dir = tmp_path / "runs"
    run_dir = past_run(runs_dir, tiny_dataset, epochs=2)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: panel._node_for(run_dir) is not None)
        await pilot.pause(0.5)  # the first scans are over
        node = panel._node_for(run_dir)
        leaves = list(node.children)
        assert [leaf.data.kind for leaf in leaves] == ["last", "best"]
        row = {**read_metrics(run_dir)[-1], "epoch": 7}
        last = run_dir / "checkpoints" / "last.safetensors"
        panel.checkpoint_written(run_dir, last, "last", 7, row)
        await wait_until(pilot, lambda: panel._node_for(last).data.epoch == 7)
        assert panel._node_for(run_dir) is node
        assert list(node.children) == leaves  # the same nodes, relabelled
        assert "7" in node.children[0].label.plain

        extra = run_dir / "checkpoints" / "epoch-0007.safetensors"
        extra.write_bytes(last.read_bytes())
        panel.checkpoint_written(run_dir, extra, "epoch", 7, row)
        await wait_until(pilot, lambda: panel._node_for(extra) is not None)
        assert len(panel._node_for(run_dir).children) == 3


@run_async
async def test_a_run_chosen_while_the_tree_is_rebuilt_keeps_the_cursor(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """A rescan (another process made a run) rebuilds the tree and puts the cursor back
    where it was when the rebuild began; a run chosen meanwhile (Enter in the runs table)
    must keep it."""
    runs_dir = tmp_path / "runs"
    older = past_run(runs_dir, tiny_dataset, epochs=1, hidden=8)
    newer = past_run(runs_dir, tiny_dataset, epochs=1, hidden=12)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 2)
        panel.select_run(older)
        await wait_until(pilot, lambda: app.selected_run == older)
        panel.show_runs(scan_runs(runs_dir))  # a rebuild begins with the cursor on older ...
        panel.select_run(newer)  # ... and newer is chosen before it ends
        await pilot.pause(0.3)
        assert panel.tree.cursor_node.data.path == newer
        assert app.selected_run == newer
        panel.tree.focus()  # the user moves on, by keys, to older (either side of newer):
        await pilot.pause()
        for key in ["up"] * 4 + ["down"] * 8:  # a later rebuild keeps the cursor there
            if app.selected_run == older:
                break
            await pilot.press(key)
            await pilot.pause(0.1)
        assert app.selected_run == older
        panel.show_runs(scan_runs(runs_dir))
        await pilot.pause(0.3)
        assert app.selected_run == older


@asynccontextmanager
async def runs_in_the_panel(
    tmp_path: Path, tiny_dataset: Dataset, count: int
) -> AsyncIterator[tuple[Any, CheckpointPanel]]:
    """The app at 160x48 with `count` finished runs shown in the panel: (pilot, panel)."""
    runs_dir = tmp_path / "runs"
    for hidden in range(8, 8 + count):
        past_run(runs_dir, tiny_dataset, epochs=1, hidden=hidden)
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == count)
        await pilot.pause(0.3)
        yield pilot, panel


@run_async
async def test_a_new_run_at_the_top_stays_in_view_when_the_cursor_is_near_it(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """The tree scrolled a little (the newest runs above the top edge), the cursor on a run
    still near the top: when a new run appears at the top, the rebuild scrolls back to the
    top as long as the cursor still fits, so the new run is seen."""
    async with runs_in_the_panel(tmp_path, tiny_dataset, 30) as (pilot, panel):
        runs_dir, tree = panel.runs_dir, panel.tree
        assert tree.max_scroll_y > 4  # more runs than rows: the tree scrolls
        tree.scroll_to(y=3, animate=False, immediate=True)
        tree.move_cursor(tree.root.children[6], animate=False)
        await pilot.pause(0.2)
        assert tree.scroll_offset.y == 3
        newest = past_run(runs_dir, tiny_dataset, epochs=1, hidden=99)
        await wait_until(pilot, lambda: panel.run_entry(newest) is not None, timeout=10)
        await pilot.pause(0.3)
        assert tree.scroll_offset.y == 0  # the new run, on the first line, is in view
        assert tree.cursor_node.data.path == panel.runs[7].path  # the same run, one lower


@run_async
async def test_two_rebuilds_close_together_keep_the_cursor_on_its_run(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """Two scans can land before the first rebuild has put the cursor back (a run that
    appears running, then finishes at once): the first rebuild's restore, run after the
    second rebuild, must not move the cursor, and the second aims at the run the first one
    aimed at."""
    async with runs_in_the_panel(tmp_path, tiny_dataset, 6) as (pilot, panel):
        tree = panel.tree
        tree.move_cursor(tree.root.children[-1], animate=False)
        await pilot.pause(0.2)
        chosen = tree.cursor_node.data.path
        newest = past_run(panel.runs_dir, tiny_dataset, epochs=1, hidden=99)
        runs = scan_runs(panel.runs_dir)
        assert runs[0].path == newest
        panel.show_runs(runs)
        first = panel._rebuilds
        panel.show_runs(runs)  # before the first rebuild's cursor is restored
        line = tree.cursor_line
        panel._restore_cursor(newest, first)  # the first rebuild's restore, now stale
        assert tree.cursor_line == line  # it did nothing
        await pilot.pause(0.3)
        assert tree.cursor_node.data.path == chosen


@run_async
async def test_the_cursor_goes_to_its_run_in_a_tree_not_laid_out_yet(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """Right after a rebuild the tree's nodes have no line numbers until the tree is laid
    out: restoring the cursor then must still land on its run, not on line 0 (seen in CI
    dry runs: the cursor jumped to the newest run)."""
    async with runs_in_the_panel(tmp_path, tiny_dataset, 6) as (_pilot, panel):
        runs = scan_runs(panel.runs_dir)
        chosen = runs[-1].path
        panel.show_runs(runs)  # a fresh tree: its nodes' lines are not known yet
        assert panel._node_for(chosen).line == -1
        panel._restore_cursor(chosen, panel._rebuilds)
        assert panel.tree.cursor_node.data.path == chosen
