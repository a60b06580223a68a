"""Loading torch and the data set behind the first screen: quitting while it loads exits at
once; a loading that fails (no data, or any error) is said, and the app stays usable."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_helpers import run_async, screen_lines, wait_until

import tui.app
from tui.app import MnistApp
from tui.widgets.checkpoint_panel import CheckpointPanel

#: Opens the app with a loading that takes 3 s, quits right after the first screen, prints the
#: moment of the quit (CLOCK_MONOTONIC is one clock for every process on Linux).
QUIT_WHILE_LOADING = """
import asyncio, sys, time
from pathlib import Path
import tui.app

def slow_load(*args):
    time.sleep(3)  # torch and a large data set on a slow disk
    raise RuntimeError("too late")

tui.app.load_backend = slow_load

async def main():
    app = tui.app.MnistApp(Path(sys.argv[1]), device="cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        assert app.backend is None
        print(time.monotonic(), flush=True)
        await pilot.press("ctrl+q")

asyncio.run(main())
"""


def test_quit_while_loading_exits_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUIT_WHILE_LOADING, str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    ended = time.monotonic()
    assert done.returncode == 0, done.stderr
    quit_at = float(done.stdout.split()[0])
    assert ended - quit_at < 1.0  # the process is gone, not waiting for the loading thread


async def _assert_recovers(app: MnistApp, words: str) -> None:
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: app.backend is not None, timeout=10)
        await pilot.pause(0.2)
        assert app.run_state == "no data"
        assert words in screen_lines(app)[-2]  # the status line says why
        panel = app.query_one(CheckpointPanel)
        # The panel still reads the runs directory.
        await wait_until(pilot, lambda: len(panel.runs) == 1, timeout=5)
        app._notifications.clear()
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        messages = [n.message for n in app._notifications]
        assert any(words in m for m in messages), messages
        assert not any("Still loading" in m for m in messages)


@run_async
async def test_a_missing_data_directory_is_said_and_start_says_why(tmp_path: Path) -> None:
    (tmp_path / "runs" / "20200101-000000-x").mkdir(parents=True)
    (tmp_path / "runs" / "20200101-000000-x" / "run.json").write_text("{}")
    app = MnistApp(tmp_path / "runs", data_dir=tmp_path / "missing", device="cpu")
    await _assert_recovers(app, "does not exist")


@run_async
async def test_any_loading_error_is_said_and_the_app_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_load(*args: object) -> object:
        raise RuntimeError("libtorch is broken")

    monkeypatch.setattr(tui.app, "load_backend", broken_load)
    (tmp_path / "runs" / "20200101-000000-x").mkdir(parents=True)
    (tmp_path / "runs" / "20200101-000000-x" / "run.json").write_text("{}")
    app = MnistApp(tmp_path / "runs", device="cpu")
    await _assert_recovers(app, "libtorch is broken")
