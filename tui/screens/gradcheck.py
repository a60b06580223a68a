"""`mnist-tui gradcheck` in the app: the same check on the highlighted checkpoint, its table.

The check (finite differences and autograd, `mlp_core.gradcheck`) takes a fraction of a second
to a few seconds, so it runs in a thread worker (the torch thread when no run holds it) and
posts the finished report back.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from tui.worker import run_torch_work


class GradcheckDone(Message):
    def __init__(self, report: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.report, self.error = report, error


def _check(checkpoint_path: Path, data_dir: Path | None, dataset: Any) -> Any:
    """Load the weights and a batch of 8 test images; run the check (in a worker)."""
    import numpy as np
    import torch

    from data.loader import background, to_float
    from data.mnist import load_dataset
    from mlp_core.checkpoint import load_checkpoint
    from mlp_core.gradcheck import batch_from_images, check_gradients

    checkpoint = load_checkpoint(checkpoint_path)
    dataset = dataset if dataset is not None else load_dataset(data_dir)
    images = to_float(dataset.test_images[:8], checkpoint.config.standardize, torch.device("cpu"))
    labels = torch.from_numpy(dataset.test_labels[:8].astype(np.int64))
    x, y = batch_from_images(images, labels)
    source = (
        f"{checkpoint.path.parent.parent.name}/{checkpoint.path.name} (epoch {checkpoint.epoch})"
    )
    blank = background(checkpoint.config.standardize)  # skipped as a training step skips
    return check_gradients(checkpoint.weights(), x, y, source=source, blank=blank)


class GradcheckScreen(Screen[None]):
    """The gradient check's table for one checkpoint. Escape closes."""

    DEFAULT_CSS = """
    GradcheckScreen #gradcheck-title { padding: 0 1; text-style: bold; height: 1; }
    GradcheckScreen #gradcheck-table { padding: 1 2; height: auto; }
    GradcheckScreen #gradcheck-table.failed { color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(
        self, checkpoint_path: Path, data_dir: Path | None = None, dataset: Any = None
    ) -> None:
        super().__init__()
        self.checkpoint_path = Path(checkpoint_path)
        self.data_dir = data_dir
        self.dataset = dataset
        self.report: Any = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Gradient check · {self.checkpoint_path}", id="gradcheck-title")
        yield Static("checking the gradients…", id="gradcheck-table")
        yield Footer()

    def on_mount(self) -> None:
        self._run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="gradcheck")
    def _run(self) -> None:
        from data.idx import DatasetError
        from mlp_core.checkpoint import CheckpointError

        work = partial(_check, self.checkpoint_path, self.data_dir, self.dataset)
        try:
            self.post_message(GradcheckDone(report=run_torch_work(work)))
        except (CheckpointError, DatasetError) as exc:
            self.post_message(GradcheckDone(error=str(exc)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "gradcheck" and event.state == WorkerState.ERROR:
            self.post_message(GradcheckDone(error=f"the check failed ({event.worker.error!r})"))

    @on(GradcheckDone)
    def _done(self, message: GradcheckDone) -> None:
        from mlp_core.gradcheck import report_table

        message.stop()
        table = self.query_one("#gradcheck-table", Static)
        if message.error is not None:
            self.error = message.error
            table.update(Text(f"Cannot check: {message.error}"))
            table.add_class("failed")
            self.notify(message.error, title="Gradient check", severity="error", timeout=8)
            return
        self.report = message.report
        table.update(Text(report_table(self.report)))
        table.set_class(not self.report.passed, "failed")

    def action_close(self) -> None:
        self.dismiss()
