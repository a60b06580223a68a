"""A trainer that dies: run by the crash tests in a subprocess, killed with os._exit.

    python crash_child.py DATA_DIR RUNS_DIR CONFIG_JSON POINT OCCURRENCE [RESUME]

POINT is a `mlp_core.files.CRASH_POINTS` name, or `batch` (the should_stop poll before
each step); the process exits with status 137, as a SIGKILL leaves it, at the OCCURRENCE-th
time the trainer reaches it: no finally block, no status write, whatever was on disk stays.
With RESUME (a checkpoint path) it resumes from it instead of starting a run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlp_core.files as run_files
from data.mnist import load_dataset
from mlp_core import TrainConfig, load_checkpoint, train

KILLED = 137


def main() -> None:
    data_dir, runs_dir, config_json, point, occurrence = sys.argv[1:6]
    resume = load_checkpoint(sys.argv[6]) if len(sys.argv) > 6 else None
    seen = 0

    def reached(name: str) -> None:
        nonlocal seen
        if name == point:
            seen += 1
            if seen == int(occurrence):
                os._exit(KILLED)

    run_files.crash_hook = reached

    def should_stop() -> bool:
        reached("batch")
        return False

    config = TrainConfig.from_json(config_json)
    for _event in train(
        config,
        load_dataset(Path(data_dir)),
        runs_dir=Path(runs_dir),
        start=resume,
        should_stop=should_stop,
        progress_interval=1e9,
    ):
        pass


if __name__ == "__main__":
    main()
