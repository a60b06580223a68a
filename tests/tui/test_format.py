"""The shared text formatters never raise on a value of the wrong type (a hand-edited log)."""

from __future__ import annotations

from tui.format import duration, epoch_of, percent, run_started


def test_percent_duration_and_start_time() -> None:
    assert percent(0.98123) == "98.12%" and percent(0.5, sign=False) == "50.00"
    assert percent(None) == "–" and percent("x", missing="") == "" and percent(True) == "–"
    assert percent(float("nan")) == "–"
    assert [duration(s) for s in (12, 75, 3700, "x", -3)] == ["12s", "1m15s", "1h01m", "0s", "0s"]
    assert run_started("20261127-221530-h1024") == "11-27 22:15"
    assert run_started("20261127-221530-h1024", seconds=True) == "11-27 22:15:30"
    assert run_started("my-run") is None
    assert epoch_of({"epoch": 3}) == 3
    assert epoch_of({"epoch": "3"}) is None and epoch_of(1) is None and epoch_of({}) is None
