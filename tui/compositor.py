"""A compositor whose partial updates render only the rows they repaint.

Textual's compositor repaints a partial update (a widget's `refresh()`: the progress bar four
times a second while a run is followed) from the box around the dirty regions, and in that
box it asks every widget whose container overlaps the box for all of its lines, then keeps
only the rows being repainted. In the app's 160x48 layout a progress-bar update, two rows,
had the screen, both side panels, the charts' row, the results table, the header and the
footer render about 300 lines in all, for two. On a machine whose every core trains, the
app's CPU is taken from the run it watches.

`RowBandCompositor` asks only the widgets that overlap the box (one outside it has no cell
there to repaint), and each of them for its rows in the box only: the path Textual already
takes for a widget its container clips (one scrolled half out of view), so every widget
renders as it does there. Each keeps its whole width: a chop's strip must start at one of
the line's cuts, and the box's edge may fall inside a widget. Full updates (resize, a new
screen, `render_strips`) are unchanged. `tests/tui/test_compositor.py` checks that a partial
update writes the same terminal output as Textual's own, and that the bar's update renders
a few lines (14 there) where Textual's rendered over 300.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class RowBandCompositor(Compositor):
    """Partial updates render each widget's rows within the update's box, not all of them."""

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        for widget, (region, clip) in self.visible_widgets.items():
            visible = region.intersection(clip)  # the part its containers do not clip away
            repainted = visible.intersection(crop)
            if not repainted.area:
                continue  # none of it is in the box: nothing of it to repaint
            # Its rows in the box, at its whole width (a strip starts at a cut: its edge).
            band = Region(visible.x, repainted.y, visible.width, repainted.height)
            strips = widget.render_lines(band.translate((-region.x, -region.y)))
            # The band as the clip: the caller pairs strips with intersection(region, clip).
            yield region, band, strips
