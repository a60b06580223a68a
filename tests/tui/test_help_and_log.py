"""The help screen (every key by where it applies, from the real BINDINGS) and the event log
(times, severities, every message kept), each in a small app."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from app_helpers import run_async
from textual.app import App
from textual.binding import Binding, BindingType

from tui.keys import APP_KEYS
from tui.screens.event_log import EventLog, EventLogScreen
from tui.screens.help import HelpScreen, bindings_rows, default_rows, key_names
from tui.widgets.charts import LossChart, MetricChart
from tui.widgets.checkpoint_panel import CheckpointPanel


class HelpHost(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+e", "log", "Log"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.event_log = EventLog()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(default_rows(APP_KEYS)))

    def action_log(self) -> None:
        self.push_screen(EventLogScreen(self.event_log))


def test_rows_come_from_the_bindings_that_exist() -> None:
    rows = default_rows(APP_KEYS)
    places = {where for where, _, _ in rows}
    assert {"anywhere", "checkpoint panel", "charts", "loss chart", "mistakes (m)"} <= places
    assert ("anywhere", "ctrl+r", "Start a run with the form's config") in rows
    panel = [(key, what) for where, key, what in rows if where == "checkpoint panel"]
    described = [b for b in CheckpointPanel.BINDINGS if isinstance(b, Binding) and b.description]
    assert len(panel) == len(described) + 1  # and the general "up down enter" row
    assert ("loss chart", "l", "Log scale") in rows
    assert ("charts", "left", "Epoch ←") in rows
    assert ("mistakes (m)", "t", "Train/test") in rows
    assert key_names("question_mark,f1") == "?  f1"
    assert bindings_rows("x", [Binding("a", "b", "")]) == []  # no description: not shown
    assert len(bindings_rows("charts", MetricChart.BINDINGS)) == len(MetricChart.BINDINGS)
    assert bindings_rows("loss", LossChart.BINDINGS)[0][1] == "l"


@run_async
async def test_question_mark_and_f1_open_the_help_and_escape_closes_it() -> None:
    app = HelpHost()
    async with app.run_test(size=(100, 40)) as pilot:
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = "\n".join(s.text for s in app.screen._compositor.render_strips())
            assert "checkpoint panel" in text and "ctrl+r" in text and "Escape closes" in text
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


def test_the_log_keeps_times_severities_and_the_newest_entries() -> None:
    times = iter(datetime(2026, 12, 1, 21, 0, 0) + timedelta(seconds=s) for s in range(100))
    log = EventLog(limit=3, clock=lambda: next(times))
    log.add("loaded", "information")
    log.add("loss is NaN", "error", title="Run diverged")
    log.add("unverified data", "warning")
    log.add("queued 4 jobs", "bogus")  # an unknown severity is information
    assert [e.message for e in log.entries] == ["loss is NaN", "unverified data", "queued 4 jobs"]
    assert log.entries[-1].severity == "information"
    assert log.count("error") == 1 and log.count() == 3
    lines = log.text().plain.splitlines()
    assert lines[0] == "21:00:01 x Run diverged: loss is NaN"
    assert lines[1] == "21:00:02 ! unverified data"


@run_async
async def test_the_log_screen_shows_every_message_and_follows_new_ones() -> None:
    app = HelpHost()
    async with app.run_test(size=(100, 30)) as pilot:
        app.event_log.add("first message", "information")
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, EventLogScreen)
        app.event_log.add("a run failed", "error", title="Run failed")
        await pilot.pause()
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "first message" in text and "Run failed: a run failed" in text
        assert "2 messages, 1 errors" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EventLogScreen)
        assert app.event_log.listeners == []  # the closed screen no longer listens
