"""One folder per run: `run.json` (config, status, lineage), `metrics.jsonl`, `checkpoints/`.

Run names sort by time (``20261127-221530-h1024-lr0.05``). `run.json` is rewritten atomically
when the status changes (under a small flock, so the heartbeat, the run and the app's notes never
undo each other's changes); `metrics.jsonl` is append-only, one EpochEnd per line, fsynced; a torn
last line (no newline) is skipped by readers and cut off by the writer before it appends.
The status a reader gets is judged (`liveness.judge_status`): a run whose process died reads as
interrupted, whatever run.json still says.

Every file of a folder is read as untrusted: `read_json_file` refuses what is not a regular file
(a FIFO would block), is too large or nested too deeply, or is not UTF-8, and the fields of
`run.json` and of each metrics line are coerced to their types, so a hand-edited or damaged
folder reads as "unreadable" or with its odd fields blank, never as a traceback.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.files import METRIC_NUMBERS, atomic_write, os_error_reason
from mlp_core.liveness import (
    LockBusy,
    RunLease,
    identity,
    judge_status,
    lock_held,
    meta_lock,
    read_raw,
)

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
#: run.json is a few kilobytes; metrics.jsonl about 300 bytes an epoch.
MAX_RUN_JSON_BYTES = 1 << 20
MAX_METRICS_BYTES = 64 << 20
#: Largest pid a kernel gives (pid_t is 32-bit); anything else in run.json is no pid.
PID_MAX = 2**31 - 1


class RunError(Exception):
    """A run folder cannot be read or written; the message names it."""


class RunBusy(RunError):
    """The run's lock is held: it is still training (in process `pid`)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


@dataclass
class RunInfo:
    """What `run.json` holds, plus the metrics read from `metrics.jsonl`."""

    name: str
    path: Path
    config: TrainConfig | None
    status: str
    created: str
    device: str = ""
    dataset: str = ""
    parent: dict[str, Any] | None = None
    label: str = ""
    note: str = ""
    error: str = ""
    pid: int | None = None
    hostname: str = ""
    boot_id: str = ""
    start_time: int | None = None
    heartbeat: float | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    #: This process's hold on the folder (lock + heartbeat) while it trains it; else None.
    lease: RunLease | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Drop the lease, if this process holds one (after the run recorded its end)."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    @property
    def epochs_done(self) -> int:
        return int(self.metrics[-1]["epoch"]) if self.metrics else 0

    def best(self) -> dict[str, Any] | None:
        """The epoch marked best (validation accuracy, or train loss without validation)."""
        marked = [m for m in self.metrics if m.get("is_best") and not m.get("inherited")]
        return marked[-1] if marked else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created,
            "status": self.status,
            "config": json.loads(self.config.to_json()) if self.config else None,
            "device": self.device,
            "dataset": self.dataset,
            "parent": self.parent,
            "label": self.label,
            "note": self.note,
            "error": self.error,
            "pid": self.pid,
            "hostname": self.hostname,
            "boot_id": self.boot_id,
            "start_time": self.start_time,
            "heartbeat": self.heartbeat,
        }


def new_run_name(config: TrainConfig, now: datetime | None = None) -> str:
    """A readable, time-sortable folder name."""
    now = now or datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-h{config.hidden}-lr{config.lr:g}-b{config.batch_size}"


