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
        command = f"cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} -c " + (
            f'{shlex.quote(code)}; echo "EXIT=$?"; sleep 60'
        )
        self.started = time.monotonic()
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        """Each key on its own, a moment apart (as typed, not pasted)."""
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def type_into_next(self, tabs: int, text: str) -> None:
        self.keys(*["Tab"] * tabs, "C-u", *text)

    def wait_for(self, condition: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"timed out; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


def test_train_and_quit_at_80x24_then_browse_at_160x48(tmp_path: Path, tiny_data_dir: Path) -> None:
    runs = tmp_path / "runs"
    small = Terminal(f"mnist-tui-test-{os.getpid()}-80", 80, 24, runs, tiny_data_dir)
    try:
        small.wait_for(lambda s: "mnist-tui" in s, timeout=10)
        first_screen = time.monotonic() - small.started
        assert first_screen <= 2, f"first screen after {first_screen:.1f}s"
        small.wait_for(lambda s: "ready" in s.splitlines()[0])
        small.type_into_next(1, "16")  # hidden units (the preset has the focus at start)
        small.type_into_next(3, "2")  # epochs
        small.type_into_next(10, "100")  # val split
        assert "val split     100" in small.screen()
        small.keys("C-r")
        screen = small.wait_for(lambda s: "finished" in s.splitlines()[0])
        screen = small.wait_for(lambda s: "★" in s)  # the best epoch's row in the table
        assert " ep " in screen and "^r Start" in screen
        small.keys("C-q")
        screen = small.wait_for(lambda s: "EXIT=" in s, timeout=5)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        small.close()

    large = Terminal(f"mnist-tui-test-{os.getpid()}-160", 160, 48, runs, tiny_data_dir)
    try:
        screen = large.wait_for(lambda s: "ready" in s.splitlines()[0])
        screen = large.wait_for(lambda s: "h16 lr0.05 done" in s)
        assert "runs in" in screen and "hidden units" in screen and "accuracy" in screen
        assert "last e2" in screen
        large.keys("C-o", "Enter")  # focus the panel; Enter on the run loads its curves
        screen = large.wait_for(lambda s: "viewing finished run" in s)
        assert "   2  " in screen or " 2 ★" in screen
        assert "e Eval" in screen.splitlines()[-1]  # the panel's keys, in the Footer
        large.keys("e")  # evaluate the run's best checkpoint
        screen = large.wait_for(lambda s: "confusion: rows true" in s and "accuracy" in s)
        large.keys("Escape", "C-l")  # the runs table
        screen = large.wait_for(lambda s: "sorted by run" in s)
        assert "val %" in screen and "2/2" in screen and "16" in screen
        large.keys("Escape")
        large.keys("C-q")
        screen = large.wait_for(lambda s: "EXIT=" in s, timeout=5)
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        large.close()
