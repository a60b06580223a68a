"""A tmux server of this test process's own, for the tests that drive the app in tmux."""

from __future__ import annotations

import os
import subprocess
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
