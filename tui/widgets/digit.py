"""A 28x28 digit drawn in 14 rows of 28 half-block characters, in grey levels.

Each character `▀` shows two pixels: its foreground colour is the upper pixel, its background
the lower one. The colours are RGB greys; Rich downgrades them to the 256-colour palette's grey
ramp when the terminal has no truecolour (COLORTERM unset), so the digit stays readable over
SSH as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.columns import Columns
from rich.style import Style
from rich.text import Text

UPPER_HALF = "▀"
SIDE = 28


@lru_cache(maxsize=256)
def _grey(level: int) -> Color:
    return Color.from_rgb(level, level, level)


@lru_cache(maxsize=65536)
def _pair_style(upper: int, lower: int) -> Style:
    """One style per (upper, lower) grey pair, cached: a page draws thousands of cells."""
    return Style(color=_grey(upper), bgcolor=_grey(lower))


def as_grid(pixels: Sequence[int] | np.ndarray) -> np.ndarray:
    """784 values or a 28x28 array of 0..255 -> a (28, 28) uint8 array."""
    grid = np.asarray(pixels)
    if grid.size != SIDE * SIDE:
        raise ValueError(f"a digit has {SIDE * SIDE} pixels, got {grid.size}")
    return grid.reshape(SIDE, SIDE).clip(0, 255).astype(np.uint8)


def render_digit(pixels: Sequence[int] | np.ndarray) -> Text:
    """The digit as Rich text: 14 lines of 28 `▀`, foreground upper pixel, background lower."""
    grid = as_grid(pixels)
    text = Text(no_wrap=True, overflow="crop", end="")
    for row in range(0, SIDE, 2):
        if row:
            text.append("\n")
        upper, lower = grid[row].tolist(), grid[row + 1].tolist()
        for top, bottom in zip(upper, lower, strict=True):
            text.append(UPPER_HALF, _pair_style(top, bottom))
    return text


def digit_card(pixels: Sequence[int] | np.ndarray, caption: Text | str) -> Text:
    """A digit with a caption line under it (used to page through several side by side)."""
    card = render_digit(pixels)
    card.append("\n")
    card.append(caption if isinstance(caption, Text) else Text(caption))
    return card


def digit_page(cards: Sequence[tuple[np.ndarray, Text | str]]) -> Columns | Text:
    """Several captioned digits side by side, wrapping to the width available."""
    if not cards:
        return Text("nothing to show")
    return Columns([digit_card(pixels, caption) for pixels, caption in cards], padding=(1, 3))
