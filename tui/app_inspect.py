"""The app's actions that look inside a checkpoint's network: draw a digit, the hidden units'
weights, the gradient check, and a run's training figures.

A mixin of `MnistApp`, like `BrowseActions` (whose `_target_checkpoint`, `_target_run` and
`_dataset` it uses); the keys are in `CheckpointPanel.BINDINGS` and the palette entries in
`tui.keys.PALETTE_COMMANDS`. Each action opens a screen of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app import MnistApp


class InspectActions:
    """Open the look-inside screens on the highlighted checkpoint or run (mixed into MnistApp)."""

    def action_draw(self: MnistApp) -> None:
        """Draw a digit and see the highlighted checkpoint (a run: its best) classify it."""
        from tui.screens.draw import DrawScreen

        entry = self._target_checkpoint()
        if entry is not None:
            self.push_screen(DrawScreen(entry.path, self.data_dir, dataset=self._dataset()))

    def action_weights(self: MnistApp) -> None:
        """The hidden units' incoming weights as images, sortable; Enter shows one large."""
        from tui.screens.weights import WeightsScreen

        entry = self._target_checkpoint()
        if entry is not None:
            self.push_screen(WeightsScreen(entry.path, self.data_dir, dataset=self._dataset()))

    def action_gradcheck(self: MnistApp) -> None:
        """Check the hand-written gradients at the checkpoint's weights (finite differences,
        autograd), as `mnist-tui gradcheck` does."""
        from tui.screens.gradcheck import GradcheckScreen

        entry = self._target_checkpoint()
        if entry is not None:
            self.push_screen(GradcheckScreen(entry.path, self.data_dir, dataset=self._dataset()))

    def action_training_figures(self: MnistApp) -> None:
        """Chart the run's gradient norms, update/weight ratios and dead units per epoch."""
        from tui.screens.training_figures import TrainingFiguresScreen

        run = self._target_run()
        if run is not None:
            self.push_screen(TrainingFiguresScreen(run))
