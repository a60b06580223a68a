"""SIGTERM and SIGHUP as a request to stop, like the app's Stop: after the current batch.

Without this a `kill`, a closed SSH session or a container's stop ends the trainer wherever it
is, leaving run.json at "running". With it, `train()` sees `should_stop()` turn true, ends the
epoch's batch, records the run as "stopped" and returns; the command then exits with 128 plus
the signal's number (143 for SIGTERM, 129 for SIGHUP), as a shell reports a signalled process.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Self

#: The signals handled; SIGINT stays Python's KeyboardInterrupt (Ctrl-C stops at once).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _HandlersFor:
    """A context manager that makes `_handle` the handler of `signals` and puts the previous
    handlers back on exit. Only in the main thread (the only one Python lets install them);
    elsewhere it installs nothing."""

    def __init__(self, signals: tuple[signal.Signals, ...]) -> None:
        self.signals = signals
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


class StopOnSignals(_HandlersFor):
    """A context manager and a `should_stop` callable: true once a stop signal arrived.

    Outside the main thread, as in the app's worker, it is a callable that stays false.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        super().__init__(signals)
        self.received: signal.Signals | None = None

    def __call__(self) -> bool:
        return self.received is not None

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, or 0 when none arrived."""
        return 128 + int(self.received) if self.received is not None else 0

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt  # a second signal: stop now, as a second Ctrl-C would
        self.received = signal.Signals(signum)


class DeferredSignals(_HandlersFor):
    """Hold back SIGINT, SIGTERM and SIGHUP while an epoch's files are written, then deliver.

    A Ctrl-C is a KeyboardInterrupt wherever Python happens to be: inside `atomic_write`, after
    the temporary file is made and before its `try`, it would leave a `.tmp` file behind. So
    the epoch's writes (checkpoints, then the metrics line) run with these signals recorded,
    not acted on; `deliver()` then raises each one again, to whatever handler was there before,
    once the epoch is committed and reported. Only the main thread can install handlers;
    elsewhere this does nothing. A signal held back when the block ends in an error is dropped:
    that error already ends the run.
    """

    def __init__(self) -> None:
        super().__init__((signal.SIGINT, *STOP_SIGNALS))
        self.pending: list[signal.Signals] = []

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.pending.append(signal.Signals(signum))

    def deliver(self) -> None:
        """Raise the held-back signals again, in the order they came (handlers restored)."""
        pending, self.pending = self.pending, []
        for sig in pending:
            signal.raise_signal(sig)
