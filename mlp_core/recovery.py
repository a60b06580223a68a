"""Bringing a run folder back to its invariant after a kill (the recovery rule).

The write order and the invariant are stated in `mlp_core.checkpoint`'s docstring. A kill can
leave the folder one step short: `last.safetensors` one epoch past metrics.jsonl (written, not
committed), perhaps with `best.safetensors` and the epoch file not yet rewritten, a torn last
metrics line, and `.*.tmp` files. Resuming the run in place calls `mend_run_folder`, which
finishes that epoch's writes from `last`'s own bytes and metrics, in the same order, so a kill
during the mend is mended by the next resume. Only the run's own process (the resume) writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlp_core.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write,
    is_finite_number,
    read_metadata,
)
from mlp_core.runs import CHECKPOINT_DIR, append_metrics, read_metrics


def score(metrics: dict[str, Any]) -> float:
    """Higher is better: validation accuracy, or minus train loss when there is no validation.

    A NaN score, or a missing or non-numeric figure (a hand-edited line), is never best: -inf.
    """
    value = metrics.get("val_accuracy")
    if value is None:
        loss = metrics.get("train_loss")
        value = -loss if is_finite_number(loss) else None
    return value if is_finite_number(value) else -math.inf


def remove_leftover_temporaries(run_path: Path) -> list[Path]:
    """Delete the `.*.tmp` files an earlier death left in the run folder; return them."""
    removed = []
    for folder in (run_path, run_path / CHECKPOINT_DIR):
        for path in folder.glob(".*.tmp"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def epoch_of(path: Path) -> int | None:
    """The epoch of a checkpoint file from its metadata, or None when it is absent or bad."""
    try:
        return int(read_metadata(path)["epoch"])
    except (CheckpointError, KeyError, ValueError):
        return None


def mend_run_folder(run_path: Path, latest: Checkpoint) -> list[dict[str, Any]]:
    """Finish the epoch `latest` (the run's newest checkpoint) if a kill cut it short.

    When metrics.jsonl ends one epoch before `latest`: rewrite best (when its metrics mark it
    best) and the epoch file (with keep_top_k) from `latest`'s bytes, then append its metrics
    line, which commits the epoch. Returns the run's metrics, mended.
    """
    remove_leftover_temporaries(run_path)
    history = read_metrics(run_path)
    done = history[-1]["epoch"] if history else 0
    if latest.epoch != done + 1 or not latest.metrics:
        return history
    folder = run_path / CHECKPOINT_DIR
    payload = latest.path.read_bytes()
    line = {**latest.metrics, "epoch": latest.epoch}
    if line.get("is_best") and epoch_of(folder / "best.safetensors") != latest.epoch:
        atomic_write(folder / "best.safetensors", payload)
    if latest.config.keep_top_k:
        epoch_file = folder / f"epoch-{latest.epoch:04d}.safetensors"
        if epoch_of(epoch_file) != latest.epoch:
            atomic_write(epoch_file, payload)
        prune_epoch_checkpoints(folder, [*history, line], latest.config.keep_top_k)
    append_metrics(run_path, line)
    return [*history, line]


def prune_epoch_checkpoints(folder: Path, history: list[dict[str, Any]], keep: int) -> None:
    """Keep the `keep` best `epoch-NNNN.safetensors` files by score; delete the rest."""
    scores = {m["epoch"]: score(m) for m in history}
    files = sorted(folder.glob("epoch-*.safetensors"))

    def rank(path: Path) -> float:
        try:
            return scores.get(int(path.stem.split("-")[1]), -math.inf)
        except (IndexError, ValueError):
            return -math.inf

    for path in sorted(files, key=rank, reverse=True)[keep:]:
        path.unlink(missing_ok=True)
