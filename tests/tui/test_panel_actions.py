"""The checkpoint panel owns the actions on its cursor: in an app that is nothing but the panel,
its keys open their screens, act on the run folder, and post what needs other widgets up as
messages (`ContinueFrom`, `Deleted`). And what the form says Start continues from
(`tui.widgets.start_from.describe`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from app_helpers import past_run, run_async, wait_until
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from textual.app import App, ComposeResult
from textual.message import Message

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.runs import create_run
from tui.screens.evaluate import EvaluateScreen
from tui.widgets.checkpoint_panel import CheckpointPanel
from tui.widgets.start_from import StartFrom, describe


class PanelOnly(App[None]):
    """The panel alone, keeping every message it posts up."""

    def __init__(self, runs_dir: Path, dataset: Dataset) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.dataset = dataset
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield CheckpointPanel(self.runs_dir, id="panel")

    def on_mount(self) -> None:
        panel = self.query_one(CheckpointPanel)
        panel.dataset = self.dataset
        panel.start_watching(60)

    def on_checkpoint_panel_continue_from(self, message: Message) -> None:
        self.posted.append(message)

    def on_checkpoint_panel_deleted(self, message: Message) -> None:
        self.posted.append(message)


async def _cursor_on(app: PanelOnly, pilot: Any, path: Path) -> CheckpointPanel:
    """The panel with its cursor on `path` (a run, or a checkpoint of an expanded run)."""
    panel = app.query_one(CheckpointPanel)
    await wait_until(pilot, lambda: panel._node_for(path) is not None)
    is_run = (path / "run.json").exists()
    run_node = panel._node_for(path if is_run else path.parent.parent)
    assert run_node is not None
    run_node.expand()
    await pilot.pause()
    node = panel._node_for(path)
    assert node is not None
    panel._move_cursor_to(node)
    panel.tree.focus()
    await pilot.pause()
    assert path in panel.cursor_paths()
    return panel


@run_async
async def test_fork_and_resume_post_the_checkpoint_and_its_config_up(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    run = past_run(tmp_path / "runs", tiny_dataset, epochs=2, hidden=24)
    best = run / "checkpoints" / "best.safetensors"
    last = run / "checkpoints" / "last.safetensors"
    app = PanelOnly(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(100, 40)) as pilot:
        await _cursor_on(app, pilot, best)
        await pilot.press("f")
        await _cursor_on(app, pilot, last)
        await pilot.press("r")
        await pilot.pause()
    fork, resume = app.posted
    assert isinstance(fork, CheckpointPanel.ContinueFrom)
    assert fork.start.checkpoint == best and fork.start.forking and fork.start.epoch >= 1
    assert fork.config.hidden == 24
    assert isinstance(resume, CheckpointPanel.ContinueFrom) and not resume.start.forking
    # The run's last epoch, 2 of 2: a resume in place, for as many epochs again.
    assert resume.start.checkpoint == last and resume.start.epoch == 2 and resume.start.latest
    assert resume.config.epochs == 4


@run_async
async def test_evaluate_on_a_run_opens_its_best_checkpoint(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    run = past_run(tmp_path / "runs", tiny_dataset, epochs=1, hidden=16)
    app = PanelOnly(tmp_path / "runs", tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        await _cursor_on(app, pilot, run)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EvaluateScreen))
        assert app.screen.checkpoint_path == run / "checkpoints" / "best.safetensors"


@run_async
async def test_delete_asks_deletes_and_says_so_but_never_a_training_run(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    runs_dir = tmp_path / "runs"
    old = past_run(runs_dir, tiny_dataset, epochs=1, hidden=16)
    training = create_run(runs_dir, TrainConfig(hidden=8, device="cpu"))  # this process: live
    app = PanelOnly(runs_dir, tiny_dataset)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = await _cursor_on(app, pilot, training.path)
        await pilot.press("delete")
        await pilot.pause()
        assert any("is training" in n.message for n in app._notifications)
        assert training.path.exists() and not app.posted

        await _cursor_on(app, pilot, old)
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(app.posted))
        (deleted,) = app.posted
        assert isinstance(deleted, CheckpointPanel.Deleted)
        assert deleted.run_path == old and deleted.checkpoint_path is None
        assert not old.exists()
        await wait_until(pilot, lambda: panel.run_entry(old) is None)
    training.release()


def _start(epoch: int = 4, latest: bool = True, forking: bool = False) -> StartFrom:
    parent = TrainConfig(hidden=32, epochs=4, device="cpu")
    checkpoint = Path("/runs/20261201-000000-h32/checkpoints/last.safetensors")
    return StartFrom(checkpoint, epoch, parent, latest, forking)


def test_the_banner_says_resume_only_where_the_run_continues_in_place() -> None:
    more = dataclasses.replace(_start().parent, epochs=8)
    text, button = describe(_start(), more)
    assert button == "Resume" and "resumes 20261201-000000-h32@4 (last) to epoch 8" in text
    # Chosen with f, an older checkpoint, or another lr: a new run.
    assert describe(_start(forking=True), more)[1] == "Fork"
    assert describe(_start(latest=False), more)[1] == "Fork"
    assert describe(_start(), dataclasses.replace(more, lr=0.01))[1] == "Fork"


def test_the_banner_says_what_start_cannot_do() -> None:
    start = _start()
    assert "epochs must be above 4" in describe(start, start.parent)[0]
    wider = dataclasses.replace(start.parent, epochs=8, hidden=64)
    assert "hidden must stay 32" in describe(start, wider)[0]
    assert describe(start, None) == (
        "⑂ from 20261201-000000-h32@4 (last): fix the form first\nEscape: a new run instead",
        "Start",
    )
