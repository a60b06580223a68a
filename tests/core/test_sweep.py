"""Sweeps: grid expansion and the results table (the queue and its runner: test_jobqueue.py)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_core.config import ConfigError, preset
from mlp_core.jobqueue import _read, _write, list_jobs
from mlp_core.runs import append_metrics, create_run, save_run_info
from mlp_core.sweep import (
    MAX_GRID,
    JobFinished,
    JobResult,
    expand_grid,
    grid_size,
    new_sweep,
    parse_values,
    results_csv,
    results_markdown,
    results_paths,
    sweep_results,
    varying_fields,
)

BASE = preset("default", hidden=16, epochs=1, val_split=100, device="cpu")


# -- grid expansion ---------------------------------------------------------------------------


def test_parse_values_types_each_field() -> None:
    assert parse_values("hidden", "128, 256,512") == [128, 256, 512]
    assert parse_values("lr", "0.01,1e-3") == [0.01, 0.001]
    assert parse_values("nesterov", "true,False,yes") == [True, False]
    assert parse_values("init", "he,normal") == ["he", "normal"]
    assert parse_values("hidden", "128,128") == [128]


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("hidden", "128,abc", ["hidden", "'abc'", "whole number"]),
        ("hidden", "1.5", ["hidden", "'1.5'"]),
        ("lr", "0.1,fast", ["lr", "'fast'", "number"]),
        ("nesterov", "maybe", ["nesterov", "'maybe'", "true or false"]),
        ("init", "he,zeros", ["init", "'zeros'", "he, xavier, normal"]),
        ("hidden", "128,,256", ["hidden", "empty"]),
        ("width", "1", ["width", "not a TrainConfig field"]),
    ],
)
def test_parse_values_refuses_bad_values(name: str, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_values(name, text)
    for word in words:
        assert word in str(caught.value)


def test_expand_grid_every_combination_first_field_slowest() -> None:
    configs = expand_grid(BASE, {"hidden": "128,256,512", "lr": "0.01,0.1"})
    assert grid_size({"hidden": "128,256,512", "lr": "0.01,0.1"}) == 6
    assert [(c.hidden, c.lr) for c in configs] == [
        (128, 0.01),
        (128, 0.1),
        (256, 0.01),
        (256, 0.1),
        (512, 0.01),
        (512, 0.1),
    ]
    assert all(type(c.hidden) is int and type(c.lr) is float for c in configs)
    assert all(c.epochs == 1 and c.init == "he" for c in configs)  # the rest from the base
    assert varying_fields(configs) == ["hidden", "lr"]


def test_expand_grid_accepts_lists_and_no_grid() -> None:
    assert [c.standardize for c in expand_grid(BASE, {"standardize": [True, False]})] == [
        True,
        False,
    ]
    assert expand_grid(BASE) == [BASE]


def test_expand_grid_validates_each_combination() -> None:
    with pytest.raises(ConfigError, match=r"lr must be greater than 0.*lr=-0.1"):
        expand_grid(BASE, {"hidden": "16,32", "lr": "0.1,-0.1"})
    with pytest.raises(ConfigError, match="nesterov needs momentum"):
        expand_grid(BASE, {"momentum": "0.9,0"})


def test_expand_grid_refuses_a_huge_grid() -> None:
    too_many = ",".join(str(h) for h in range(1, MAX_GRID + 2))
    with pytest.raises(ConfigError, match="combinations"):
        expand_grid(BASE, {"hidden": too_many})


# -- the results table ------------------------------------------------------------------------


def test_results_csv_and_markdown_show_the_varying_columns() -> None:
    configs = expand_grid(BASE, {"hidden": "16,32", "lr": "0.05,0.1"})
    rows = [JobResult(i, c, "waiting") for i, c in enumerate(configs, start=1)]
    rows[0].state, rows[0].best_val_accuracy, rows[0].seconds = "done", 0.9312, 1.5
    rows[0].run_name = "run-a"
    table = list(csv.DictReader(io.StringIO(results_csv(rows))))
    assert [(r["job"], r["hidden"], r["lr"], r["status"]) for r in table] == [
        ("1", "16", "0.05", "done"),
        ("2", "16", "0.1", "waiting"),
        ("3", "32", "0.05", "waiting"),
        ("4", "32", "0.1", "waiting"),
    ]
    assert "batch_size" not in table[0]  # only the columns that vary
    assert table[0]["best_val_acc_%"] == "93.12" and table[0]["seconds"] == "1.50"
    assert table[1]["seconds"] == ""  # not ended: no time yet
    markdown = results_markdown(rows, title="t")
    assert "| job | hidden | lr | status |" in markdown and "run-a" in markdown
    assert markdown.count("| waiting |") == 3


def test_a_sweep_is_queued_jobs_and_its_table_reads_their_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folder = new_sweep(runs, expand_grid(BASE, {"seed": "0,1"}))
    assert folder.parent == runs / "sweeps" and folder.name.endswith("-seed")
    jobs = list_jobs(runs)
    assert [j.state for j in jobs] == ["waiting", "waiting"] and {j.sweep for j in jobs} == {
        folder.name
    }
    info = create_run(runs, jobs[0].config)  # as the runner's launch would make it
    append_metrics(info.path, {"epoch": 1, "is_best": True, "val_accuracy": 0.5,
                               "test_accuracy": 0.4, "seconds": 2.0})  # fmt: skip
    info.status = "finished"
    save_run_info(info)
    info.release()
    jobs[0].path.rename(jobs[0].path.with_name(f"{jobs[0].id}.running.json"))
    running = _read(jobs[0].path.with_name(f"{jobs[0].id}.running.json"))
    running.run_dir = info.path
    _write(running.path, running)
    rows = sweep_results(runs, folder.name)
    assert [r.state for r in rows] == ["done", "waiting"]  # judged from the run folder
    assert rows[0].best_val_accuracy == 0.5 and rows[0].epochs_done == 1
    assert rows[0].seconds == 2.0 and rows[0].run_name == info.name
    assert isinstance(rows[0].finished_event(), JobFinished)
    assert results_paths(runs, folder.name)[0].is_file()  # written when queued
    assert list(varying_fields(r.config for r in rows)) == ["seed"]


def test_sweep_module_does_not_import_the_ui() -> None:
    code = "import sys, mlp_core.sweep; print([m for m in sys.modules if m.split('.')[0] in "
    code += "('textual', 'tui', 'plotext', 'textual_plotext')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
