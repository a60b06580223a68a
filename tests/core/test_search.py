"""Searches with Optuna on the tiny data set: the space, pruning, the table, resuming."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from mlp_core.checkpoint import load_checkpoint
from mlp_core.config import ConfigError, preset
from mlp_core.runs import load_run
from mlp_core.search import Search, SearchError, SearchSpec, TrialFinished
from mlp_core.search_space import parse_space
from tests.conftest import make_tiny_dataset

BASE = replace(preset("default"), hidden=32, batch_size=64, epochs=3, val_split=100,
               device="cpu")


def _run(search: Search) -> list:
    try:
        return list(search.run())
    finally:
        search.close()


def test_space_parses_ranges_lists_and_single_values() -> None:
    space = parse_space(
        {"lr": "1e-3..0.3:log", "hidden": "128..2048:log", "batch_size": "32,64,128",
         "epochs": "3"},
        BASE,
    )
    assert (space.params["lr"].kind, space.params["lr"].log) == ("float", True)
    assert (space.params["hidden"].low, space.params["hidden"].high) == (128, 2048)
    assert space.params["hidden"].kind == "int"
    assert space.params["batch_size"].choices == (32, 64, 128)
    assert space.fixed == {"epochs": 3}
    assert space.grid() == [{"batch_size": 32}, {"batch_size": 64}, {"batch_size": 128}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": "0.3..0.001"}, "LOW must be smaller"),
        ({"lr": "0..1:log"}, "above 0"),
        ({"lr": "a..b"}, "not LOW..HIGH"),
        ({"optimizer": "sgd..adam"}, "numeric field"),
        ({"lr": "1e-3..0.3:ln"}, "must be log"),
        ({"epochs": "3"}, "nothing to search"),
        ({"device": "cpu,cuda"}, "not searched"),
        ({"hidden": "0..64"}, "hidden"),  # a corner the config refuses
    ],
)
def test_bad_space_is_one_config_error(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space(options, BASE)


def test_search_prunes_a_clearly_worse_trial_and_tabulates(tmp_path: Path) -> None:
    """Two good enqueued trials start the pruner; the third (lr 1e-5) is far below the median
    after its first epoch and is pruned; the grid of lists is tried first, in order."""
    space = parse_space({"lr": "0.1,0.05,0.00001", "hidden": "8..64:log"}, BASE)
    spec = SearchSpec(BASE, space, trials=4, prune_after=2)
    search = Search(spec, runs_dir=tmp_path, dataset=make_tiny_dataset())
    events = _run(search)
    ended = [e for e in events if isinstance(e, TrialFinished)]
    assert [e.params["lr"] for e in ended[:3]] == [0.1, 0.05, 0.00001]  # grid first
    assert [e.state for e in ended[:3]] == ["complete", "complete", "pruned"]
    study = optuna.load_study(study_name=search.sweep_dir.name,
                              storage=f"sqlite:///{search.sweep_dir / 'study.db'}")
    states = [t.state for t in study.trials]
    assert len(states) == 4 and states[2] == optuna.trial.TrialState.PRUNED
    pruned = load_run(tmp_path / ended[2].run_name)
    assert pruned.status == "pruned" and pruned.epochs_done == 1 < BASE.epochs
    last = load_checkpoint(tmp_path / ended[2].run_name / "checkpoints" / "last.safetensors")
    assert last.epoch == 1  # whole checkpoint kept
    with (search.sweep_dir / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["state"] for r in rows[:3]] == ["complete", "complete", "pruned"]
    assert rows[2]["run"] == ended[2].run_name and rows[2]["epochs"] == "1"
    assert "best: trial" in (search.sweep_dir / "results.md").read_text()
    finished = events[-1]
    assert finished.counts["pruned"] >= 1 and finished.best_number in (0, 1, 3)
    assert set(finished.importances) == {"lr", "hidden"}
    summary = json.loads((search.sweep_dir / "summary.json").read_text())
    assert summary["best_number"] == finished.best_number
    assert summary["importances"] == finished.importances


def test_no_prune_trains_every_trial_to_the_end(tmp_path: Path) -> None:
    space = parse_space({"lr": "0.1,0.00001"}, BASE)
    spec = SearchSpec(BASE, space, trials=2, prune=False, prune_after=1)
    ended = [e for e in _run(Search(spec, runs_dir=tmp_path, dataset=make_tiny_dataset()))
             if isinstance(e, TrialFinished)]
    assert [e.state for e in ended] == ["complete", "complete"]
    assert all(load_run(tmp_path / e.run_name).epochs_done == 3 for e in ended)


def test_resume_continues_the_same_study(tmp_path: Path) -> None:
    """A trial left RUNNING (its controller died) is marked failed; the count grows."""
    space = parse_space({"lr": "0.01..0.1:log"}, BASE)
    spec = SearchSpec(replace(BASE, epochs=1), space, trials=2)
    first = Search(spec, runs_dir=tmp_path, dataset=make_tiny_dataset())
    _run(first)
    sweep_dir = first.sweep_dir
    storage = f"sqlite:///{sweep_dir / 'study.db'}"
    study = optuna.load_study(study_name=sweep_dir.name, storage=storage)
    study_id = study._study_id
    study.ask()  # what a controller killed mid-trial leaves behind
    resumed = Search.resume(sweep_dir, trials=4, dataset=make_tiny_dataset())
    events = _run(resumed)
    assert events[0].resumed and events[0].trials_done == 3
    study = optuna.load_study(study_name=sweep_dir.name, storage=storage)
    assert study._study_id == study_id
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert study.trials[2].state == optuna.trial.TrialState.FAIL
    assert study.trials[2].user_attrs["error"] == "controller died"
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 4
    assert json.loads((sweep_dir / "search.json").read_text())["trials"] == 4


def test_a_second_controller_is_refused(tmp_path: Path) -> None:
    spec = SearchSpec(BASE, parse_space({"lr": "0.01..0.1"}, BASE), trials=1)
    first = Search(spec, runs_dir=tmp_path, dataset=make_tiny_dataset())
    try:
        with pytest.raises(SearchError, match="another controller"):
            Search.resume(first.sweep_dir, dataset=make_tiny_dataset())
    finally:
        first.close()
