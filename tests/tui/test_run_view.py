"""RunView, the run on screen, in an app that is nothing but it: a followed run's events fill
its table, curves and bar; a finished run's metrics load whole; a new run clears the old."""

from __future__ import annotations

from app_helpers import run_async
from textual.app import App, ComposeResult

from mlp_core.events import EpochEnd, Progress, RunStarted
from tui.widgets.charts import AccuracyChart, LossChart
from tui.widgets.epoch_progress import EpochProgress
from tui.widgets.results import ResultsTable
from tui.widgets.run_view import RunView


class ViewOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield RunView(id="run-view")


def _started(epochs: int = 3) -> RunStarted:
    return RunStarted("run", "/runs/run", {}, "cpu", "MNIST", 0, epochs, 10, 100, 10, 20)


def _epoch(epoch: int) -> EpochEnd:
    return EpochEnd(epoch, 1.0 / epoch, 1.1 / epoch, 0.9, 1.2 / epoch, 0.91, 0.05, 2.0, 500.0, True)


@run_async
async def test_a_followed_runs_events_fill_the_table_the_curves_and_the_bar() -> None:
    app = ViewOnly()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(RunView)
        view.began(_started(epochs=3))
        view.progress(Progress(1, 4, 10, 0.7, 400.0, 3.0))
        await pilot.pause()
        bar = app.query_one(EpochProgress)
        assert "epoch 1/3" in bar.text and bar.percentage == 0.4
        assert app.query_one(LossChart).steps.points  # the per-step curve
        row = view.epoch_completed(_epoch(1))
        view.epoch_completed(_epoch(2))
        await pilot.pause()
        assert row["epoch"] == 1 and "event" not in row
        assert [r["epoch"] for r in view.history] == [1, 2]
        assert sorted(app.query_one(ResultsTable).rows_by_epoch) == [1, 2]
        assert "epoch 2/3 done" in bar.text
        assert view.row_of(2)["test_loss"] == 0.6 and view.row_of(7) == {}
        view.ended("finished after 2 epoch(s)")
        assert bar.text == "finished after 2 epoch(s)"


@run_async
async def test_a_finished_run_loads_whole_and_a_new_run_clears_it() -> None:
    app = ViewOnly()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(RunView)
        rows = [{k: v for k, v in _epoch(e).to_dict().items() if k != "event"} for e in (1, 2)]
        view.loaded(rows, epochs=5, status="stopped", name="20261202-run")
        await pilot.pause()
        bar = app.query_one(EpochProgress)
        assert bar.text == "stopped, 2/5 epoch(s) · 20261202-run" and bar.percentage == 0.4
        assert len(app.query_one(ResultsTable).rows_by_epoch) == 2
        accuracy = app.query_one(AccuracyChart)
        assert [x for x, _ in next(iter(accuracy.series.values()))] == [1, 2]
        view.reset("starting the run process…")
        await pilot.pause()
        assert view.history == [] and not app.query_one(ResultsTable).rows_by_epoch
        assert bar.text == "starting the run process…"
