"""Reading a search from its folder without torch or Optuna (the app's queue view polls it):
the file names agree with the controller's, and the running search is the one shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_core import search, search_results, search_status, sweep
from mlp_core.liveness import try_lock

ROOT = Path(__file__).resolve().parents[2]


def test_the_names_agree_with_the_controllers() -> None:
    assert search_status.SPEC_FILE == search.SPEC_FILE
    assert search_status.LOCK_FILE == search.LOCK_FILE
    assert search_status.SUMMARY_FILE == search.SUMMARY_FILE
    assert search_status.SWEEPS_DIR == sweep.SWEEPS_DIR
    assert search_status.RESULT_HEADER == search_results.RESULT_HEADER
    assert search_status.FIGURES == search_results.FIGURES


def test_reading_imports_neither_torch_nor_optuna() -> None:
    code = ("import sys, mlp_core.search_status, tui.widgets.queue_search; "
            "print([m for m in ('torch', 'optuna') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def _search_dir(runs_dir: Path, name: str, trials: int = 4) -> Path:
    folder = runs_dir / "sweeps" / name
    folder.mkdir(parents=True)
    (folder / "search.json").write_text(json.dumps({"trials": trials}))
    return folder


def test_the_running_search_is_chosen_over_a_newer_ended_one(tmp_path: Path) -> None:
    running = _search_dir(tmp_path, "20260101-000000-a")
    ended = _search_dir(tmp_path, "20260102-000000-b")
    (ended / "summary.json").write_text(json.dumps({"importances": {"lr": 0.7, "hidden": 0.3},
                                                    "counts": {"complete": 2}}))
    (tmp_path / "sweeps" / "not-a-search").mkdir()
    assert search_status.latest_search(tmp_path) == ended
    fd = try_lock(running / "controller.lock")
    try:
        assert search_status.latest_search(tmp_path) == running
        assert search_status.read_search_status(running).running
    finally:
        os.close(fd)
    status = search_status.read_search_status(ended)
    assert not status.running and status.total == 4
    assert status.importances == {"lr": 0.7, "hidden": 0.3} and status.counts == {"complete": 2}
    assert search_status.latest_search(tmp_path / "nowhere") is None


def test_launching_without_optuna_or_at_a_dead_address_is_one_search_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlp_core.config import preset
    from mlp_core.search import SearchError, SearchSpec
    from mlp_core.search_launch import launch_search
    from mlp_core.search_space import parse_space

    base = preset("default")
    spec = SearchSpec(base, parse_space({"lr": "0.01..0.1"}, base), trials=2)
    with pytest.raises(SearchError, match=r"cannot reach a Ray cluster at 127\.0\.0\.1:1"):
        launch_search(spec, runs_dir=tmp_path, ray="127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(SearchError, match=r"pip install 'mnist-tui\[optuna\]'"):
        launch_search(spec, runs_dir=tmp_path)
    assert not (tmp_path / "sweeps").exists()  # nothing was made
