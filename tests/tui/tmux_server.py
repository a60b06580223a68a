"""A tmux server of this test process's own, for the tests that drive the app in tmux."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Its own socket: a tmux session of anyone else's on the machine, or a `tmux kill-server`,
#: cannot touch the sessions these tests drive.
TMUX = ["tmux", "-L", f"mnist-tui-tests-{os.getpid()}"]


@pytest.fixture(autouse=True, scope="module")
def own_tmux_server() -> Iterator[None]:
    """Ends the tmux server and removes its socket file once a module's tests are done
    (imported by each tmux test module, it is autouse there)."""
    yield
    subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False)
    socket = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / TMUX[2]
    socket.unlink(missing_ok=True)


def end_session(name: str, timeout: float = 5.0) -> None:
    """Kill a session and wait until it is gone, and, where it was the server's last, until
    the server has exited: a session started while the server exits reaches the exiting
    server and fails ("server exited unexpectedly", seen in a CI dry run between a test's
    two terminals)."""
    subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(
            [*TMUX, "list-sessions", "-F", "#{session_name}"],
            capture_output=True,
            text=True,
            check=False,
        )
        names = listed.stdout.split()
        exiting = "exited unexpectedly" in listed.stderr  # reached while it shuts down
        if (listed.returncode != 0 and not exiting) or (names and name not in names):
            return  # no server any more, or one that others' sessions keep up
        time.sleep(0.05)
