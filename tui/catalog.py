"""The runs directory as plain data for the checkpoint panel: runs newest first, and each
run's checkpoints with their metrics, read from the safetensors metadata only (no tensors).

Scanning runs in a thread worker; an unreadable `run.json` or checkpoint becomes an entry with
its reason in `error`, never an exception, so one bad file never stops the app.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlp_core.runs import RunInfo


@dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint file; `error` is set (and the rest mostly empty) when it is unreadable."""

    path: Path
    kind: str
    epoch: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    size: int = 0
    is_best: bool = False
    error: str | None = None

    @property
    def val_accuracy(self) -> float | None:
        return self.metrics.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")


@dataclass(frozen=True)
class RunEntry:
    """One run folder; `error` is set when its `run.json` cannot be read."""

    path: Path
    name: str
    status: str = "unreadable"
    created: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[CheckpointEntry] = field(default_factory=list)
    device: str = ""
    dataset: str = ""
    parent: dict[str, Any] | None = None
    run_error: str = ""
    label: str = ""
    note: str = ""
    #: ``forked from a@3 ← b@1`` for a forked run (`mlp_core.inspect.lineage_text`), else "".
    lineage: str = ""
    error: str | None = None

    @property
    def best(self) -> dict[str, Any] | None:
        """The last epoch marked best, as the engine marks it."""
        marked = [m for m in self.metrics if m.get("is_best")]
        return marked[-1] if marked else None


def checkpoint_kind(path: Path) -> str:
    """last, best or epoch (from the file name the engine uses)."""
    return path.stem if path.stem in ("last", "best") else "epoch"


def read_checkpoint_entry(path: Path, best_epoch: int | None = None) -> CheckpointEntry:
    """Read one checkpoint's metadata; any problem becomes an entry with `error` set."""
    from mlp_core.checkpoint import CheckpointError, read_metadata

    kind = checkpoint_kind(path)
    try:
        stat = path.stat()
        metadata = read_metadata(path)
        epoch = int(metadata["epoch"])
        metrics = json.loads(metadata.get("metrics", "{}"))
        config = json.loads(metadata.get("config", "{}"))
    except (CheckpointError, OSError, KeyError, ValueError, TypeError) as exc:
        return CheckpointEntry(path=path, kind=kind, error=_reason(exc, path))
    return CheckpointEntry(
        path=path,
        kind=kind,
        epoch=epoch,
        metrics=metrics if isinstance(metrics, dict) else {},
        config=config if isinstance(config, dict) else {},
        created=metadata.get("created", ""),
        size=stat.st_size,
        is_best=kind == "best" or (best_epoch is not None and epoch == best_epoch),
    )


def _reason(exc: BaseException, path: Path) -> str:
    """The error's message without the path the panel already shows."""
    text = str(exc).strip() or type(exc).__name__
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def scan_runs(runs_dir: Path) -> list[RunEntry]:
    """Every run under `runs_dir`, newest first, each with its checkpoints."""
    from mlp_core.runs import RunError, list_runs

    entries: list[RunEntry] = []
    for found in list_runs(runs_dir):
        if isinstance(found, RunError):
            path = _run_path_of(found, runs_dir)
            entries.append(RunEntry(path=path, name=path.name, error=_reason(found, path)))
        else:
            entries.append(_safe_entry(found.path, lambda found=found: _entry_of(found)))
    return entries


def scan_run(path: Path) -> RunEntry:
    """One run folder (the live run, re-read after each checkpoint without the others)."""
    from mlp_core.runs import load_run

    return _safe_entry(path, lambda: _entry_of(load_run(path)))


def _safe_entry(path: Path, read: Callable[[], RunEntry]) -> RunEntry:
    """`read()`, or an unreadable entry with the reason: a hand-edited or half-written folder
    (whatever it raises) marks that one run unreadable, never the whole panel."""
    try:
        return read()
    except Exception as exc:
        return RunEntry(path=path, name=path.name, error=_reason(exc, path))


