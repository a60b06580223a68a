"""The app's actions that look inside a checkpoint's network: draw a digit, the hidden units'
weights, the gradient check, and a run's training figures.

A small controller the app holds (not a mixin), beside `tui.app_browse.RunActions`, whose
`_target_checkpoint`, `_target_run` and `_dataset` say what the actions act on; the keys are in
`CheckpointPanel.BINDINGS` and the palette entries in `tui.keys.PALETTE_COMMANDS`, bound to the
app's `action_*` names, which hand over to it. Each action opens a screen of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app_browse import RunActions


class InspectActions:
    """Open the look-inside screens on the highlighted checkpoint or run."""

    def __init__(self, runs: RunActions) -> None:
        self.runs = runs
        self.app = runs.app

    def draw(self) -> None:
        """Draw a digit and see the highlighted checkpoint (a run: its best) classify it."""
        from tui.screens.draw import DrawScreen

        entry = self.runs._target_checkpoint()
        if entry is not None:
            self.app.push_screen(
                DrawScreen(entry.path, self.app.data_dir, dataset=self.runs._dataset())
            )

    def weights(self) -> None:
        """The hidden units' incoming weights as images, sortable; Enter shows one large."""
        from tui.screens.weights import WeightsScreen

        entry = self.runs._target_checkpoint()
        if entry is not None:
            self.app.push_screen(
                WeightsScreen(entry.path, self.app.data_dir, dataset=self.runs._dataset())
            )

    def gradcheck(self) -> None:
        """Check the hand-written gradients at the checkpoint's weights (finite differences,
        autograd), as `mnist-tui gradcheck` does."""
        from tui.screens.gradcheck import GradcheckScreen

        entry = self.runs._target_checkpoint()
        if entry is not None:
            self.app.push_screen(
                GradcheckScreen(entry.path, self.app.data_dir, dataset=self.runs._dataset())
            )

    def training_figures(self) -> None:
        """Chart the run's gradient norms, update/weight ratios and dead units per epoch."""
        from tui.screens.training_figures import TrainingFiguresScreen

        run = self.runs._target_run()
        if run is not None:
            self.app.push_screen(TrainingFiguresScreen(run))
