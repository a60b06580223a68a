"""Pilot tests of the app's main path: fill the form by keyboard and train (in a run process the
app follows; stopping and quitting are in test_app_runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from app_helpers import (
    QUICK,
    fill_form,
    make_app,
    run_async,
    set_form,
    type_field,
    wait_loaded,
    wait_until,
)
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.results import BEST_MARK, ResultsTable


@run_async
async def test_keyboard_form_trains_and_fills_table_charts_and_panel(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        await fill_form(app, pilot, QUICK)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        await pilot.pause(0.5)

        assert "finished" in app.sub_title and "cpu" in app.sub_title
        table = app.query_one(ResultsTable)
        assert table.row_count == 3
        assert sorted(table.rows_by_epoch) == [1, 2, 3]
        best = table.best_epoch
        assert best is not None
        assert BEST_MARK in str(table.get_cell(str(best), "epoch"))
        assert table.rows_by_epoch[3]["val_accuracy"] > 0.5

        loss = app.query_one(LossChart).series
        accuracy = app.query_one(AccuracyChart).series
        assert [epoch for epoch, _ in loss["train"]] == [1, 2, 3]
        assert len(loss["val"]) == len(loss["test"]) == 3
        assert [e for e, _ in accuracy["test"]] == [1, 2, 3]
        assert all(0 < value <= 100 for _, value in accuracy["val"])

        runs = [p.parent for p in (tmp_path / "runs").glob("*/run.json")]
        assert len(runs) == 1
        config = json.loads((runs[0] / "run.json").read_text())["config"]
        assert (config["hidden"], config["epochs"], config["val_split"]) == (32, 3, 100)

        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: panel.runs and panel.runs[0].checkpoints)
        kinds = {c.kind for c in panel.runs[0].checkpoints}
        assert {"last", "best"} <= kinds
        run_node = panel.tree.root.children[0]
        assert run_node.data.path == runs[0]
        labels = [str(child.label) for child in run_node.children]
        assert any(label.startswith("last") and "e3" in label for label in labels)
        assert any(BEST_MARK in label for label in labels)


@run_async
async def test_invalid_field_refuses_start_and_says_why(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, QUICK)
        await type_field(app, pilot, "hidden", "0", tab=False)
        reason = app.query_one("#reason-hidden")
        assert reason.display and "must be positive" in str(reason.render())
        assert app.query_one("#field-hidden").has_class("-invalid")

        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert not app.is_training
        assert not list((tmp_path / "runs").glob("*/run.json"))
        assert any("hidden must be positive" in n.message for n in app._notifications)
        assert app.focused is not None and app.focused.id == "field-hidden"

        # A cross-field rule: Nesterov needs momentum, shown next to Nesterov.
        await type_field(app, pilot, "hidden", "32", tab=False)
        await type_field(app, pilot, "momentum", "0", tab=False)
        assert "needs momentum > 0" in str(app.query_one("#reason-nesterov").render())
        assert not app.query_one("#reason-hidden").display

        # val_split must fit the loaded data set (600 training images here).
        await type_field(app, pilot, "momentum", "0.9", tab=False)
        await type_field(app, pilot, "val_split", "600", tab=False)
        assert "smaller than the training set (600)" in str(
            app.query_one("#reason-val_split").render()
        )
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert not app.is_training


@run_async
async def test_preset_selector_fills_the_form(tmp_path: Path, tiny_dataset: Dataset) -> None:
    from textual.widgets import Select

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        app.query_one("#preset", Select).value = "lab"
        await pilot.pause(0.2)
        values = app.query_one("#form").raw_values()
        assert (values["hidden"], values["lr"], values["init"], values["val_split"]) == (
            128,
            0.01,
            "normal",
            0,
        )
        assert values["device"] == "cpu"  # the device chosen at launch stays
