"""Processes a test spawned, found and killed by pid: the suite leaves nothing behind.

Every detached process of mnist-tui (a run, the queue runner) names its runs folder on its
command line, so the processes a test started are those whose command line holds the test's
tmp_path. `kill_spawned(tmp_path)` SIGKILLs each by its pid and waits for it to be gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def spawned_pids(root: Path) -> list[int]:
    """Pids of live processes (not this one) whose command line mentions `root`."""
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def kill_spawned(root: Path, timeout: float = 10.0) -> list[int]:
    """Kill every process `spawned_pids(root)` names; returns the pids that were alive."""
    pids = spawned_pids(root)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while spawned_pids(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids
