"""The panel's cheap look at the runs folder every second: what changes is seen, what does
not change is not read again."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tui import catalog
from tui.catalog import RunJsonCache, runs_signature


def write_run(runs: Path, name: str, age: float = 60.0, **fields: object) -> Path:
    """A run folder with a run.json, replaced whole (write then rename) as runs write it,
    dated `age` seconds ago."""
    folder = runs / name
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / "run.json.tmp"
    temporary.write_text(json.dumps({"status": "finished", **fields}), encoding="utf-8")
    os.replace(temporary, folder / "run.json")
    when = time.time() - age
    os.utime(folder / "run.json", (when, when))
    return folder


def test_an_unchanged_run_json_is_not_read_again_and_a_replaced_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    for index in range(5):
        write_run(runs, f"run-{index}", label=f"label {index}")
    parsed: list[str] = []
    real_loads = catalog.json.loads

    def counting_loads(text: str) -> object:
        parsed.append(text)
        return real_loads(text)

    monkeypatch.setattr(catalog.json, "loads", counting_loads)
    cache: RunJsonCache = {}
    first = runs_signature(runs, cache)
    assert [entry[2] for entry in first] == [f"label {i}" for i in range(5)]
    assert len(parsed) == 5
    assert runs_signature(runs, cache) == first
    assert len(parsed) == 5  # nothing changed: nothing parsed again

    write_run(runs, "run-2", label="renamed", status="stopped")
    changed = runs_signature(runs, cache)
    assert len(parsed) == 6  # only the replaced run.json
    assert changed[2][1:3] == ("stopped", "renamed")
    assert changed[:2] == first[:2] and changed[3:] == first[3:]

    (runs / "run-4" / "run.json").unlink()
    assert [entry[0] for entry in runs_signature(runs, cache)] == [f"run-{i}" for i in range(4)]
    assert runs / "run-4" not in cache  # a removed run is forgotten


def test_without_a_cache_every_call_reads_every_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "run-a", label="a")
    before = runs_signature(runs)
    write_run(runs, "run-a", label="b")
    assert runs_signature(runs)[0][2] == "b" != before[0][2]


def test_a_run_json_written_just_now_is_read_even_when_its_stat_looks_the_same(
    tmp_path: Path,
) -> None:
    """File times tick coarsely and inodes are reused: two writes within a tick (a label
    set, then changed to one of the same length) can leave the very same stat. A recent file
    is always read."""
    runs = tmp_path / "runs"
    folder = write_run(runs, "run-a", age=0.0, label="first")
    cache: RunJsonCache = {}
    assert runs_signature(runs, cache)[0][2] == "first"
    file = folder / "run.json"
    before = file.stat()
    file.write_text(file.read_text().replace("first", "again"), encoding="utf-8")
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same stat as before
    after = file.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns
    )  # fmt: skip
    assert runs_signature(runs, cache)[0][2] == "again"
