"""What Start continues from: a checkpoint chosen in the panel to fork (`f`) or resume (`r`).

The panel makes a `StartFrom` (`CheckpointPanel.continuing`), the form keeps it until Start
takes it or Escape drops it (`ConfigForm.continue_from`), and `describe` says on top of the form
what Start will do with the form's config as it now is. The engine makes the same decision at
launch (`mlp_core.trainer`: in place where only epochs or device changed, a fork otherwise);
this is what the user is told beforehand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mlp_core.config import TrainConfig

#: The banner's last line: how to leave fork/resume.
ESCAPE_HINT = "\nEscape: a new run instead"


@dataclass(frozen=True)
class StartFrom:
    """A checkpoint to continue from, and what is known of it when it was chosen."""

    checkpoint: Path
    epoch: int
    #: The config the checkpoint was trained with.
    parent: TrainConfig
    #: The checkpoint holds its run's last epoch (so a resume in place is possible).
    latest: bool
    #: `f` chose a fork: a new run even with the config unchanged (never a silent resume
    #: that adds epochs to the run forked from).
    forking: bool

    @property
    def run_path(self) -> Path:
        return self.checkpoint.parent.parent

    @property
    def source(self) -> str:
        """``<run>@7 (best)``."""
        return f"{self.run_path.name}@{self.epoch} ({self.checkpoint.stem})"


def describe(start: StartFrom, config: TrainConfig | None) -> tuple[str, str]:
    """The banner over the form and the Start button's label, for the form's `config` (None:
    the form has a field to fix)."""
    source = start.source
    if config is None:
        return f"⑂ from {source}: fix the form first{ESCAPE_HINT}", "Start"
    parent = start.parent
    same = dataclasses.replace(parent, epochs=config.epochs, device=config.device) == config
    if config.epochs <= start.epoch:
        text = f"⑂ from {source}: epochs must be above {start.epoch}"
    elif config.hidden != parent.hidden:
        text = f"⑂ from {source}: hidden must stay {parent.hidden}"
    elif same and start.latest and not start.forking:
        return f"↻ Start resumes {source} to epoch {config.epochs}{ESCAPE_HINT}", "Resume"
    else:
        text = f"⑂ Start forks {source} into a new run"
    return text + ESCAPE_HINT, "Fork"
