"""The sweep engine: grid expansion, the job queue, the runner, and the results table."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mlp_core import trainer
from mlp_core.config import ConfigError, preset
from mlp_core.device import DeviceError
from mlp_core.events import EpochEnd, RunStarted
from mlp_core.runs import list_runs, load_run
from mlp_core.sweep import (
    MAX_GRID,
    JobEvent,
    JobFinished,
    JobQueue,
    JobStarted,
    QueueError,
    Sweep,
    SweepFinished,
    SweepStarted,
    expand_grid,
    grid_size,
    parse_values,
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


# -- the queue --------------------------------------------------------------------------------


def test_queue_states_cancel_and_remove() -> None:
    jobs = JobQueue([BASE, BASE, BASE])
    assert [j.id for j in jobs.jobs()] == [1, 2, 3]
    assert all(j.state == "waiting" for j in jobs.jobs())
    claimed = jobs._claim("cpu")
    assert claimed is not None and claimed.id == 1 and jobs.get(1).state == "running"
    jobs.cancel(2)
    assert jobs.get(2).state == "cancelled"
    with pytest.raises(QueueError, match="cancel it first"):
        jobs.remove(1)
    jobs.cancel(1)  # running: asked to stop, state changes when the runner sees it
    assert jobs.get(1).state == "running" and jobs._cancel_requested(1)
    jobs.remove(3)
    assert [j.id for j in jobs.jobs()] == [1, 2]
    with pytest.raises(QueueError, match="only waiting or running"):
        jobs.cancel(2)
    with pytest.raises(QueueError, match="no job 3"):
        jobs.get(3)
    assert jobs.add(BASE) == 4  # ids are never reused
    assert jobs.counts() == {
        "waiting": 1,
        "running": 1,
        "done": 0,
        "failed": 0,
        "diverged": 0,
        "cancelled": 1,
    }


def test_queue_snapshots_are_copies() -> None:
    jobs = JobQueue([BASE])
    snapshot = jobs.jobs()[0]
    snapshot.state = "done"
    assert jobs.get(1).state == "waiting"


# -- the runner -------------------------------------------------------------------------------


def _finished(events: list) -> dict[int, JobFinished]:
    return {e.job_id: e for e in events if isinstance(e, JobFinished)}


def test_failed_and_diverged_jobs_do_not_stop_the_sweep(tmp_path: Path, tiny_dataset) -> None:
    configs = [
        replace(BASE, val_split=10_000),  # larger than the tiny set
        preset("default", hidden=16, epochs=2, val_split=100, device="cpu", lr=1e9),
        BASE,
    ]
    sweep = Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset)
    events = list(sweep.run())
    assert isinstance(events[0], SweepStarted) and events[0].total == 3
    assert isinstance(events[-1], SweepFinished)
    results = _finished(events)
    assert results[1].status == "failed" and "val_split 10000" in results[1].error
    assert results[1].run_name == ""  # it failed before a run folder was made
    assert results[2].status == "diverged" and "NaN or infinite" in results[2].error
    assert load_run(Path(results[2].run_dir)).status == "diverged"
    assert results[3].status == "done" and results[3].final_test_accuracy is not None
    assert [j.state for j in sweep.queue.jobs()] == ["failed", "diverged", "done"]
    assert events[-1].counts["done"] == 1 and not events[-1].stopped


def test_exception_mid_run_marks_job_and_run_failed(
    tmp_path: Path, tiny_dataset, monkeypatch
) -> None:
    def breaks_after_first_epoch(config, dataset, **kwargs):
        for event in trainer.train(config, dataset, **kwargs):
            yield event
            if isinstance(event, EpochEnd) and config.hidden == 16:
                raise RuntimeError("GPU fell off the bus")

    monkeypatch.setattr("mlp_core.sweep.train", breaks_after_first_epoch)
    configs = expand_grid(BASE, {"hidden": "16,24", "epochs": "2"})
    events = list(Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset).run())
    results = _finished(events)
    assert results[1].status == "failed" and results[1].epochs_done == 1
    assert results[1].error == "RuntimeError: GPU fell off the bus"
    run = load_run(Path(results[1].run_dir))
    assert run.status == "failed" and "fell off" in run.error
    assert results[2].status == "done" and results[2].epochs_done == 2


def test_cancel_running_job_then_next_runs(tmp_path: Path, tiny_dataset) -> None:
    sweep = Sweep([BASE, BASE], runs_dir=tmp_path, dataset=tiny_dataset)
    events = []
    for event in sweep.run():
        events.append(event)
        started = isinstance(event, JobEvent) and isinstance(event.event, RunStarted)
        if started and event.job_id == 1:
            sweep.queue.cancel(1)
    results = _finished(events)
    assert results[1].status == "cancelled" and results[1].epochs_done == 0
    assert load_run(Path(results[1].run_dir)).status == "stopped"
    assert results[2].status == "done"


def test_stop_leaves_the_rest_waiting_and_closing_cancels(tmp_path: Path, tiny_dataset) -> None:
    sweep = Sweep([BASE, BASE, BASE], runs_dir=tmp_path, dataset=tiny_dataset)
    events = []
    for event in sweep.run():
        events.append(event)
        if isinstance(event, JobFinished):
            sweep.stop()
    assert events[-1].stopped and events[-1].counts["waiting"] == 2

    closing = Sweep([BASE, BASE], runs_dir=tmp_path, dataset=tiny_dataset)
    run = closing.run()
    for event in run:
        if isinstance(event, JobStarted):
            break
    run.close()  # as Ctrl-C or a consumer that stops iterating
    assert [j.state for j in closing.queue.jobs()] == ["cancelled", "waiting"]
    rows = list(csv.DictReader(closing.results_paths()[0].open()))
    assert [r["status"] for r in rows] == ["cancelled", "waiting"]


def test_results_csv_and_markdown(tmp_path: Path, tiny_dataset) -> None:
    configs = expand_grid(BASE, {"hidden": "16,32", "lr": "0.05,0.1"})
    sweep = Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset)
    events = list(sweep.run())
    finished = events[-1]
    assert Path(finished.sweep_dir).parent == tmp_path / "sweeps"
    with open(finished.results_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["hidden"], r["lr"]) for r in rows] == [
        ("16", "0.05"),
        ("16", "0.1"),
        ("32", "0.05"),
        ("32", "0.1"),
    ]
    assert "batch_size" not in rows[0]  # only the columns that vary
    results = _finished(events)
    for row in rows:
        result = results[int(row["job"])]
        assert row["status"] == "done" and row["epochs"] == "1"
        assert row["best_val_acc_%"] == f"{100 * result.best_val_accuracy:.2f}"
        assert row["test_acc_at_best_%"] == f"{100 * result.test_accuracy_at_best:.2f}"
        assert row["seconds"] == f"{result.seconds:.2f}" and result.seconds > 0
        assert (tmp_path / row["run"] / "run.json").is_file()
    # Each job is an ordinary run; the sweeps folder is not mistaken for one.
    assert sorted(r.name for r in list_runs(tmp_path)) == sorted(r["run"] for r in rows)
    markdown = Path(finished.results_md).read_text()
    assert "| job | hidden | lr | status |" in markdown
    assert markdown.count("| done |") == 4
    assert rows[0]["run"] in markdown


def test_two_names_of_one_device_run_one_job_at_a_time(tmp_path: Path, tiny_dataset) -> None:
    configs = expand_grid(BASE, {"seed": "0,1"})
    sweep = Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset, devices=["cpu", "auto"])
    events = list(sweep.run())
    if not torch.cuda.is_available():
        assert events[0].devices == ["cpu"]  # auto is the CPU here: one worker
    assert events[-1].counts["done"] == 2


def test_a_stop_before_the_sweep_starts_is_kept(tmp_path: Path, tiny_dataset) -> None:
    sweep = Sweep(expand_grid(BASE, {"seed": "0,1"}), runs_dir=tmp_path, dataset=tiny_dataset)
    sweep.stop()
    events = list(sweep.run())
    assert not any(isinstance(e, JobStarted) for e in events)
    assert events[-1].stopped and sweep.queue.counts()["waiting"] == 2
    assert not sweep.stopping  # cleared at the end: the waiting jobs can run again
    assert list(sweep.run())[-1].counts["done"] == 2


def test_devices_run_side_by_side(tmp_path: Path, tiny_dataset, monkeypatch) -> None:
    """Two workers (both on the CPU here, as if two GPUs): every job runs once, in order."""
    monkeypatch.setattr(Sweep, "_distinct_devices", lambda self: ["cpu", "auto"])
    configs = expand_grid(BASE, {"seed": "0,1,2,3"})
    sweep = Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset, devices=["cpu", "auto"])
    events = list(sweep.run())
    assert events[0].devices == ["cpu", "auto"]
    for job_id in (1, 2, 3, 4):
        mine = [e for e in events if getattr(e, "job_id", None) == job_id]
        assert isinstance(mine[0], JobStarted) and isinstance(mine[-1], JobFinished)
        assert mine[0].config["device"] in ("cpu", "auto")
        assert mine[-1].status == "done"
    assert isinstance(events[-1], SweepFinished) and events[-1].counts["done"] == 4


def test_closing_a_side_by_side_sweep_stops_its_threads(tmp_path: Path, tiny_dataset) -> None:
    configs = expand_grid(replace(BASE, epochs=200), {"seed": "0,1,2"})
    sweep = Sweep(configs, runs_dir=tmp_path, dataset=tiny_dataset, devices=["cpu", "auto"])
    run = sweep.run()
    for event in run:
        if isinstance(event, JobEvent) and isinstance(event.event, EpochEnd):
            break
    run.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sweep-")]
    states = [job.state for job in sweep.queue.jobs()]
    assert "running" not in states and "cancelled" in states and "done" not in states
    # The same sweep runs what is still waiting when asked again.
    for job_id in (1, 2, 3):
        sweep.queue.remove(job_id)
    sweep.queue.add(BASE)
    again = list(sweep.run())
    assert again[-1].counts["done"] == 1 and not again[-1].stopped


def test_missing_device_is_the_sweeps_error(tmp_path: Path, tiny_dataset) -> None:
    sweep = Sweep([BASE], runs_dir=tmp_path, dataset=tiny_dataset, devices=["cpu", "cuda:99"])
    with pytest.raises(DeviceError):
        next(sweep.run())
    with pytest.raises(ConfigError):
        Sweep([BASE], runs_dir=tmp_path, devices=["tpu"])


def test_events_serialise(tmp_path: Path, tiny_dataset) -> None:
    for event in Sweep([BASE], runs_dir=tmp_path, dataset=tiny_dataset).run():
        line = json.loads(json.dumps(event.to_dict()))
        assert line["event"] == type(event).__name__
        if isinstance(event, JobEvent):
            assert line["inner"]["event"] == type(event.event).__name__


def test_sweep_module_does_not_import_the_ui() -> None:
    code = "import sys, mlp_core.sweep; print([m for m in sys.modules if m.split('.')[0] in "
    code += "('textual', 'tui', 'plotext', 'textual_plotext')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