def _entry_of(info: RunInfo) -> RunEntry:
    from mlp_core.runs import checkpoint_paths

    best = info.best()
    best_epoch = best.get("epoch") if best else None
    return RunEntry(
        path=info.path,
        name=info.name,
        status=info.status,
        created=info.created,
        config=json.loads(info.config.to_json()) if info.config else {},
        metrics=info.metrics,
        checkpoints=[read_checkpoint_entry(p, best_epoch) for p in checkpoint_paths(info.path)],
        device=info.device,
        dataset=info.dataset,
        parent=info.parent,
        run_error=info.error,
        label=info.label,
        note=info.note,
        lineage=_lineage(info.path) if info.parent else "",
    )


def _lineage(path: Path) -> str:
    from mlp_core.inspect import lineage_text

    return lineage_text(path)


def _run_path_of(error: Exception, runs_dir: Path) -> Path:
    """The run folder named in a RunError's message (``<folder>/run.json: ...``)."""
    head = str(error).split(": ", 1)[0]
    path = Path(head)
    if path.name == "run.json":
        return path.parent
    return runs_dir / path.name


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


#: A run.json older than this (by its mtime) with an unchanged stat is not read again.
SETTLED_SECONDS = 2.0
#: run.json as last read, by folder: (its stat's inode, size and mtime; its contents).
RunJsonCache = dict[Path, tuple[tuple[int, int, int], dict[str, Any]]]


def runs_signature(
    runs_dir: Path, cache: RunJsonCache | None = None
) -> tuple[tuple[Any, ...], ...]:
    """A cheap fingerprint of the runs directory, so the panel can notice what other processes
    did without reading every checkpoint again: per run its name, its status as judged now
    (a run whose process died reads `running` but is judged `interrupted`: the lock tells),
    label, note and the checkpoints folder's time. run.json's own time is left out: a live
    run rewrites it for its heartbeat every few seconds.

    `cache` (kept by the caller between calls) holds each run.json as last parsed: the panel
    asks every second, and with hundreds of runs (a sweep's) reading and parsing every one
    each time cost the UI process about 1% of a core per hundred runs; a stat that has not
    changed now stands for the file (run.json is only ever replaced whole, by rename).
    """
    if not runs_dir.is_dir():
        return ()
    found = []
    seen: RunJsonCache = {}
    for path in sorted(runs_dir.iterdir()):
        raw = _run_json(path, cache)
        if raw is None:
            continue
        seen[path] = raw
        try:
            checkpoints_mtime = (path / "checkpoints").stat().st_mtime_ns
        except OSError:
            checkpoints_mtime = 0
        status = _judged(path, raw[1])
        label, note = raw[1].get("label"), raw[1].get("note")
        found.append((path.name, status, label, note, checkpoints_mtime))
    if cache is not None:  # forget removed runs
        cache.clear()
        cache.update(seen)
    return tuple(found)


def _run_json(
    path: Path, cache: RunJsonCache | None
) -> tuple[tuple[int, int, int], dict[str, Any]] | None:
    """(stat key, contents) of the folder's run.json, parsed again when its stat changed or
    it was written in the last `SETTLED_SECONDS`; None when there is none or it is not a JSON
    object.

    A recent file is always read (git's "racy clean" rule): file times tick in milliseconds
    (jiffies) and a replaced file's inode can be the one just freed, so two writes close
    together (a label, then another of the same length) can leave the same stat."""
    file = path / "run.json"
    try:
        info = file.stat()
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        known = cache.get(path) if cache is not None else None
        settled = time.time() - info.st_mtime > SETTLED_SECONDS
        if known is not None and known[0] == key and settled:
            return known
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (key, raw) if isinstance(raw, dict) else None


def _judged(path: Path, raw: dict[str, Any]) -> str:
    """The run's status through the one liveness decision (`runproc.judge_status`)."""
    status = str(raw.get("status", ""))
    if status != "running":
        return status
    from mlp_core.runproc import judge_status

    try:
        return judge_status(path, raw)
    except Exception:  # a half-written or odd run.json: as written
        return status
