"""Keys that arrive together (a slow SSH link, a macro) keep their order in the form's fields.

The cause is upstream (see tui.widgets.field_input): a bound editing key runs after bubbling to
the App, so the characters typed after it overtake it. Shown here with a bare Input, and fixed
in the form's `FieldInput`, through Pilot (key events posted without waiting) and through a
real terminal (tmux send-keys of a whole burst in one write)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_helpers import run_async
from burst_apps import BareApp, FormApp
from textual import events
from textual.app import App
from textual.widgets import Input
from tmux_server import TMUX, end_session, own_tmux_server  # noqa: F401 (autouse: ends the tmux server)

from tui.widgets.config_form import ConfigForm

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def burst(app: App[None], *keys: str) -> None:
    """Post every key to the app at once, as a terminal delivers keys read in one go."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        character = key if len(key) == 1 else None
        event = events.Key(key, character)
        event.set_sender(app)
        driver.send_message(event)


async def typed(app: App[None], pilot: object, widget: Input, *keys: str) -> str:
    widget.focus()
    await pilot.pause()  # type: ignore[attr-defined]
    burst(app, *keys)
    for _ in range(20):
        await pilot.pause(0.02)  # type: ignore[attr-defined]
    return widget.value


@run_async
async def test_a_bare_input_lets_a_character_overtake_an_editing_key() -> None:
    app = BareApp()
    async with app.run_test() as pilot:
        value = await typed(app, pilot, app.query_one("#bare", Input), "ctrl+a", "ctrl+k", "7")
        if value == "7":
            pytest.skip("fixed upstream: a bare Input keeps the order of a burst")
        assert value == ""  # the 7 went in first, then home and delete-to-the-end took it


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("ctrl+u", "4"), "4"),
        (("ctrl+a", "ctrl+k", "7"), "7"),
        (("end", "4", "backspace", "5"), "10245"),
        (("ctrl+u", "6", "4", "left", "backspace", "2", "end", "0"), "240"),
    ],
)
@run_async
async def test_the_form_keeps_the_order_of_a_burst(keys: tuple[str, ...], expected: str) -> None:
    app = FormApp()
    async with app.run_test(size=(100, 60)) as pilot:
        field = app.query_one(ConfigForm).field("hidden")
        assert await typed(app, pilot, field, *keys) == expected  # type: ignore[arg-type]


@run_async
async def test_a_tab_in_a_burst_moves_on_before_the_keys_after_it() -> None:
    app = FormApp()
    async with app.run_test(size=(100, 60)) as pilot:
        form = app.query_one(ConfigForm)
        hidden = form.field("hidden")
        await typed(app, pilot, hidden, "tab", "ctrl+u", "9")  # type: ignore[arg-type]
        assert form.field("lr").value == "9" and hidden.value == "1024"  # type: ignore[attr-defined]
        # Through a Select and a Checkbox (not FieldInputs): epochs -> optimizer -> momentum.
        epochs = form.field("epochs")
        await typed(app, pilot, epochs, "tab", "tab", "ctrl+u", "0", ".", "5")  # type: ignore[arg-type]
        assert form.field("momentum").value == "0.5"  # type: ignore[attr-defined]
        assert epochs.value == "10"  # type: ignore[attr-defined]
        await typed(app, pilot, form.field("lr"), "shift+tab", "ctrl+u", "6", "4")  # type: ignore[arg-type]
        assert hidden.value == "64" and form.field("lr").value == "9"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("hidden", "12.5", "whole number"),
        ("hidden", "abc", "whole number"),
        ("epochs", "3x", "whole number"),
        ("lr", "abc", "must be a number"),
    ],
)
@run_async
async def test_a_number_field_keeps_what_it_refuses_and_says_why(
    name: str, text: str, reason: str
) -> None:
    app = FormApp()
    async with app.run_test(size=(100, 60)) as pilot:
        form = app.query_one(ConfigForm)
        field = form.field(name)
        assert await typed(app, pilot, field, "ctrl+u", *text) == text  # type: ignore[arg-type]
        await pilot.pause()
        assert reason in str(form.query_one(f"#reason-{name}").render())
        assert name in form.problems()


# -- through a real terminal ---------------------------------------------------------------


class Pane:
    def __init__(self, name: str, which: str) -> None:
        self.name = name
        script = shlex.quote(str(HERE / "burst_apps.py"))
        command = f"cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} {script} {which}"
        subprocess.run(
            [*TMUX, "new-session", "-d", "-s", name, "-x", "100", "-y", "40", command],
            check=True,
            env={**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(REPO)},
        )

    def screen(self) -> str:
        result = subprocess.run(
            [*TMUX, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def values(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.screen().splitlines():
                if line.startswith("VALUES") and "END" in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no VALUES line; the screen was:\n{self.screen()}")

    def burst(self, *keys: str) -> str:
        """Send the keys in one tmux command (one write to the terminal), then read back."""
        before = self.values()
        subprocess.run([*TMUX, "send-keys", "-t", self.name, *keys], check=True)
        deadline = time.monotonic() + 5
        while self.values() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the rest of the burst land
        return self.values()

    def close(self) -> None:
        end_session(self.name)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_bursts_through_tmux_keep_their_order_in_the_form() -> None:
    pane = Pane(f"issue-10-burst-{os.getpid()}", "form")
    try:
        assert "hidden=1024 " in pane.values()
        assert "hidden=4 " in pane.burst("C-u", "4")
        assert "hidden=7 " in pane.burst("C-a", "C-k", "7")
        assert "hidden=75 " in pane.burst("4", "BSpace", "5")
        assert "hidden=12.5 " in pane.burst("C-u", "1", "2", ".", "5")
        assert "must be a whole number" in pane.screen()
        values = pane.burst("Tab", "C-u", "0", ".", "1")  # the next field, not this one
        assert "hidden=12.5 " in values and "lr=0.1 " in values
        values = pane.burst("BTab", "C-u", "6", "4")  # shift+tab back, then type
        assert "hidden=64 " in values and "lr=0.1 " in values
    finally:
        pane.close()
