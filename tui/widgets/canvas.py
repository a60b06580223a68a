"""A 28x28 canvas to draw a digit on, in half blocks: 28 columns by 14 rows.

Each character `▀` is two pixels (foreground the upper, background the lower), so a pixel is
one column wide and half a row tall: square on a terminal whose cells are twice as tall as they
are wide, and small enough for 80x24. Mouse: press and drag to draw, right button to erase (a
terminal that reports pixel positions picks the half of the cell; others paint the upper one and
the brush covers the rest). Keyboard: arrows move the cursor, space paints there, shift+arrows
move and paint, `x` erases, `b` changes the brush, `c` clears.

The widget owns the pixels and posts `Changed` after each stroke step; it knows nothing of the
network.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

SIDE = 28
UPPER_HALF = "▀"
#: Brush footprints as (row, column) offsets with their ink: 1 pixel, 2x2, a soft 3x3 disc.
BRUSHES: tuple[tuple[tuple[int, int, float], ...], ...] = (
    ((0, 0, 1.0),),
    tuple((r, c, 1.0) for r in (0, 1) for c in (0, 1)),
    tuple((r, c, 1.0 if r == 0 or c == 0 else 0.5) for r in (-1, 0, 1) for c in (-1, 0, 1)),
)
CURSOR = Color.from_rgb(220, 60, 60)


def _grey(level: float) -> Color:
    value = round(255 * min(max(float(level), 0.0), 1.0))
    return Color.from_rgb(value, value, value)


class DrawingCanvas(Widget, can_focus=True):
    """28x28 pixels of ink in [0, 1]; `pixels` is the drawing (rows, columns)."""

    DEFAULT_CSS = """
    DrawingCanvas { width: 28; height: 14; }
    """
    #: A drag draws; it must not also select the half blocks as text.
    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
        Binding("shift+up", "move(-1, 0, True)", show=False),
        Binding("shift+down", "move(1, 0, True)", show=False),
        Binding("shift+left", "move(0, -1, True)", show=False),
        Binding("shift+right", "move(0, 1, True)", show=False),
        Binding("space", "paint", "Paint", tooltip="Paint at the cursor with the brush"),
        Binding("x", "erase", "Erase", tooltip="Erase at the cursor with the brush"),
        Binding("b", "brush", "Brush", tooltip="Next brush size: 1 pixel, 2x2, 3x3"),
        Binding("c", "clear", "Clear", tooltip="Clear the canvas"),
    ]

    class Changed(Message):
        """The drawing changed (a stroke step, a clear, a load)."""

        def __init__(self, canvas: DrawingCanvas) -> None:
            super().__init__()
            self.canvas = canvas

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DrawingCanvas.Changed)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pixels = np.zeros((SIDE, SIDE))
        self.cursor = (SIDE // 2, SIDE // 2)
        self.brush = 1  # index into BRUSHES: 2x2 by default
        self._stroke: float | None = None  # ink of the mouse stroke in progress (0 erases)
        self._last: tuple[int, int] | None = None  # the stroke's last pixel

    # -- drawing --------------------------------------------------------------------------

    def stamp(self, row: int, col: int, ink: float, notify: bool = True) -> None:
        """Put the brush at (row, col): ink 1 draws (the brighter wins), 0 erases."""
        for dr, dc, amount in BRUSHES[self.brush]:
            r, c = row + dr, col + dc
            if 0 <= r < SIDE and 0 <= c < SIDE:
                if ink > 0:
                    self.pixels[r, c] = max(self.pixels[r, c], amount * ink)
                else:
                    self.pixels[r, c] = 0.0
        if notify:
            self._changed()

    def load(self, pixels: np.ndarray) -> None:
        """Replace the drawing (uint8 0..255 or floats in [0, 1], 784 values or 28x28)."""
        grid = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
        self.pixels = grid / 255.0 if grid.max() > 1.0 else grid.copy()
        self._changed()

    def _changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed(self))

    # -- keys -----------------------------------------------------------------------------

    def action_move(self, rows: int, cols: int, paint: bool = False) -> None:
        row = min(max(self.cursor[0] + rows, 0), SIDE - 1)
        col = min(max(self.cursor[1] + cols, 0), SIDE - 1)
        self.cursor = (row, col)
        if paint:
            self.stamp(row, col, 1.0)
        else:
            self.refresh()

    def action_paint(self) -> None:
        self.stamp(*self.cursor, 1.0)

    def action_erase(self) -> None:
        self.stamp(*self.cursor, 0.0)

    def action_brush(self) -> None:
        self.brush = (self.brush + 1) % len(BRUSHES)
        self.notify(f"brush {['1 pixel', '2x2', '3x3'][self.brush]}", timeout=2)

    def action_clear(self) -> None:
        self.pixels = np.zeros((SIDE, SIDE))
        self._changed()

    # -- mouse ----------------------------------------------------------------------------

    def _pixel_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        """The pixel under the pointer (None outside the drawing): a cell's upper or lower
        half by the pointer's fraction of a row, where the terminal reports one."""
        left, top = self.gutter.top_left
        row, col = int((event.pointer_y - top) * 2), int(event.pointer_x - left)
        return (row, col) if 0 <= row < SIDE and 0 <= col < SIDE else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._stroke, self._last = (0.0 if event.button == 3 else 1.0), None
        self.capture_mouse()
        self._stroke_to(event)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._stroke is not None:
            self._stroke_to(event)

    def _stroke_to(self, event: events.MouseEvent) -> None:
        """Stamp from the stroke's last pixel to this one (a fast drag skips cells)."""
        pixel = self._pixel_at(event)
        if pixel is None or self._stroke is None:
            return
        start = self._last if self._last is not None else pixel
        steps = max(abs(pixel[0] - start[0]), abs(pixel[1] - start[1]), 1)
        for step in range(1, steps + 1):
            row = round(start[0] + (pixel[0] - start[0]) * step / steps)
            col = round(start[1] + (pixel[1] - start[1]) * step / steps)
            self.stamp(row, col, self._stroke, notify=False)
        self.cursor, self._last = pixel, pixel
        self._changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._stroke = self._last = None
        self.release_mouse()

    # -- drawing on screen ----------------------------------------------------------------

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop", end="")
        show_cursor = self.has_focus
        for row in range(0, SIDE, 2):
            if row:
                text.append("\n")
            for col in range(SIDE):
                upper = CURSOR if show_cursor and self.cursor == (row, col) else None
                lower = CURSOR if show_cursor and self.cursor == (row + 1, col) else None
                style = Style(
                    color=upper or _grey(self.pixels[row, col]),
                    bgcolor=lower or _grey(self.pixels[row + 1, col]),
                )
                text.append(UPPER_HALF, style)
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
