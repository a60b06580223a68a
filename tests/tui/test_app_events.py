"""The follower's side: what a run folder says feeds the app through the same messages (a
replay of a finished or diverged run, a run that died); a run that cannot start says why, and
the app stays usable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from app_helpers import make_app, past_run, run_async, set_form, wait_loaded, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.events import EpochEnd, Progress, RunClosed
from mlp_core.trainer import train
from tui.messages import EpochCompleted, EpochProgress, RunGone, message_for
from tui.widgets.results import ResultsTable


def _epoch(epoch: int, best: bool) -> EpochEnd:
    return EpochEnd(
        epoch, 0.5 / epoch, 0.6 / epoch, 0.8, 0.6, 0.7 + epoch / 100, 0.1, 1.0, 9.0, best
    )


def _progress(step: int) -> Progress:
    return Progress(1, step, 10, 0.5, 100.0, 1.0)


def test_progress_messages_collapse_and_epoch_messages_never_do() -> None:
    first, second = message_for(_progress(1)), message_for(_progress(2))
    assert isinstance(first, EpochProgress) and first.can_replace(second)
    epoch = message_for(_epoch(1, True))
    assert isinstance(epoch, EpochCompleted)
    assert not epoch.can_replace(message_for(_epoch(2, False)))
    assert not first.can_replace(epoch)
    gone = message_for(RunClosed("interrupted", "its process died", "/nowhere"))
    assert isinstance(gone, RunGone) and gone.event.status == "interrupted"


@run_async
async def test_a_finished_run_replays_its_table_and_best_epoch(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    run_dir = past_run(tmp_path / "runs", tiny_dataset, epochs=2)
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.follow(run_dir)
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=10)
        await pilot.pause(0.2)
        table = app.query_one(ResultsTable)
        assert sorted(table.rows_by_epoch) == [1, 2] and table.best_epoch is not None
        assert any("finished after 2 epoch(s)" in n.message for n in app._notifications)


@run_async
async def test_divergence_is_a_notification_and_a_state(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    config = TrainConfig(hidden=16, epochs=3, lr=1e6, val_split=100, device="cpu", seed=1)
    run_dir = None
    for event in train(config, tiny_dataset, runs_dir=tmp_path / "runs"):
        run_dir = getattr(event, "run_dir", run_dir) or run_dir
    assert run_dir is not None
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.follow(Path(run_dir))
        await wait_until(pilot, lambda: app.run_state == "diverged", timeout=10)
        assert "diverged" in app.sub_title
        assert any(n.severity == "error" for n in app._notifications)
        assert not app.query_one("#field-hidden").disabled  # usable again


@run_async
async def test_a_run_that_cannot_start_says_why_and_the_app_goes_on(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    import torch

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        device = "cuda:99" if torch.cuda.is_available() else "cuda"
        set_form(app, {"hidden": "16", "epochs": "1", "val_split": "50", "device": device})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state.startswith("failed"), timeout=60)
        assert app.run_state == "failed (launch)"
        assert any(n.title == "Run failed: launch" and n.message for n in app._notifications)
        assert not app.is_training
        # Still usable: a CPU run works right after.
        set_form(app, {"device": "cpu"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_state == "finished", timeout=60)


@run_async
async def test_a_missing_data_set_is_reported_and_start_refused(tmp_path: Path) -> None:
    from tui.app import MnistApp

    app = MnistApp(tmp_path / "runs", data_dir=tmp_path / "no-such-dir", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        assert app.run_state == "no data"
        assert any(n.title == "Data set" for n in app._notifications)
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert not app.is_training
        assert any(n.message.startswith("No data set") for n in app._notifications)


def test_callers_at_once_share_one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import tui.worker

    made: list[object] = []

    def slow_executor(*args: object, **kwargs: object) -> ThreadPoolExecutor:
        made.append(object())
        time.sleep(0.05)  # the window in which another first caller would make its own
        return ThreadPoolExecutor(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tui.worker, "ThreadPoolExecutor", slow_executor)
    monkeypatch.setattr(tui.worker, "_torch_executor", None)
    idents: list[int] = []
    callers = [
        threading.Thread(
            target=lambda: idents.append(tui.worker.run_in_torch_thread(threading.get_ident))
        )
        for _ in range(4)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(made) == 1 and len(set(idents)) == 1
    tui.worker._torch_executor.shutdown()  # type: ignore[union-attr]
