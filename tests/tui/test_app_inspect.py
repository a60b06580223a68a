"""The look-inside screens from the app: the panel's keys p, w, g, t, the palette entries, and
the gradcheck and training-figures screens on a real run."""

from __future__ import annotations

import math
from pathlib import Path

from app_helpers import make_app, past_run, run_async, wait_loaded, wait_until
from test_app_browse import put_cursor
from textual.widgets import Static

from data.mnist import Dataset
from mlp_core.runs import read_metrics
from tui.keys import PALETTE_COMMANDS
from tui.screens.draw import DrawScreen
from tui.screens.gradcheck import GradcheckScreen
from tui.screens.training_figures import FigureChart, TrainingFiguresScreen
from tui.screens.weights import WeightsScreen
from tui.widgets.checkpoint_panel import CheckpointPanel


@run_async
async def test_panel_keys_open_the_look_inside_screens(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    run = past_run(runs_dir, tiny_dataset, epochs=3, hidden=24)
    checkpoint = run / "checkpoints" / "last.safetensors"
    app = make_app(runs_dir, tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 1)
        await put_cursor(app, pilot, checkpoint)
        for key, kind in (("p", DrawScreen), ("w", WeightsScreen)):
            await pilot.press(key)
            screen = app.screen
            assert isinstance(screen, kind) and screen.checkpoint_path == checkpoint
            assert screen.dataset is tiny_dataset
            await pilot.press("escape")
            await pilot.pause()

        await pilot.press("g")
        gradcheck = app.screen
        assert isinstance(gradcheck, GradcheckScreen)
        await wait_until(pilot, lambda: gradcheck.report is not None, timeout=60)
        assert gradcheck.report.passed and gradcheck.report.hidden == 24
        table = str(gradcheck.query_one("#gradcheck-table", Static).content)
        assert table.endswith("all gradients pass") and table.count("pass\n") == 4
        await pilot.press("escape")
        await pilot.pause()

        await put_cursor(app, pilot, run)
        await pilot.press("t")
        figures = app.screen
        assert isinstance(figures, TrainingFiguresScreen) and figures.run_path == run
        await pilot.pause()
        rows = read_metrics(run)
        update = figures.query_one("#figures-update", FigureChart)
        epochs, values = update.series["fc1.weight"]
        assert epochs == [1, 2, 3]
        expected = [math.log10(r["figures"]["update_ratio.fc1.weight"]) for r in rows]
        assert values == expected and update.reference == -3
        dead = figures.query_one("#figures-dead", FigureChart)
        assert dead.series["dead"][1] == [100 * r["figures"]["dead_relu"] for r in rows]
        grad = figures.query_one("#figures-grad", FigureChart)
        assert len(grad.series) == 4
        assert update.display and not grad.display and not dead.display
        await pilot.press("1")
        assert grad.display and not update.display and figures.shown_chart == "figures-grad"
        await pilot.press("3")
        assert dead.display and not grad.display
        await pilot.press("escape")


def test_the_palette_offers_each_look_inside_action() -> None:
    actions = {action for _title, _help, action in PALETTE_COMMANDS}
    for action in ("draw", "weights", "gradcheck", "training_figures"):
        assert f"panel.{action}" in actions


def test_every_palette_command_names_an_action_of_its_widget() -> None:
    """`panel.evaluate` is CheckpointPanel.action_evaluate; a bare name is the app's."""
    from tui.app import PALETTE_TARGETS, MnistApp

    for _title, _help, action in PALETTE_COMMANDS:
        where, _, name = action.rpartition(".")
        owner = PALETTE_TARGETS[where] if where else MnistApp
        assert callable(getattr(owner, f"action_{name}", None)), action


@run_async
async def test_figures_of_an_old_run_say_there_are_none(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from tests.tui.test_inspect_screens import Host

    run = past_run(tmp_path / "runs", tiny_dataset, epochs=1, hidden=16)
    metrics = run / "metrics.jsonl"
    import json

    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    metrics.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "figures"}) + "\n" for r in rows)
    )
    app = Host(TrainingFiguresScreen(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = str(app.screen.query_one("#figures-status", Static).content)
        assert status.startswith("no training figures in this run")
