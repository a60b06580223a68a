"""The results table on its own: a new epoch's row is a repaint, and still scrolls."""

from __future__ import annotations

from typing import Any

from app_helpers import run_async
from textual.app import App, ComposeResult

from tui.widgets.results import ResultsTable


class TableApp(App[None]):
    CSS = "ResultsTable { height: 8; }"

    def compose(self) -> ComposeResult:
        yield ResultsTable(id="results")


def epoch_row(epoch: int) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "val_loss": 1.1 / epoch,
        "val_accuracy": 0.9 + epoch / 1000,
        "test_accuracy": 0.9 + epoch / 1000,
        "lr": 0.05,
        "seconds": 1.2,
        "is_best": True,
    }


@run_async
async def test_new_rows_lay_out_the_screen_only_when_a_scrollbar_comes() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ResultsTable)
        layouts: list[int] = []
        real_refresh = table.refresh

        def spy(*regions: Any, **options: Any) -> Any:
            if options.get("layout"):
                layouts.append(len(table.rows))
            return real_refresh(*regions, **options)

        table.refresh = spy  # type: ignore[method-assign]
        for epoch in range(1, 21):
            table.add_epoch(epoch_row(epoch))
            await pilot.pause()
        # 8 rows of table: the header and 7 epochs fit; the 8th brings the scrollbar.
        assert table.show_vertical_scrollbar and table.max_scroll_y > 0
        # The first row, the scrollbar coming (and the width it takes), "10" widening the epoch
        # column: a handful, not one per row.
        assert len(layouts) <= 5, layouts
        table.scroll_end(animate=False)
        await pilot.pause()
        shown = [strip.text for strip in app.screen._compositor.render_strips()]
        assert any(line.lstrip().startswith("20") for line in shown), shown
