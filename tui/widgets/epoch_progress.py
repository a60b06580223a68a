"""The current epoch's progress: a bar, and a line with speed, time left and running loss."""

from __future__ import annotations

from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import ProgressBar

from tui.format import duration


def _rate(samples_per_second: float) -> str:
    if samples_per_second >= 1000:
        return f"{samples_per_second / 1000:.1f}k img/s"
    return f"{samples_per_second:.0f} img/s"


class _Line(Widget):
    """One line of text whose updates repaint it and nothing else.

    A Label's update asks for a new layout of the whole screen (its size may change); at a few
    progress updates a second that costs the UI thread tens of milliseconds each, CPU taken
    from training. This line has a fixed size, so a new text is only a repaint.
    """

    DEFAULT_CSS = "_Line { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = text

    def set_text(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> RenderResult:
        return self.text


class EpochProgress(Vertical):
    """Bar over the steps of the epoch, and what the last Progress event said."""

    DEFAULT_CSS = """
    EpochProgress { height: 2; }
    EpochProgress ProgressBar { width: 1fr; }
    EpochProgress ProgressBar Bar { width: 1fr; }
    EpochProgress #progress-text { width: 1fr; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        # A known total from the start: an indeterminate bar animates, which costs CPU in training.
        yield ProgressBar(total=1, show_eta=False, id="progress-bar")
        yield _Line("no run yet", id="progress-text")

    #: The line under the bar, as last set.
    text = "no run yet"

    def show(
        self,
        epoch: int,
        epochs: int,
        step: int,
        steps: int,
        samples_per_second: float,
        eta_seconds: float,
        train_loss: float,
    ) -> None:
        """Within an epoch (from a Progress event)."""
        self.query_one(ProgressBar).update(total=steps, progress=step)
        # The important part first: at 80 columns the end of the line is cut.
        self._say(
            f"epoch {epoch}/{epochs} · loss {train_loss:.4f} · "
            f"{duration(eta_seconds)} left · {_rate(samples_per_second)}"
        )

    def epoch_done(
        self, epoch: int, epochs: int, seconds: float, samples_per_second: float
    ) -> None:
        """An epoch ended: the bar is full until the next Progress."""
        bar = self.query_one(ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        self._say(f"epoch {epoch}/{epochs} done in {seconds:.1f}s · {_rate(samples_per_second)}")

    def idle(self, text: str) -> None:
        """No epoch in progress: say why (finished, stopped, a past run on screen)."""
        self._say(text)

    def loaded(self, done: int, total: int, text: str) -> None:
        """A past run on screen: the bar shows how much of it ran (full when it finished)."""
        self.query_one(ProgressBar).update(total=max(1, total), progress=min(done, max(1, total)))
        self._say(text)

    def reset(self, text: str) -> None:
        self.query_one(ProgressBar).update(total=1, progress=0)
        self._say(text)

    def _say(self, text: str) -> None:
        self.text = text
        self.query_one("#progress-text", _Line).set_text(text)
