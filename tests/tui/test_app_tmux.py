"""The real program in a real terminal (tmux), driven with send-keys as a person would, read
back with capture-pane: at 80x24 train a tiny run and quit; at 160x48 see it in the panel,
evaluate it and find it in the runs table."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from reaper import reap_spawned  # noqa: F401 (an autouse fixture: kills what a test spawned)
from tmux_server import TMUX, end_session, own_tmux_server  # noqa: F401 (autouse: ends the tmux server)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """One tmux session running the app."""

    def __init__(self, name: str, width: int, height: int, runs: Path, data: Path) -> None:
        self.name = name
        code = (
            "from pathlib import Path; from tui.app import run_app; "
            f"run_app(Path({str(runs)!r}), Path({str(data)!r}), 'cpu')"
        )
        # The pane stays open after the app exits, so its last words can be read.
        # Named in the command: a tmux server that already runs gives a new session its own
        # environment, not this one (the settings must go to the test's folder).
        settings = shlex.quote(os.environ.get("MNIST_TUI_CONFIG_DIR", str(runs.parent / "cfg")))
        command = (
            f"cd {shlex.quote(str(REPO))} && MNIST_TUI_CONFIG_DIR={settings} "
            + (f"{shlex.quote(sys.executable)} -c ")
            + (f'{shlex.quote(code)}; echo "EXIT=$?"; sleep 60')
        )
        self.started = time.monotonic()
        subprocess.run(
            [*TMUX, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )

    def screen(self) -> str:
        return subprocess.run(
            [*TMUX, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        """Each key on its own, a moment apart (as typed, not pasted)."""
        for key in keys:
            subprocess.run([*TMUX, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def type_into_next(self, tabs: int, text: str, label: str | None = None) -> None:
        """Tab to a field and type `text` there. A pause after the Tabs: on a loaded machine
        the focus can move after the next key was read. With `label` (the field's name on
        screen), typed again until the form shows it (an edit can be lost under load)."""
        self.keys(*["Tab"] * tabs)
        time.sleep(0.6)
        for _ in range(4):
            self.keys("C-u", *text)
            if label is None or self._shows(label, text):
                return
        raise AssertionError(f"{label} never showed {text!r}:\n{self.screen()}")

    def _shows(self, label: str, text: str, timeout: float = 2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.screen().splitlines():
                if line.startswith(f" {label}") and line[len(label) + 1 :].split()[:1] == [text]:
                    return True
            time.sleep(0.1)
        return False

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out; the screen was:\n{self.screen()}")

    def close(self) -> None:
        end_session(self.name)


def test_train_and_quit_at_80x24_then_browse_at_160x48(tmp_path: Path, tiny_data_dir: Path) -> None:
    runs = tmp_path / "runs"
    small = Terminal(f"mnist-tui-test-{os.getpid()}-80", 80, 24, runs, tiny_data_dir)
    try:
        # The first screen does not wait for torch: it is up while the back end still loads
        # (a behaviour, not a timing: how fast it comes is bench/ material).
        small.wait_for(lambda s: "mnist-tui" in s and "Loading torch" in s, timeout=15)
        small.wait_for(lambda s: "ready" in s.splitlines()[0])
        small.type_into_next(1, "16")  # hidden units (the preset has the focus at start)
        small.type_into_next(3, "2")  # epochs
        small.type_into_next(10, "100")  # val split
        assert "val split     100" in small.screen()
        small.keys("C-r")
        screen = small.wait_for(lambda s: "finished" in s.splitlines()[0])
        screen = small.wait_for(lambda s: "★" in s)  # the best epoch's row in the table
        assert " ep " in screen and "^r Start" in screen
        # The charts have the rows: at least 7 rows of y ticks beside the form at 80x24.
        small.wait_for(lambda s: sum("┤" in line for line in s.splitlines()) >= 7, timeout=5)
        small.keys("C-q")
        screen = small.wait_for(lambda s: "EXIT=" in s, timeout=5)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        small.close()

    large = Terminal(f"mnist-tui-test-{os.getpid()}-160", 160, 48, runs, tiny_data_dir)
    try:
        screen = large.wait_for(lambda s: "ready" in s.splitlines()[0])
        screen = large.wait_for(lambda s: "done" in s and "h16 lr0.05" in s)
        assert "runs in" in screen and "hidden units" in screen and "accuracy" in screen
        assert "last e2" in screen
        large.keys("C-o", "Enter")  # focus the panel; Enter on the run loads its curves
        screen = large.wait_for(lambda s: "viewing finished run" in s)
        assert "   2  " in screen or " 2 ★" in screen
        assert "e Eval" in screen.splitlines()[-1]  # the panel's keys, in the Footer
        large.keys("e")  # evaluate the run's best checkpoint
        screen = large.wait_for(
            lambda s: "confusion: rows true" in s and "accuracy" in s, timeout=40
        )
        # Escape alone: an Escape with another key right behind it reads as Alt+key, in any
        # terminal program (the ESC prefix), so it waits for the screen to close first.
        large.keys("Escape")
        large.wait_for(lambda s: "confusion: rows true" not in s)
        large.keys("C-l")  # the runs table
        screen = large.wait_for(lambda s: "sorted by run" in s)
        assert "val %" in screen and "2/2" in screen and "16" in screen
        large.keys("Escape")
        large.keys("C-q")
        screen = large.wait_for(lambda s: "EXIT=" in s, timeout=5)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        large.close()


def _status(run: Path) -> str:
    from mlp_core.runs import load_run

    return load_run(run).status


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _header(screen: str) -> str:
    return screen.splitlines()[0]


def test_a_run_outlives_its_terminal_and_another_app_follows_and_stops_it(
    tmp_path: Path,
) -> None:
    """ctrl+r, then the terminal goes away mid-epoch (kill-session: SIGHUP, as a dropped SSH
    connection): the run finishes every epoch without the app. A reopened app loads it; a run
    started there is followed by a second instance, which can stop it."""
    from conftest import make_tiny_dataset, write_dataset

    from mlp_core.runs import read_metrics

    runs = tmp_path / "runs"
    # Epochs long enough to be killed in the middle of one (wide layer, 5,900 images).
    data = write_dataset(tmp_path / "data", make_tiny_dataset(n_train=6000))
    name = f"issue-8-tmux-{os.getpid()}"
    first = Terminal(f"{name}-a", 160, 48, runs, data)
    try:
        first.wait_for(lambda s: "ready" in _header(s))
        first.type_into_next(1, "2048", "hidden units")  # the preset has the focus at start
        first.type_into_next(3, "3", "epochs")
        first.type_into_next(10, "100", "val split")
        first.keys("C-r")
        first.wait_for(lambda s: "training 1/3" in _header(s) and "img/s" in s, timeout=60)
    finally:
        first.close()  # the terminal is gone, mid-epoch 1
    (run,) = [p.parent for p in runs.glob("*/run.json")]
    assert not read_metrics(run) or len(read_metrics(run)) < 3
    _wait(lambda: _status(run) == "finished", 180, "the run to finish without its app")
    assert [row["epoch"] for row in read_metrics(run)] == [1, 2, 3]

    second = Terminal(f"{name}-b", 160, 48, runs, data)
    third: Terminal | None = None
    try:
        second.wait_for(lambda s: "ready" in _header(s))
        second.wait_for(lambda s: "done" in s and "h2048 lr0.05" in s)
        second.keys("C-o", "Enter")  # the finished run loads
        second.wait_for(lambda s: "viewing finished run" in _header(s))
        second.keys("C-f")  # the form, filled from that run: 30 epochs this time
        second.type_into_next(4, "30", "epochs")
        second.keys("C-r")
        second.wait_for(lambda s: "training" in _header(s), timeout=60)
        live = next(p.parent for p in runs.glob("*/run.json") if p.parent != run)

        third = Terminal(f"{name}-c", 160, 48, runs, data)
        third.wait_for(lambda s: "ready" in _header(s))
        third.wait_for(lambda s: "running" in s and "h2048 lr0.05" in s)
        third.keys("C-o", "Enter")  # the newest run, the live one: followed from here too
        screen = third.wait_for(lambda s: "training" in _header(s), timeout=20)
        done = len(read_metrics(live))
        # An epoch row this instance did not start: the header counts on past it.
        third.wait_for(
            lambda s: f"training {done + 2}/30" in _header(s) or "/30 done" in s, timeout=60
        )
        assert "Traceback" not in screen
        third.keys("C-s")  # stop it from the second instance
        _wait(lambda: _status(live) == "stopped", 30, "the stop from another instance")
        third.wait_for(lambda s: "stopped" in _header(s), timeout=10)
        second.wait_for(lambda s: "stopped" in _header(s), timeout=10)
        third.keys("C-q")  # nothing live any more: no question
        assert "EXIT=0" in third.wait_for(lambda s: "EXIT=" in s, timeout=10)
    finally:
        second.close()
        if third is not None:
            third.close()
