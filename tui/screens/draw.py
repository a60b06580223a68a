"""Draw a digit and watch a checkpoint classify it as you draw.

Left, the canvas (`DrawingCanvas`); beside it, the drawing made into an MNIST digit
(`mlp_core.drawing.preprocess`: bounding box to 20x20, centred by mass in 28x28), which is what
the network sees; right, its ten probabilities as bars and the top prediction in large digits.
`t` puts the next test image on the canvas to edit (how little change flips a prediction?), `w`
opens the weights screen with this digit's most active hidden units.

Preprocessing (numpy, 0.2 ms) runs on the UI thread at each stroke step, so the processed
digit follows the pen. The forward pass runs in a thread worker (in the app's torch thread when
no run holds it): one image at h=2048 took 1.1 ms with one torch thread but 12 ms with two on
this project's loaded 2-core machine (OpenMP teams competing), too long for the UI thread. A
newer stroke supersedes an answer still on its way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Digits, Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.widgets.canvas import DrawingCanvas
from tui.widgets.digit import render_digit
from tui.worker import run_torch_work

BAR_WIDTH = 8


def probability_bars(probabilities: list[float]) -> Text:
    """Ten lines `k ██████··  97%`, the most probable in bold green."""
    top = int(np.argmax(probabilities)) if probabilities else -1
    text = Text(no_wrap=True, end="")
    for digit, p in enumerate(probabilities):
        if digit:
            text.append("\n")
        filled = round(p * BAR_WIDTH)
        style = "bold green" if digit == top else "white"
        text.append(f"{digit} ", style="bold")
        text.append("█" * filled, style=style)
        text.append("·" * (BAR_WIDTH - filled), style="grey42")
        text.append(f" {100 * p:3.0f}%", style=style)
    return text


class Loaded(Message):
    """From the worker: the network (on the CPU) and the data set."""

    def __init__(self, model: Any, standardize: bool, title: str, dataset: Any) -> None:
        super().__init__()
        self.model, self.standardize, self.title, self.dataset = model, standardize, title, dataset


class Classified(Message):
    """From the classifier worker: the probabilities of one processed drawing."""

    def __init__(self, processed: np.ndarray, probabilities: list[float]) -> None:
        super().__init__()
        self.processed, self.probabilities = processed, probabilities


class LoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DrawScreen(Screen[None]):
    """The canvas, what the network sees, and its answer. Escape closes."""

    DEFAULT_CSS = """
    DrawScreen #draw-title { padding: 0 1; text-style: bold; height: 1; }
    DrawScreen #draw-status { padding: 0 1; height: auto; color: $text-muted; }
    DrawScreen #draw-status.error { color: $error; text-style: bold; }
    DrawScreen #draw-row { height: auto; padding: 0 1; }
    DrawScreen .draw-box { width: auto; height: auto; margin-right: 1; }
    DrawScreen .draw-caption { height: 1; color: $text-muted; width: 28; }
    DrawScreen #draw-canvas { border: round $accent; width: 30; height: 16; }
    DrawScreen #draw-canvas:focus { border: round $success; }
    DrawScreen #draw-seen { border: round $panel-lighten-2; width: 30; height: 16; }
    DrawScreen #draw-answer { width: 1fr; min-width: 15; height: auto; }
    DrawScreen #draw-top { width: 6; height: 3; }
    DrawScreen #draw-bars { height: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("t", "test_image", "Test image", tooltip="Put the next test image on the canvas"),
        Binding("w", "weights", "Units", tooltip="The hidden units this digit activates most"),
    ]

    def __init__(
        self,
        checkpoint_path: Path,
        data_dir: Path | None = None,
        dataset: Any = None,
    ) -> None:
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.data_dir = data_dir
        self.dataset = dataset
        self.model: Any = None
        self.standardize = True
        self.error: str | None = None
        #: What the network sees (28x28 uint8) and its probabilities, after each change.
        self.processed = np.zeros((28, 28), dtype=np.uint8)
        self.probabilities: list[float] = []
        self.test_index = -1

    def compose(self) -> ComposeResult:
        where = f"{self.checkpoint_path.parent.parent.name}/{self.checkpoint_path.name}"
        yield Static(f"Draw a digit · {where}", id="draw-title")
        yield Static("loading the checkpoint…", id="draw-status")
        with Horizontal(id="draw-row"):
            with Vertical(classes="draw-box"):
                yield DrawingCanvas(id="draw-canvas")
                yield Static("drag · right erases", classes="draw-caption")
            with Vertical(classes="draw-box"):
                yield Static(render_digit(self.processed), id="draw-seen")
                yield Static("what the network sees", classes="draw-caption")
            with Vertical(id="draw-answer"):
                yield Static("prediction", classes="draw-caption")
                yield Digits("", id="draw-top")
                yield Static("", id="draw-bars")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DrawingCanvas).focus()
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="draw-load")
    def _load(self) -> None:
        """Read the checkpoint (and the data set when none was given) off the UI thread."""
        import torch

        from data.idx import DatasetError
        from data.mnist import load_dataset
        from mlp_core.checkpoint import CheckpointError, load_checkpoint
        from mlp_core.model import MLP

        try:
            checkpoint = load_checkpoint(self.checkpoint_path)
            model = MLP.from_state_dict(checkpoint.weights(), torch.device("cpu"))
            dataset = self.dataset if self.dataset is not None else load_dataset(self.data_dir)
        except (CheckpointError, DatasetError) as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        title = f"run {checkpoint.run or '?'} · epoch {checkpoint.epoch} · h={model.hidden}"
        self.post_message(Loaded(model, checkpoint.config.standardize, title, dataset))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "draw-load" and event.state == WorkerState.ERROR:
            self._show_error(f"{self.checkpoint_path}: cannot load ({event.worker.error!r})")

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        self.model, self.standardize, self.dataset = (
            message.model,
            message.standardize,
            message.dataset,
        )
        scaling = "standardised" if self.standardize else "pixels in [0, 1]"
        self.query_one("#draw-status", Static).update(
            f"{message.title} · inputs {scaling} · arrows+space, b brush, c clear, t test image"
        )
        self._classify()

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        message.stop()
        self._show_error(message.error)

    def _show_error(self, error: str) -> None:
        self.error = error
        status = self.query_one("#draw-status", Static)
        status.update(Text(f"Cannot classify: {error}"))
        status.add_class("error")
        self.notify(error, title="Draw", severity="error", timeout=8)

    # -- classification -------------------------------------------------------------------

    @on(DrawingCanvas.Changed)
    def _drawing_changed(self, message: DrawingCanvas.Changed) -> None:
        message.stop()
        self._classify()

    def _classify(self) -> None:
        """Preprocess the drawing and show it now; classify it in a worker."""
        from mlp_core.drawing import preprocess

        self.processed = preprocess(self.query_one(DrawingCanvas).pixels)
        self.query_one("#draw-seen", Static).update(render_digit(self.processed))
        if self.model is None:
            return
        if not self.processed.any():
            self.workers.cancel_group(self, "draw-classify")
            self._show_answer(Classified(self.processed, []))
            return
        self._run_classifier(self.processed.copy())

    @work(thread=True, exclusive=True, exit_on_error=False, group="draw-classify")
    def _run_classifier(self, processed: np.ndarray) -> None:
        """One forward pass, in the torch thread when it is free (see the module docstring);
        a newer stroke cancels this one's answer."""
        from mlp_core.drawing import classify

        probabilities = run_torch_work(classify, self.model, processed, self.standardize)
        if not get_current_worker().is_cancelled:
            self.post_message(Classified(processed, probabilities))

    @on(Classified)
    def _show_answer(self, message: Classified) -> None:
        message.stop()
        if not np.array_equal(message.processed, self.processed):
            return  # an answer for a drawing that has changed since
        self.probabilities = message.probabilities
        if not self.probabilities:
            self.query_one("#draw-top", Digits).update("")
            self.query_one("#draw-bars", Static).update("draw a digit")
            return
        self.query_one("#draw-top", Digits).update(str(self.prediction))
        self.query_one("#draw-bars", Static).update(probability_bars(self.probabilities))

    @property
    def prediction(self) -> int | None:
        """The most probable digit, None while the canvas is blank or nothing is loaded."""
        return int(np.argmax(self.probabilities)) if self.probabilities else None

    # -- keys -----------------------------------------------------------------------------

    def action_test_image(self) -> None:
        """The next test image onto the canvas, to edit."""
        if self.dataset is None:
            self.notify("the data set is not loaded", severity="warning")
            return
        self.test_index = (self.test_index + 1) % len(self.dataset.test_labels)
        self.query_one(DrawingCanvas).load(self.dataset.test_images[self.test_index])
        label = int(self.dataset.test_labels[self.test_index])
        self.notify(f"test image #{self.test_index}, label {label}", timeout=3)

    def action_weights(self) -> None:
        """The weights screen, ordered by how much this digit activates each unit."""
        from tui.screens.weights import WeightsScreen

        if self.model is None or not self.processed.any():
            self.notify("draw a digit first", severity="warning")
            return
        self.app.push_screen(WeightsScreen(self.checkpoint_path, digit=self.processed.copy()))

    def action_close(self) -> None:
        self.workers.cancel_node(self)
        self.dismiss()
