"""Signed images in half blocks: a hidden unit's weights, blue where positive, red where negative.

The values come scaled to [-1, 1] (per unit: `UnitWeights.signed_image`); 0 is black and the
brightness is |value|. A thumbnail averages 2x2 pixels (14 columns by 7 rows) so that a page of
units fits at 80x24; the large view is the full 28 columns by 14 rows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

UPPER_HALF = "▀"
LEVELS = 32


@lru_cache(maxsize=2 * LEVELS + 1)
def signed_colour(level: int) -> Color:
    """Colour of a quantised value level/LEVELS in [-1, 1]: blue positive, red negative."""
    v = level / LEVELS
    if v >= 0:
        return Color.from_rgb(int(40 * v), int(140 * v), int(255 * v))
    return Color.from_rgb(int(255 * -v), int(70 * -v), int(30 * -v))


def quantise(values: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> integer levels in [-LEVELS, LEVELS]."""
    return np.rint(np.clip(values, -1.0, 1.0) * LEVELS).astype(int)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """(28, 28) -> (14, 14) by averaging each 2x2 block."""
    return image.reshape(14, 2, 14, 2).mean(axis=(1, 3))


def render_signed(image: np.ndarray) -> Text:
    """An (even rows, columns) image of values in [-1, 1] as half blocks."""
    levels = quantise(image)
    text = Text(no_wrap=True, overflow="crop", end="")
    for row in range(0, levels.shape[0], 2):
        if row:
            text.append("\n")
        for top, bottom in zip(levels[row].tolist(), levels[row + 1].tolist(), strict=True):
            text.append(UPPER_HALF, Style(color=signed_colour(top), bgcolor=signed_colour(bottom)))
    return text
