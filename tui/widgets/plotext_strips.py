"""plotext's drawing as Textual strips, without the round trip through ANSI text.

textual-plotext draws a chart by asking plotext for its canvas as one string of ANSI escape
codes, which `Text.from_ansi` parses back into styled text, which Textual then splits into
lines again. plotext already holds the drawing as four matrices (character, foreground, style,
background per cell): reading them straight into `Strip`s skips the encoding, the parsing and
the split. At the charts' size in the 160x48 layout that took a redraw of the loss chart from
about 11 to 6 ms of the UI thread's CPU, and of the accuracy chart from about 7 to 3 ms
(`bench/chart_redraw.py`); the UI thread follows a run on the cores the run trains on.

A cell's colours decode to the rich `Style` that `Text.from_ansi` gives plotext's own escape
codes for them (found once per combination and cached), so the strips look exactly like
textual-plotext's rendering; `tests/tui/test_charts.py` checks that cell by cell.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import plotext._utility as plotext_utility
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip


@lru_cache(maxsize=1024)
def cell_style(foreground: Any, style: Any, background: Any) -> Style:
    """The rich style of a cell plotext draws with these colours (as `Text.from_ansi` of its
    escape codes decodes it)."""
    text = Text.from_ansi(plotext_utility.colors_to_ansi(foreground, style, background) + "x")
    styles = [span.style for span in text.spans if span.start <= 0 < span.end]
    return Style.combine(Style.parse(s) if isinstance(s, str) else s for s in styles)


def build_strips(plot: Any) -> list[Strip]:
    """Build the figure (`plot`: a textual-plotext `Plot`, sized and themed) and return its
    rows, top first, as strips: one segment per run of cells with the same colours."""
    plot._set_sizes()
    plot._build_matrix()  # what plotext's build() does, short of encoding the ANSI canvas
    matrix = plot.monitor.matrix
    return [
        _row_strip(
            matrix.marker[row], matrix.fullground[row], matrix.style[row], matrix.background[row]
        )
        for row in reversed(range(matrix.rows))  # plotext's row 0 is the bottom one
    ]


def _row_strip(
    markers: list[str], foregrounds: list[Any], styles: list[Any], backgrounds: list[Any]
) -> Strip:
    segments: list[Segment] = []
    start = 0
    # Names, 256-colour numbers and RGB tuples (the theme's): each cell's colours are a key.
    colours = list(zip(foregrounds, styles, backgrounds, strict=True))
    for col in range(1, len(markers) + 1):
        if col == len(markers) or colours[col] != colours[start]:
            segments.append(Segment("".join(markers[start:col]), cell_style(*colours[start])))
            start = col
    return Strip(segments)
