"""Whether a run's process lives: an flock it holds, its identity, a heartbeat. No torch, no UI.

A run process holds an exclusive `flock` on `<run>/lock` for its whole life. The kernel frees
it on any death (kill -9 included) and a reused pid cannot fake it, so on the run's own host and
boot a reader trusts the lock alone. `run.json` also records who holds it (pid, hostname, boot
id, the process start time from /proc) and a heartbeat time refreshed every few seconds: a
reader on another host (a shared runs folder), where the lock proves nothing, judges by the
heartbeat instead. `judge_status` is the one decision every front-end uses (through
`runs.load_run`); it only reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

LOCK_FILE = "lock"
#: Serialises read-modify-write of run.json between the run, its heartbeat and the app's notes.
META_LOCK_FILE = "run.json.lock"
HEARTBEAT_SECONDS = 2.0
#: A heartbeat older than this (on another host or boot) reads as lost.
HEARTBEAT_GRACE = 30.0


def boot_id() -> str:
    """This boot's id (Linux); empty where /proc has none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot): with the pid, names one process.

    None for a process that does not exist (or a zombie, which is dead for our purpose).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def identity(pid: int | None = None) -> dict[str, Any]:
    """What run.json records about the process that holds the lock."""
    pid = os.getpid() if pid is None else pid
    return {
        "pid": pid,
        "hostname": socket.gethostname(),
        "boot_id": boot_id(),
        "start_time": process_start_time(pid),
        "heartbeat": time.time(),
    }


def same_process(raw: dict[str, Any]) -> bool:
    """Whether run.json's pid is still the process that wrote it (this host and boot, and the
    same start time: a reused pid has another)."""
    pid, start = raw.get("pid"), raw.get("start_time")
    if not isinstance(pid, int) or not isinstance(start, int) or not on_this_machine(raw):
        return False
    return process_start_time(pid) == start


def on_this_machine(raw: dict[str, Any]) -> bool:
    """run.json written on this host during this boot (a legacy record without them is)."""
    host, boot = raw.get("hostname"), raw.get("boot_id")
    return (not host or host == socket.gethostname()) and (not boot or boot == boot_id())


def lock_held(run_path: Path) -> bool:
    """Whether some process holds `<run>/lock`."""
    return file_locked(run_path / LOCK_FILE)


def file_locked(path: Path) -> bool:
    """Whether some process holds an flock on `path` (a shared probe: never blocks, never
    creates the file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def judge_status(run_path: Path, raw: dict[str, Any], now: float | None = None) -> str:
    """THE liveness decision; see the module docstring.

    A recorded end (finished, stopped, ...) stands. A recorded "running": on this host and boot,
    running while the lock is held and interrupted once it is free (the run died without saying
    so); elsewhere, running while the heartbeat is fresh and lost once it is older than
    HEARTBEAT_GRACE (running again if it resumes).
    """
    status = raw.get("status", "unknown")
    status = status if isinstance(status, str) else str(status)
    if status != "running":
        return status
    if on_this_machine(raw):
        if lock_held(run_path):
            return "running"
        # `raw` may predate the run's last write: it records its end, then lets the lock go.
        # Read again now that the lock is free, or a run that just finished would be judged
        # interrupted (seen, under load, in a test).
        again = read_raw(run_path).get("status", "running")
        return again if again != "running" and isinstance(again, str) else "interrupted"
    beat = raw.get("heartbeat")
    now = time.time() if now is None else now
    fresh = isinstance(beat, (int, float)) and now - beat <= HEARTBEAT_GRACE
    return "running" if fresh else "lost"


# -- the holder's side ------------------------------------------------------------------------


class LockBusy(Exception):
    """Another process holds the lock."""


def try_lock(path: Path) -> int:
    """Open (create) `path` and take an exclusive flock without waiting; returns the fd, which
    holds the lock until closed (or the process dies). LockBusy if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockBusy(str(path)) from None
    return fd


@contextmanager
def meta_lock(run_path: Path):  # type: ignore[no-untyped-def]
    """Held around every read-modify-write of run.json (short: no I/O but that file)."""
    fd = os.open(run_path / META_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class RunLease:
    """A run process's hold on its folder: the lock and a heartbeat thread.

    The heartbeat is a daemon thread that rewrites only run.json's "heartbeat" every
    HEARTBEAT_SECONDS: the training step never waits for it.
    """

    def __init__(self, run_path: Path, fd: int) -> None:
        self.run_path = run_path
        self._fd: int | None = fd
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def acquire(cls, run_path: Path) -> RunLease:
        """Take `<run>/lock`; LockBusy when another process holds it."""
        return cls(run_path, try_lock(run_path / LOCK_FILE))

    def start_heartbeat(self, beat: Callable[[Path], None]) -> None:
        def loop() -> None:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                with suppress(Exception):  # a full disk: the lock still says the run lives
                    beat(self.run_path)

        self._thread = threading.Thread(target=loop, name="run-heartbeat", daemon=True)
        self._thread.start()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Stop the heartbeat and drop the lock (after the run recorded its end)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


#: A run.json is a few kilobytes; more is not one of ours (runs.MAX_RUN_JSON_BYTES reads alike).
_MAX_RAW_BYTES = 1 << 20


def read_raw(run_path: Path) -> dict[str, Any]:
    """run.json as a dict ({} when missing, torn or not a plain file of ours).

    Opened non-blocking and checked to be a regular file before reading: a FIFO named run.json
    must never hang a reader (the heartbeat, a follower, `stop`)."""
    try:
        fd = os.open(run_path / "run.json", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_RAW_BYTES:
            return {}
        raw = json.loads(os.read(fd, _MAX_RAW_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    finally:
        os.close(fd)
    return raw if isinstance(raw, dict) else {}
