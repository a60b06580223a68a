"""Small text formatters shared by the widgets and screens: percentages, durations, the start
time in a run's name, and a tolerant reading of numbers from a metrics row.

A metrics log or run.json can be edited by hand; these never raise on a value of the wrong
type, they show it as missing instead.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """`value` as a float, or None when it is not a number (a bool is not one either)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def epoch_of(row: Any) -> int | None:
    """The epoch of a metrics row, or None when the row has no whole-number epoch."""
    epoch = row.get("epoch") if isinstance(row, dict) else None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def percent(value: Any, missing: str = "–", sign: bool = True) -> str:
    """0.9812 -> '98.12%' ('98.12' without `sign`); `missing` when it is not a number."""
    found = number(value)
    if found is None or not math.isfinite(found):
        return missing
    return f"{100 * found:.2f}{'%' if sign else ''}"


def duration(seconds: Any) -> str:
    """12 -> '12s', 75 -> '1m15s', 3700 -> '1h01m'."""
    found = number(seconds)
    total = max(0, round(found)) if found is not None and math.isfinite(found) else 0
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def run_started(name: str, seconds: bool = False) -> str | None:
    """'20261127-221530-h1024-...' -> '11-27 22:15' ('11-27 22:15:30' with `seconds`), or None
    when the name does not start with the engine's time stamp."""
    stamp = name[:15]
    if not (len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit()):
        return None
    text = f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return f"{text}:{stamp[13:15]}" if seconds else text