def create_run(runs_dir: Path, config: TrainConfig, **extra: Any) -> RunInfo:
    """Make a new run folder with a unique name and write its `run.json`."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = new_run_name(config)
    name, suffix = base, 1
    while True:
        try:
            (runs_dir / name).mkdir()
            break
        except FileExistsError:
            suffix += 1
            name = f"{base}-{suffix}"
    lease = RunLease.acquire(runs_dir / name)  # a fresh folder: nobody else can hold it
    info = RunInfo(
        name=name,
        path=runs_dir / name,
        config=config,
        status="running",
        created=datetime.now().isoformat(timespec="seconds"),
        **identity(),
        **extra,
    )
    try:
        (info.path / CHECKPOINT_DIR).mkdir()
        save_run_info(info)
    except (OSError, RunError) as exc:
        # A full disk at start: leave no folder without its run.json behind.
        lease.release()
        shutil.rmtree(info.path, ignore_errors=True)
        cause = exc.__cause__ if isinstance(exc, RunError) else exc
        reason = os_error_reason(cause) if isinstance(cause, OSError) else str(exc)
        raise RunError(f"cannot create run folder {info.path}: {reason}") from exc
    info.lease = lease
    lease.start_heartbeat(beat)
    return info


def claim_run(run_path: Path) -> RunInfo:
    """Take an existing run folder to train it on (a resume in place): its lock, this process's
    identity in run.json and a heartbeat. RunBusy when another process still trains it (the
    lock, not run.json, decides: no two processes ever train one folder)."""
    try:
        lease = RunLease.acquire(run_path)
    except LockBusy:
        pid = read_raw(run_path).get("pid")
        raise RunBusy(f"{run_path}: the run is still training in process {pid}", pid) from None
    try:
        info = load_run(run_path)
    except RunError:
        lease.release()
        raise
    for key, value in identity().items():
        setattr(info, key, value)
    info.lease = lease
    lease.start_heartbeat(beat)
    return info


def save_run_info(info: RunInfo) -> None:
    """Rewrite `run.json` atomically; keys this version does not know are kept. A failure (a
    full disk) is a RunError naming the file."""
    path = info.path / RUN_FILE
    try:
        with meta_lock(info.path):
            on_disk = read_raw(info.path)
            values = {**on_disk, **info.to_json()}
            beat_on_disk = on_disk.get("heartbeat")
            if isinstance(beat_on_disk, (int, float)) and beat_on_disk > (info.heartbeat or 0):
                values["heartbeat"] = beat_on_disk  # the heartbeat thread wrote a newer one
            atomic_write(path, json.dumps(values, indent=2).encode())
    except OSError as exc:
        raise RunError(f"cannot write {path}: {os_error_reason(exc)}") from exc


def update_run_json(run_path: Path, **values: Any) -> dict[str, Any]:
    """Change only the given keys of run.json (read-modify-write under the meta lock)."""
    with meta_lock(run_path):
        raw = read_raw(run_path)
        if not raw:
            raise RunError(f"{run_path / RUN_FILE}: cannot read")
        raw.update(values)
        atomic_write(run_path / RUN_FILE, json.dumps(raw, indent=2).encode())
    return raw


def beat(run_path: Path) -> None:
    """Refresh run.json's heartbeat (the lease's thread, every few seconds)."""
    import time

    update_run_json(run_path, heartbeat=time.time())


def append_metrics(run_path: Path, metrics: dict[str, Any]) -> None:
    """Append one epoch's metrics as a JSON line and fsync it.

    A torn last line (a kill or a full disk inside an earlier append) is cut off first, so the
    new line never glues onto a fragment; readers skip such a fragment too.
    """
    with open(run_path / METRICS_FILE, "a+b") as handle:
        _cut_torn_tail(handle)
        handle.write((json.dumps(metrics) + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def _cut_torn_tail(handle: Any) -> None:
    """Truncate an open metrics file to just after its last newline."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    keep, position, chunk = 0, size, 4096
    while position > 0:
        start = max(0, position - chunk)
        handle.seek(start)
        newline = handle.read(position - start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        position = start
    handle.truncate(keep)
    handle.seek(0, os.SEEK_END)


def read_file_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises RunError otherwise.

    Opened non-blocking (a FIFO named run.json must not hang a listing) and checked with fstat
    before reading. A symbolic link is followed; a loop is an error like any other.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise RunError(f"{path}: cannot read ({os_error_reason(exc)})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise RunError(f"{path}: {info.st_size} bytes, more than the {limit} it may have")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise RunError(f"{path}: more than the {limit} bytes it may have")
        return b"".join(chunks)
    except OSError as exc:
        raise RunError(f"{path}: cannot read ({os_error_reason(exc)})") from exc
    finally:
        os.close(fd)


def read_json_file(path: Path, limit: int = MAX_RUN_JSON_BYTES) -> Any:
    """A JSON file read with `read_file_bytes`: invalid UTF-8, bad JSON and nesting too deep for
    the parser are RunErrors naming the file."""
    data = read_file_bytes(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RunError(f"{path}: cannot read (not UTF-8 text: {exc.reason})") from exc
    except RecursionError as exc:
        raise RunError(f"{path}: cannot read (JSON nested too deeply)") from exc
    except ValueError as exc:
        raise RunError(f"{path}: cannot read ({exc})") from exc


def read_metrics(run_path: Path) -> list[dict[str, Any]]:
    """Every complete line of `metrics.jsonl`, its fields coerced to their types.

    Skipped: a torn last line (no newline: a crash mid-append), lines that are not UTF-8 or
    not JSON objects with a whole `epoch` >= 1. A metrics file that cannot be read at all (a
    FIFO, far too large) reads as no metrics rather than failing the whole listing.
    """
    path = run_path / METRICS_FILE
    if not os.path.lexists(path):
        return []
    try:
        data = read_file_bytes(path, MAX_METRICS_BYTES)
    except RunError:
        return []
    rows = []
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is torn
        row = _parse_metrics_line(line)
        if row is not None:
            rows.append(row)
    return rows


def _parse_metrics_line(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(row, dict) or type(row.get("epoch")) is not int or row["epoch"] < 1:
        return None
    return coerce_metrics_row(row)


def coerce_metrics_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each known figure a float or None, and is_best/inherited true or false:
    a hand-edited `"seconds": "slow"` reads as no figure, never as a crash in a sum or sort."""
    fixed = dict(row)
    for key in METRIC_NUMBERS:
        if key in fixed:
            value = fixed[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            fixed[key] = float(value) if number else None
    for key in ("is_best", "inherited"):
        if key in fixed and not isinstance(fixed[key], bool):
            fixed[key] = False
    return fixed


def coerce_pid(value: Any) -> int | None:
    """A pid from run.json, or None when it is not one (a string, a bool, 10**30)."""
    if type(value) is int and 0 < value <= PID_MAX:
        return value
    return None


def load_run(path: Path) -> RunInfo:
    """Read a run folder; its status is judged (`judge_status`), not taken from run.json."""
    raw = read_json_file(path / RUN_FILE)
    if not isinstance(raw, dict):
        raise RunError(f"{path / RUN_FILE}: not a run description (a JSON object)")
    try:
        config = TrainConfig.from_dict(raw["config"]) if raw.get("config") else None
    except (ConfigError, TypeError) as exc:
        raise RunError(f"{path / RUN_FILE}: bad config ({exc})") from exc

    def text(key: str, default: str = "") -> str:
        value = raw.get(key, default)
        return value if isinstance(value, str) else str(value)

    parent = raw.get("parent")
    pid = raw.get("pid")
    start_time, beat_time = raw.get("start_time"), raw.get("heartbeat")
    info = RunInfo(
        name=text("name", path.name),
        path=path,
        config=config,
        status=text("status", "unknown"),
        created=text("created"),
        device=text("device"),
        dataset=text("dataset"),
        parent=parent if isinstance(parent, dict) else None,
        label=text("label"),
        note=text("note"),
        error=text("error"),
        pid=coerce_pid(pid),
        hostname=text("hostname"),
        boot_id=text("boot_id"),
        start_time=start_time if type(start_time) is int and start_time >= 0 else None,
        heartbeat=_finite_time(beat_time),
        metrics=read_metrics(path),
    )
    info.status = judge_status(path, raw)
    return info


def _finite_time(value: Any) -> float | None:
    """A heartbeat time from run.json, or None when it is not a finite number (10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def list_runs(runs_dir: Path) -> list[RunInfo | RunError]:
    """Every run folder, newest first; an unreadable one is returned as its RunError.

    A folder counts when it holds a run.json of any kind (a FIFO, a dangling link or a link
    loop too: it is listed as unreadable, never hidden); an entry that is a link leading
    nowhere or in a loop is listed as unreadable as well.
    """
    if not runs_dir.is_dir():
        return []
    found: list[RunInfo | RunError] = []
    for path in sorted(runs_dir.iterdir(), reverse=True):
        if path.is_symlink() and not path.exists():
            found.append(RunError(f"{path}: a symbolic link that leads nowhere (or in a loop)"))
            continue
        if not path.is_dir() or not os.path.lexists(path / RUN_FILE):
            continue
        try:
            found.append(load_run(path))
        except RunError as exc:
            found.append(exc)
    return found


def check_runs_dir(runs_dir: Path) -> None:
    """Refuse a runs folder that is something else (a file): "no runs" would be a lie."""
    if os.path.lexists(runs_dir) and not runs_dir.is_dir():
        raise RunError(f"{runs_dir}: not a folder of runs (it is a file)")


def checkpoint_paths(run_path: Path) -> list[Path]:
    """The run's checkpoint files: last and best first, then per-epoch ones by name."""
    folder = run_path / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == ".safetensors"]
    order = {"last": 0, "best": 1}
    return sorted(files, key=lambda p: (order.get(p.stem, 2), p.name))


def delete_run(run_path: Path) -> None:
    """Remove a run folder and everything in it; never a run whose process lives (it holds
    the folder's lock), whoever asks: the app, a second app instance, a script."""
    if not (run_path / RUN_FILE).exists():
        raise RunError(f"{run_path}: not a run folder (no {RUN_FILE})")
    _refuse_if_training(run_path)
    shutil.rmtree(run_path)


def _refuse_if_training(run_path: Path) -> None:
    if lock_held(run_path):
        raise RunError(f"{run_path.name} is training: stop it first")


# -- tidying: label, note, checkpoint deletion (used by the app's run notes and delete) -------


def set_label_and_note(
    run_path: Path, label: str | None = None, note: str | None = None
) -> RunInfo:
    """Change a run's label and/or note (None leaves it) and rewrite `run.json` atomically.

    Allowed while the run trains: the trainer re-reads label and note before it next writes
    its status.
    """
    values = {}
    if label is not None:
        values["label"] = label.strip()
    if note is not None:
        values["note"] = note.strip()
    load_run(run_path)  # RunError for a folder that is not a run
    update_run_json(run_path, **values)
    return load_run(run_path)


def delete_checkpoint(path: Path) -> None:
    """Remove one checkpoint file of a run (only a .safetensors file in a run's checkpoints/)."""
    path = Path(path)
    run_path = path.parent.parent
    if (
        path.suffix != ".safetensors"
        or path.parent.name != CHECKPOINT_DIR
        or not (run_path / RUN_FILE).is_file()
    ):
        raise RunError(f"{path}: not a checkpoint of a run (expected <run>/{CHECKPOINT_DIR}/*)")
    _refuse_if_training(run_path)
    try:
        path.unlink()
    except FileNotFoundError as exc:
        raise RunError(f"{path}: no such checkpoint file") from exc
    except OSError as exc:
        raise RunError(f"{path}: cannot delete ({exc})") from exc


def run_summary(run: RunInfo | RunError) -> dict[str, Any]:
    """The figures of one run as `mnist-tui runs` and the app's runs table show them.

    An unreadable run is summarised too (status "unreadable", with the reason), so a listing
    never hides a folder.
    """
    if isinstance(run, RunError):
        return {"name": str(run).split(":")[0], "status": "unreadable", "error": str(run)}
    best = run.best()
    return {
        "name": run.name,
        "label": run.label,
        "config": run.config.summary() if run.config else "?",
        "hidden": run.config.hidden if run.config else None,
        "lr": run.config.lr if run.config else None,
        "batch_size": run.config.batch_size if run.config else None,
        "optimizer": run.config.optimizer if run.config else None,
        "epochs_done": run.epochs_done,
        "epochs": run.config.epochs if run.config else None,
        "best_epoch": best.get("epoch") if best else None,
        "best_val_accuracy": best.get("val_accuracy") if best else None,
        "test_accuracy_at_best": best.get("test_accuracy") if best else None,
        "status": run.status,
        "seconds": sum(
            m["seconds"]
            for m in run.metrics
            if not m.get("inherited")
            and isinstance(m.get("seconds"), float)
            and math.isfinite(m["seconds"])
        ),
        "parent": run.parent,
    }
