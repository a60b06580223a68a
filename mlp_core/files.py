"""What reading and writing run files needs without torch: `runs.py` reads run folders for the
app's first screen and `mnist-tui attach`, which must not wait for torch (checkpoint.py imports
it), so these live here and checkpoint.py imports them from here."""

from __future__ import annotations

import os

#: Figures of an epoch's metrics that must be numbers (or null) when present.
METRIC_NUMBERS = (
    "train_loss",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "lr",
    "seconds",
    "samples_per_second",
)


def os_error_reason(exc: OSError) -> str:
    """``no space left on device``: the system's words for an OSError, in lower case."""
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
