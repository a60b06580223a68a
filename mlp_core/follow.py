"""Follow a run folder from outside its process: replay what it wrote, then what it writes.

    follower = RunFollower(Path("runs/20261201-203000-h16-lr0.05-b32"))
    while not follower.done:
        for event in follower.poll():
            ...
        time.sleep(0.25)

The events are the engine's own (events.py), so a front-end prints or posts a followed run
exactly as one it iterates itself. Only reads: any number of followers (two app instances, an
`attach`) can follow one run.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from mlp_core.events import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    RunClosed,
    RunStarted,
)
from mlp_core.liveness import judge_status, read_raw

_PROGRESS_FILE = "progress.json"  # runproc.PROGRESS_FILE (not imported: runproc imports us)


class RunFollower:
    """Follows one run folder: tail metrics.jsonl by byte offset (partial last line ignored),
    read the progress file, watch run.json. Works for a live run or a finished one (replay)."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)
        self._offset = 0
        self._started = False
        self._done = False
        self._epoch = 0  # the last epoch seen in metrics.jsonl
        self._progress_stamp: tuple[int, int] | None = None
        self._checkpoints: dict[str, int] = {}
        self.status = ""
        self.metrics: list[dict[str, Any]] = []

    @property
    def done(self) -> bool:
        """True once the end event has been returned by poll()."""
        return self._done

    def poll(self) -> list[Event]:
        """Events since the last poll, as the engine's own Event classes: RunStarted first
        (built from run.json), EpochEnd per new metrics line, Progress when the progress file
        changed, CheckpointSaved for new checkpoint files, then one end event when the run is
        no longer running: Finished (finished/stopped), Diverged, or RunClosed(status, reason)
        (events.py) for failed/interrupted/lost.

        The status is read first: a run writes its metrics before its end, so once the status
        read says it ended, every line is already there."""
        if self._done:
            return []
        raw = read_raw(self.run_path)
        if not raw:
            return []  # not written yet (or torn mid-rename: next poll)
        self.status = judge_status(self.run_path, raw)
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(_run_started(self.run_path, raw))
        events += self._new_epochs()
        events += self._new_checkpoints()
        if self.status == "running":
            events += self._new_progress()
        else:
            events.append(self._end(raw))
            self._done = True
        return events

    def _new_epochs(self) -> list[Event]:
        try:
            with open(self.run_path / "metrics.jsonl", "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a partial last line waits for its end
        self._offset += len(complete)
        events: list[Event] = []
        for line in complete.splitlines():
            try:
                row = json.loads(line)
                event = EpochEnd(**{k: row[k] for k in EpochEnd.__dataclass_fields__})
            except (ValueError, KeyError, TypeError):
                continue
            self.metrics.append(row)
            self._epoch = event.epoch
            events.append(event)
        return events

    def _new_checkpoints(self) -> list[Event]:
        folder = self.run_path / "checkpoints"
        events: list[Event] = []
        try:
            paths = sorted(folder.glob("*.safetensors"))
        except OSError:
            return []
        for path in paths:
            try:
                stamp = path.stat().st_mtime_ns
            except OSError:
                continue
            if self._checkpoints.get(path.name) == stamp:
                continue
            self._checkpoints[path.name] = stamp
            kind = "epoch" if path.stem.startswith("epoch-") else path.stem
            events.append(CheckpointSaved(str(path), kind, _checkpoint_epoch(path, self._epoch)))
        return events

    def _new_progress(self) -> list[Event]:
        path = self.run_path / _PROGRESS_FILE
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp == self._progress_stamp:
                return []
            self._progress_stamp = stamp
            row = json.loads(path.read_text(encoding="utf-8"))
            event = Progress(**{k: row[k] for k in Progress.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return []
        # Written before the epoch's metrics line: a bar for an epoch already shown is stale.
        return [event] if event.epoch > self._epoch else []

    def _end(self, raw: dict[str, Any]) -> Event:
        error = raw.get("error") if isinstance(raw.get("error"), str) else ""
        run_dir = str(self.run_path)
        own = [m for m in self.metrics if not m.get("inherited")]
        if self.status in ("finished", "stopped"):
            scored = [m for m in own if m.get("is_best")]
            best = scored[-1] if scored else None
            return Finished(
                status=self.status,
                epochs_done=self._epoch,
                best_epoch=best["epoch"] if best else None,
                best_val_accuracy=best.get("val_accuracy") if best else None,
                test_accuracy_at_best=best.get("test_accuracy") if best else None,
                seconds=sum(float(m.get("seconds", 0.0)) for m in own),
                run_dir=run_dir,
            )
        if self.status == "diverged":
            last = self.run_path / "checkpoints" / "last.safetensors"
            return Diverged(
                self._epoch + 1, 0, error or "loss is not finite",
                str(last) if last.exists() else None, run_dir,
            )  # fmt: skip
        reason = error or {
            "interrupted": "the run's process died without finishing",
            "lost": "no heartbeat from the run's host for a while",
        }.get(self.status, "")
        return RunClosed(self.status, reason, run_dir)


def _run_started(run_path: Path, raw: dict[str, Any]) -> RunStarted:
    """The run's own RunStarted when it recorded one (run_main and `train` do), else one built
    from run.json (sizes unknown: 0)."""
    started = raw.get("started")
    if isinstance(started, dict):
        try:
            return RunStarted(**{k: started[k] for k in RunStarted.__dataclass_fields__})
        except (KeyError, TypeError):
            pass
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    return RunStarted(
        run_name=str(raw.get("name", run_path.name)),
        run_dir=str(run_path),
        config=config,
        device=str(raw.get("device", "")),
        dataset=str(raw.get("dataset", "")),
        start_epoch=0,
        epochs=int(config.get("epochs", 0) or 0),
        steps_per_epoch=0,
        train_size=0,
        val_size=0,
        test_size=0,
    )


def _checkpoint_epoch(path: Path, default: int) -> int:
    """The epoch in a safetensors file's metadata (its JSON header, a few KB: no tensors read)."""
    try:
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > 1 << 24:
                return default
            header = json.loads(handle.read(size))
        return int(header["__metadata__"]["epoch"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return default
