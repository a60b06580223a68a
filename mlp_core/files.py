"""What reading and writing run files needs without torch: `runs.py` reads and writes run
folders for the app's first screen and for `mnist-tui runs`, `attach` and `export`, which must
not wait for torch (checkpoint.py imports it), so these live here and checkpoint.py imports
them from here: the atomic write every run file goes through, and the crash points that tests
arm (`crash_hook`) to kill a process between two steps of an epoch's writes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

#: Figures of an epoch's metrics that must be numbers (or null) when present.
METRIC_NUMBERS = (
    "train_loss",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "lr",
    "seconds",
    "samples_per_second",
)


def os_error_reason(exc: OSError) -> str:
    """``no space left on device``: the system's words for an OSError, in lower case."""
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


#: The steps of the epoch-end write sequence (see the module docstring), for `crash_hook`.
CRASH_POINTS = (
    "tmp-written",
    "after-last",
    "after-best",
    "after-epoch",
    "after-metrics",
    "before-finished",
)
#: Tests set this to a callable taking a CRASH_POINTS name; None in normal use.
crash_hook: Callable[[str], None] | None = None


def crash_point(name: str) -> None:
    """A step of the write sequence: a no-op unless a test armed `crash_hook`."""
    if crash_hook is not None:
        crash_hook(name)


def atomic_write(path: Path, payload: bytes) -> None:
    """Write `payload` to a temporary file beside `path`, fsync it, then `os.replace` it in.

    A crash at any point leaves either the old file or the new one under `path`, never half.
    The temporary file is made with mode 0666 less the umask, as `open()` would make it (not
    mkstemp's 0600), so a checkpoint gets the permissions the user's other files get.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point("tmp-written")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new `.NAME.XXXXXXXX.tmp` beside `path`, opened O_EXCL (never someone else's file)."""
    while True:
        name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), name
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
