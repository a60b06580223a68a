"""Helpers for the app's Pilot tests: drive the form by keyboard, wait for workers, read the
screen's text."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.trainer import train
from tui.app import MnistApp

#: A run that takes a fraction of a second per epoch on the tiny set.
QUICK = {"hidden": "32", "batch_size": "64", "epochs": "3", "val_split": "100", "device": "cpu"}


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test with asyncio.run (no pytest async plugin is installed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


def make_app(runs_dir: Path, dataset: Dataset, **kwargs: Any) -> MnistApp:
    """The app on `dataset` (in memory, for the form and screens); the runs it launches read
    the same set from IDX files beside the runs folder (a run is a process of its own)."""
    data_dir = kwargs.pop("data_dir", None) or data_dir_for(runs_dir, dataset)
    return MnistApp(runs_dir, data_dir, dataset=dataset, device="cpu", watch_interval=0.2, **kwargs)


def data_dir_for(runs_dir: Path, dataset: Dataset) -> Path:
    """`dataset` written as IDX files next to `runs_dir` (once), for the run processes. The
    folder is named as the data set (a folder's set takes its name): a checkpoint trained on
    it is then evaluated on the app's own copy in memory, as the same set."""
    from conftest import write_dataset

    directory = runs_dir.parent / f"{runs_dir.name}-data" / dataset.name
    if not directory.is_dir():
        write_dataset(directory, dataset)
    return directory


async def wait_loaded(app: MnistApp, pilot: Pilot, timeout: float = 30) -> None:
    """Until the back end (torch, data set) is loaded and the panel has read the disk."""
    deadline = time.monotonic() + timeout
    while app.backend is None and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert app.backend is not None, "the back end never loaded"
    await pilot.pause(0.3)


async def wait_until(pilot: Pilot, condition: object, timeout: float = 30) -> float:
    """Pause until condition() is true; the seconds it took."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        state = getattr(pilot.app, "run_state", "")
        assert time.monotonic() - started < timeout, f"timed out waiting (state: {state})"
        await pilot.pause(0.02)
    return time.monotonic() - started


async def focus_field(app: MnistApp, pilot: Pilot, name: str) -> None:
    """Press Tab until the form field `name` has the focus (as a person would)."""
    for _ in range(60):
        if app.focused is not None and app.focused.id == f"field-{name}":
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached field {name}")


async def type_field(app: MnistApp, pilot: Pilot, name: str, text: str, tab: bool = True) -> None:
    """Reach the field (by Tab, or by focusing it directly), clear it and type `text`."""
    if tab:
        await focus_field(app, pilot, name)
    else:
        app.query_one(f"#field-{name}").focus()
    await pilot.press("end", "ctrl+u", *list(text))
    await pilot.pause()


async def fill_form(app: MnistApp, pilot: Pilot, values: dict[str, str]) -> None:
    """Type each value into its field, tabbing from one to the next as a person would."""
    for name, text in values.items():
        await type_field(app, pilot, name, text)


def set_form(app: MnistApp, values: dict[str, str]) -> None:
    """Fill the form without the keyboard (for tests about something else)."""
    from tui.widgets.config_form import ConfigForm, parse

    form = app.query_one(ConfigForm)
    current = form.raw_values()
    current.update({name: parse(name, text) for name, text in values.items()})
    form.fill(TrainConfig(**current))


def screen_lines(app: MnistApp) -> list[str]:
    """The screen as plain text, one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def past_run(runs_dir: Path, dataset: Dataset, epochs: int = 2, hidden: int = 24) -> Path:
    """Train a tiny run headless (as `mnist-tui train` would) and return its folder. It reads
    the IDX files the app's runs read (`data_dir_for`), so it can be resumed from the app: a
    run resumes only on the data set it was trained on."""
    from data.mnist import load_dataset

    config = TrainConfig(
        hidden=hidden, epochs=epochs, batch_size=64, val_split=100, device="cpu", seed=3
    )
    run_dir = None
    on_disk = load_dataset(data_dir_for(runs_dir, dataset))
    for event in train(config, on_disk, runs_dir=runs_dir):
        run_dir = getattr(event, "run_dir", run_dir)
    assert run_dir is not None
    return Path(run_dir)
