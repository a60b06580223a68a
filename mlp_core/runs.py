"""One folder per run: `run.json` (config, status, lineage), `metrics.jsonl`, `checkpoints/`.

Run names sort by time (``20261127-221530-h1024-lr0.05``). `run.json` is rewritten atomically
when the status changes (under a small flock, so the heartbeat, the run and the app's notes never
undo each other's changes); `metrics.jsonl` is append-only, one EpochEnd per line, fsynced.
The status a reader gets is judged (`liveness.judge_status`): a run whose process died reads as
interrupted, whatever run.json still says.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlp_core.config import ConfigError, TrainConfig
from mlp_core.liveness import LockBusy, RunLease, identity, judge_status, meta_lock, read_raw

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"


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
    (info.path / CHECKPOINT_DIR).mkdir()
    save_run_info(info)
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


def atomic_write(path: Path, data: bytes) -> None:
    """checkpoint.atomic_write, imported when first needed: reading runs (the app's first
    screen, `mnist-tui attach`) then never waits for torch, which checkpoint.py imports."""
    from mlp_core.checkpoint import atomic_write as write

    write(path, data)


def save_run_info(info: RunInfo) -> None:
    """Rewrite `run.json` atomically; keys this version does not know are kept."""
    with meta_lock(info.path):
        on_disk = read_raw(info.path)
        values = {**on_disk, **info.to_json()}
        beat_on_disk = on_disk.get("heartbeat")
        if isinstance(beat_on_disk, (int, float)) and beat_on_disk > (info.heartbeat or 0):
            values["heartbeat"] = beat_on_disk  # the heartbeat thread wrote a newer one
        atomic_write(info.path / RUN_FILE, json.dumps(values, indent=2).encode())


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
    """Append one epoch's metrics as a JSON line and fsync it."""
    with open(run_path / METRICS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(run_path: Path) -> list[dict[str, Any]]:
    """Every complete line of `metrics.jsonl` (a torn last line from a crash is skipped)."""
    path = run_path / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("epoch"), int):
            rows.append(row)
    return rows


def load_run(path: Path) -> RunInfo:
    """Read a run folder; its status is judged (`judge_status`), not taken from run.json."""
    try:
        raw = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path / RUN_FILE}: cannot read ({exc})") from exc
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
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        hostname=text("hostname"),
        boot_id=text("boot_id"),
        start_time=start_time if isinstance(start_time, int) else None,
        heartbeat=float(beat_time) if isinstance(beat_time, (int, float)) else None,
        metrics=read_metrics(path),
    )
    info.status = judge_status(path, raw)
    return info


def list_runs(runs_dir: Path) -> list[RunInfo | RunError]:
    """Every run folder, newest first; an unreadable one is returned as its RunError."""
    if not runs_dir.is_dir():
        return []
    found: list[RunInfo | RunError] = []
    for path in sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True):
        if not (path / RUN_FILE).exists():
            continue
        try:
            found.append(load_run(path))
        except RunError as exc:
            found.append(exc)
    return found


def checkpoint_paths(run_path: Path) -> list[Path]:
    """The run's checkpoint files: last and best first, then per-epoch ones by name."""
    folder = run_path / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == ".safetensors"]
    order = {"last": 0, "best": 1}
    return sorted(files, key=lambda p: (order.get(p.stem, 2), p.name))


def delete_run(run_path: Path) -> None:
    """Remove a run folder and everything in it."""
    if not (run_path / RUN_FILE).exists():
        raise RunError(f"{run_path}: not a run folder (no {RUN_FILE})")
    shutil.rmtree(run_path)


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
        "seconds": sum(m.get("seconds", 0.0) for m in run.metrics if not m.get("inherited")),
        "parent": run.parent,
    }
