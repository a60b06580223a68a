"""Every process a test's app (or the test) spawned is killed by pid at teardown: run
processes (their pid from run.json) and the queue runner (any process whose command line names
the test's folder). A test module that spawns imports `reap_spawned` (an autouse fixture; not in
a conftest.py, whose name would shadow tests/conftest.py for `from conftest import`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def spawned_pids(root: Path) -> set[int]:
    """Pids of the live processes started for `root`: named in a run.json under it, or with
    `root` in their command line (the queue runner, a run still starting)."""
    pids: set[int] = set()
    for run_json in root.rglob("run.json"):
        try:
            pid = json.loads(run_json.read_text()).get("pid")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(pid, int) and pid != os.getpid():
            pids.add(pid)
    needle = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.add(int(entry.name))
        except OSError:
            continue
    return {pid for pid in pids if _alive(pid, needle)}


def _alive(pid: int, needle: bytes) -> bool:
    """Alive and ours: a run.json pid may have been reused by an unrelated process, which a
    test must never kill; ours name the test folder or run this repository's Python."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and (needle in cmdline or b"mlp_core" in cmdline)


def kill_spawned(root: Path) -> list[int]:
    """SIGKILL every process started for `root`, by pid; returns their pids."""
    pids = spawned_pids(root)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while spawned_pids(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(pids)


@pytest.fixture(autouse=True)
def reap_spawned(tmp_path: Path) -> Iterator[None]:
    """After each test: no process it started is left behind."""
    yield
    kill_spawned(tmp_path)
