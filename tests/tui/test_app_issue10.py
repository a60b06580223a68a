"""Issue 10 in the app itself: help (? and F1), the event log (ctrl+b) fed by every notify,
the charts' keys and focus (ctrl+n), per-step loss, run colours, remembered choices."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app_helpers import make_app, past_run, run_async, set_form, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from mlp_core.events import Progress
from tui.colours import colours_for, run_colour
from tui.messages import EpochProgress
from tui.screens.event_log import EventLogScreen
from tui.screens.help import HelpScreen
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.config_form import ConfigForm
from tui.widgets.run_view import RunView


@run_async
async def test_help_opens_on_question_mark_and_f1_and_escape_closes(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        app.query_one(LossChart).focus()  # not in a field: `?` is a plain key
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=5)
            assert app.focused is not None
        # In a field `?` is typed, not a help key.
        app.query_one("#field-lr").focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert "?" in app.query_one("#field-lr").value


@run_async
async def test_every_notify_is_in_the_event_log_and_toasts_are_short(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        app.notify("first message")
        app.notify("a long error", severity="error", timeout=60)
        texts = [entry.message for entry in app.event_log.entries]
        assert "first message" in texts and "a long error" in texts
        assert all(toast.timeout <= 8 for toast in app._notifications)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, EventLogScreen), timeout=5)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, EventLogScreen), timeout=5)


@run_async
async def test_ctrl_n_focuses_the_charts_and_progress_feeds_the_step_curve(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("ctrl+n")
        assert app.focused is app.query_one(LossChart)
        await pilot.press("ctrl+n")
        assert app.focused is app.query_one(AccuracyChart)
        loss = app.query_one(LossChart)
        for step in (10, 20, 30):
            app.post_message(EpochProgress(Progress(1, step, 100, 2.0 / step, 100.0, 5.0)))
            await pilot.pause()
        assert len(loss.steps.points) == 3
        app.query_one(RunView).show_history([])  # a new run on screen: the step curve starts again
        assert loss.steps.points == []


@run_async
async def test_chart_and_form_choices_are_remembered_between_launches(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    config_dir = Path(os.environ["MNIST_TUI_CONFIG_DIR"])
    assert config_dir.is_relative_to(tmp_path)  # the autouse fixture: never the user's own
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        set_form(app, {"hidden": "48", "epochs": "4", "val_split": "50"})
        app.query_one(LossChart).focus()
        await pilot.press("l", "2")  # log scale, hide the 2nd series
        await pilot.pause()
        await app.action_quit()
    saved = json.loads((config_dir / "settings.json").read_text())
    assert saved["form"]["hidden"] == 48
    assert saved["charts"]["loss-chart"]["log_scale"] is True
    again = make_app(tmp_path / "runs", tiny_dataset)
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_loaded(again, pilot)
        form = again.query_one(ConfigForm)
        assert form.config().hidden == 48 and form.config().epochs == 4
        assert form.config().device == "cpu"  # the command line's, not a remembered one
        chart = again.query_one(LossChart)
        assert chart.log_scale is True and len(chart.hidden) == 1


@run_async
async def test_a_marked_run_has_its_own_colour_in_the_panel(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs = tmp_path / "runs"
    first, second = past_run(runs, tiny_dataset), past_run(runs, tiny_dataset, hidden=16)
    app = make_app(runs, tiny_dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_loaded(app, pilot)
        panel = app.query_one(CheckpointPanel)
        await wait_until(pilot, lambda: len(panel.runs) == 2, timeout=10)
        for run in (first, second):
            panel.select_run(run)
            await pilot.pause(0.2)
            panel.action_toggle_mark()
        assert app.compared == [first, second]  # the panel's marks, in marking order
        chart = app.query_one(LossChart)
        await wait_until(pilot, lambda: len(chart.compare_colours) == 2, timeout=5)
        # Each run's own colour, unless the first took it (the names are times: that happens).
        colours = colours_for([first.name, second.name])
        assert colours[first.name] == run_colour(first.name)
        for run in (first, second):
            label = panel._label(panel.run_entry(run))
            styles = {str(span.style) for span in label.spans}
            assert any(colours[run.name].rich in style for style in styles), styles
        assert set(chart.compare_colours.values()) == set(colours.values())


@run_async
async def test_launch_shows_the_latest_run_complete_and_readable_at_80x24(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from app_helpers import screen_lines

    from mlp_core.runs import read_metrics
    from tui.widgets.epoch_progress import EpochProgress
    from tui.widgets.results import ResultsTable

    runs = tmp_path / "runs"
    past_run(runs, tiny_dataset, epochs=2, hidden=16)
    newest = past_run(runs, tiny_dataset, epochs=3, hidden=24)
    app = make_app(runs, tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await wait_until(pilot, lambda: len(app.history) == 3, timeout=10)
        assert [row["epoch"] for row in app.history] == [1, 2, 3]
        assert app.history[-1]["val_loss"] == read_metrics(newest)[-1]["val_loss"]
        assert app.query_one(ResultsTable).row_count == 3
        bar = app.query_one(EpochProgress)
        assert bar.percentage == 1.0  # a finished run's bar is full, not 0%
        assert "100%" in bar.render_line(0).text
        assert app.query_one(ConfigForm).raw_values()["hidden"] != 24  # the form is left as it was
        text = "\n".join(screen_lines(app))
        assert "no run yet" not in text
        for heading in ("ep", "loss", "val loss", "val %", "test %"):  # beside the form
            assert heading in text, heading
        assert "finished, 3/3 epoch(s)" in text


@run_async
async def test_at_80x24_the_hidden_panel_keeps_no_focus_and_no_footer_keys(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from app_helpers import screen_lines

    runs = tmp_path / "runs"
    past_run(runs, tiny_dataset, epochs=1)
    app = make_app(runs, tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await pilot.press("ctrl+o")  # the panel takes the form's turn, its tree focused
        await wait_until(pilot, lambda: app.focused is app.query_one("#run-tree"), timeout=5)
        await wait_until(pilot, lambda: "e Eval" in screen_lines(app)[-1], timeout=5)
        await pilot.press("ctrl+f")  # the form again: the panel is hidden
        await wait_until(pilot, lambda: not app.show_panel, timeout=5)
        await pilot.pause(0.2)
        panel = app.query_one(CheckpointPanel)
        assert app.focused is not None and app.focused not in panel.query("*")
        assert "e Eval" not in screen_lines(app)[-1] and "f Fork" not in screen_lines(app)[-1]
        await pilot.press("e")
        await pilot.pause(0.2)
        assert app.screen is app.query_one(ConfigForm).screen  # no evaluation opened
        await pilot.press("question_mark")  # in a field: typed, and F1 still opens the help
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.focused is not None


@run_async
async def test_the_system_monitor_shows_while_a_run_trains(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    from tui.widgets.system_monitor import SystemMonitor

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        monitor = app.query_one(SystemMonitor)
        assert not monitor.display  # idle: the status line keeps the whole row
        set_form(app, {"hidden": "16", "epochs": "2", "val_split": "50", "batch_size": "100"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: monitor.display and monitor.sample is not None, timeout=60)
        assert "app" in str(monitor.render())  # the process memory (CPU % from the 2nd sample)
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)
        await pilot.pause(0.1)
        assert not monitor.display
        assert app.focused is not None  # the form is free again and something has the focus


@run_async
async def test_panel_choices_are_remembered_from_a_wide_screen_only(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    """At 80 columns the form and the panel take turns by themselves: quitting there must not
    leave the panel hidden at 160 columns next time; a choice made wide is kept."""
    runs = tmp_path / "runs"
    app = make_app(runs, tiny_dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        assert not app.show_panel
        await app.action_quit()
    wide = make_app(runs, tiny_dataset)
    async with wide.run_test(size=(160, 48)) as pilot:
        await wait_loaded(wide, pilot)
        assert wide.show_panel and wide.show_form
        wide.show_form = False
        await wide.action_quit()
    again = make_app(runs, tiny_dataset)
    async with again.run_test(size=(160, 48)) as pilot:
        await wait_loaded(again, pilot)
        assert again.show_panel and not again.show_form
