"""The pure part of the charts: points from metrics rows, the per-step loss and its smoothing,
the y range that fits the data, the epoch ticks. No widget here, so tests need no app.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from tui.format import epoch_of, number

Points = list[tuple[float, float]]

#: TensorBoard's default smoothing weight (its slider starts at 0.6).
DEFAULT_SMOOTHING = 0.6
#: The per-step curve keeps at most this many raw points (halved, every other one, past it).
MAX_STEP_POINTS = 2000


def points_of(
    rows: Iterable[dict[str, Any]], key: str, scale: Callable[[float], float] = float
) -> Points:
    """(epoch, value) of every row that has a finite `key`."""
    points: Points = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        epoch, value = epoch_of(row), number(row.get(key))
        if epoch is not None and value is not None and math.isfinite(value):
            points.append((epoch, scale(value)))
    return points


def smooth(values: list[float], weight: float = DEFAULT_SMOOTHING) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so that the first
    values are not pulled towards 0 (`last / (1 - weight ** n)`). weight 0 returns the values."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = last * weight + (1.0 - weight) * value
        smoothed.append(last / (1.0 - weight**count))
    return smoothed


class StepSeries:
    """The training loss within epochs, one point per Progress event, at x = epoch - 1 +
    step / steps (so the end of epoch 3 is at x = 3, where the epoch's own point is)."""

    def __init__(self, limit: int = MAX_STEP_POINTS) -> None:
        self.limit = limit
        self.points: Points = []

    def add(self, epoch: int, step: int, steps: int, loss: float) -> bool:
        """Keep one step's loss; False (kept nothing) for a non-finite loss or a step that is
        not after the last one (a resumed run starts from its own epochs)."""
        if not math.isfinite(loss) or steps <= 0:
            return False
        x = epoch - 1 + min(step, steps) / steps
        if self.points and x <= self.points[-1][0]:
            if x < self.points[-1][0] - 1.0:  # an earlier epoch: a new run in the same chart
                self.points.clear()
            else:
                return False
        self.points.append((x, loss))
        if len(self.points) > self.limit:
            self.points = self.points[::2]
        return True

    def clear(self) -> None:
        self.points.clear()

    def smoothed(self, weight: float = DEFAULT_SMOOTHING) -> Points:
        xs = [x for x, _ in self.points]
        return list(zip(xs, smooth([y for _, y in self.points], weight), strict=True))


def fit_range(
    values: Iterable[float],
    *,
    ceiling: float | None = None,
    log: bool = False,
    min_span: float | None = None,
) -> tuple[float, float] | None:
    """A y range that fits the values with 5% of room each side, never above `ceiling`.

    The range spans at least `min_span` (default: a tenth of the largest value), so that two
    nearly equal points do not fill the height with noise; on a log axis the room is a ratio.
    None when there is no value to fit."""
    values = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not values:
        return None
    low, high = min(values), max(values)
    if log:
        return low / 1.15, high * 1.15
    span = min_span if min_span is not None else abs(high) * 0.1 or 1.0
    if high - low < span:
        middle = (high + low) / 2
        low, high = middle - span / 2, middle + span / 2
    room = (high - low) * 0.05
    low, high = low - room, high + room
    if ceiling is not None and high > ceiling:
        low, high = low - (high - ceiling), ceiling
    return low, high


def step_ticks(last: float) -> list[float]:
    """Ticks every half epoch (0.5, 1.0, 1.5) while there are fewer than two epochs."""
    return [k / 2 for k in range(1, max(1, int(last * 2)) + 1)]


def epoch_ticks(last: float, most: int = 8) -> list[int]:
    """Whole-number epoch ticks up to `last`, at most about `most` of them."""
    last_whole = max(1, math.ceil(last))
    step = max(1, math.ceil(last_whole / max(1, most)))
    return list(range(1, last_whole + 1, step))


def value_at(points: Points, epoch: float) -> float | None:
    """The value of a series at this epoch, if it has one."""
    return next((value for x, value in points if x == epoch), None)


def short_number(value: float) -> str:
    """A value in 6 characters or fewer: 0.0312, 98.25, 1.2e-05."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if abs(value) >= 1e-3:
        return f"{value:.4f}"
    return f"{value:.1e}"
