"""The worker's side: any iterator of engine events feeds the app; errors become messages,
notifications and a run state, and the app stays usable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from app_helpers import make_app, run_async, set_form, wait_loaded, wait_until

from data.mnist import Dataset
from mlp_core.events import Diverged, EpochEnd, Event, Finished, Progress, RunStarted
from tui.messages import (
    EpochCompleted,
    EpochProgress,
    RunBegan,
    RunEnded,
    RunFailed,
    message_for,
)
from tui.widgets.results import ResultsTable
from tui.worker import describe_error, pump_events


def _started(run_dir: str = "/nowhere") -> RunStarted:
    return RunStarted("r", run_dir, {}, "cpu, 1 threads", "fake", 0, 2, 10, 100, 10, 10)


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


def test_pump_posts_one_message_per_event_and_reports_errors() -> None:
    posted: list[object] = []

    def events() -> Iterator[Event]:
        yield _started()
        yield _epoch(1, True)
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    pump_events(events(), posted.append)
    assert [type(m) for m in posted] == [RunBegan, EpochCompleted, RunFailed]
    failed = posted[-1]
    assert isinstance(failed, RunFailed) and failed.kind == "out of memory"
    assert "lower the batch" in failed.text and failed.run_dir == "/nowhere"


def test_describe_error_names_each_kind() -> None:
    from data.idx import DatasetError
    from mlp_core.checkpoint import CheckpointError
    from mlp_core.device import DeviceError
    from mlp_core.trainer import TrainingError

    class OutOfMemoryError(RuntimeError):
        pass

    assert describe_error(DatasetError("x: missing"))[0] == "data"
    assert describe_error(DeviceError("no cuda"))[0] == "device"
    assert describe_error(CheckpointError("bad"))[0] == "checkpoint"
    assert describe_error(TrainingError("past epochs"))[0] == "training"
    assert describe_error(OutOfMemoryError("boom"))[0] == "out of memory"
    kind, text = describe_error(ValueError("odd"))
    assert kind == "error" and text == "ValueError: odd"


def _source(events: list[Event]) -> Callable[[Callable[[], bool]], Iterator[Event]]:
    def source(should_stop: Callable[[], bool]) -> Iterator[Event]:
        yield from events

    return source


@run_async
async def test_any_event_source_feeds_the_screen(tmp_path: Path, tiny_dataset: Dataset) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        finished = Finished("finished", 2, 2, 0.8, 0.72, 3.0, "/nowhere")
        events = [_started(), _progress(5), _epoch(1, True), _epoch(2, True), finished]
        app.run_events(_source(events))
        await wait_until(pilot, lambda: not app.is_training)
        await pilot.pause(0.2)
        table = app.query_one(ResultsTable)
        assert sorted(table.rows_by_epoch) == [1, 2] and table.best_epoch == 2
        assert app.run_state == "finished"
        assert any("best epoch 2" in n.message for n in app._notifications)


@run_async
async def test_divergence_is_a_notification_and_a_state(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        diverged = Diverged(1, 3, "loss became nan at step 3 of epoch 1", None, "/nowhere")
        app.run_events(_source([_started(), diverged]))
        await wait_until(pilot, lambda: not app.is_training)
        await pilot.pause(0.2)
        assert app.run_state == "diverged" and "diverged" in app.sub_title
        assert any(n.severity == "error" and "nan" in n.message for n in app._notifications)
        assert not app.query_one("#field-hidden").disabled  # usable again


@run_async
async def test_a_missing_device_fails_the_run_not_the_app(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    import torch

    app = make_app(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        device = "cuda:99" if torch.cuda.is_available() else "cuda"
        set_form(app, {"hidden": "16", "epochs": "1", "val_split": "50", "device": device})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not app.is_training)
        await pilot.pause(0.2)
        assert app.run_state == "failed (device)"
        assert any(n.title == "Run failed: device" for n in app._notifications)
        # Still usable: a CPU run works right after.
        set_form(app, {"device": "cpu"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not app.is_training)
        await pilot.pause(0.2)
        assert app.run_state == "finished"


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


def test_a_failed_run_is_marked_failed_on_disk(
    tmp_path: Path, tiny_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error inside the engine (here: out of memory while logging an epoch) leaves the run
    marked failed with the reason, not merely stopped."""
    import mlp_core.trainer
    from mlp_core.config import TrainConfig

    def out_of_memory(*args: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(mlp_core.trainer, "append_metrics", out_of_memory)
    config = TrainConfig(hidden=16, epochs=3, val_split=50, device="cpu")
    posted: list[object] = []
    pump_events(mlp_core.trainer.train(config, tiny_dataset, runs_dir=tmp_path), posted.append)
    run_dir = next(tmp_path.iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "out of memory" in info["error"]
    assert isinstance(posted[-1], RunFailed) and posted[-1].kind == "out of memory"
    assert not any(isinstance(m, RunEnded) for m in posted)


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
