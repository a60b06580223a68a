"""bench/gpu_check.sh on a machine without a GPU: one clear line, status 3, nothing written.
(Where there is a GPU the script runs everything, minutes of work: not a test's job.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.sh"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHON": sys.executable},
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_3(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = run_script(str(results))
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "gpu_check: no CUDA GPU visible here (torch.cuda.is_available() is False): nothing run"
    ]
    assert not results.exists()


def test_without_a_results_folder_it_prints_its_usage() -> None:
    done = run_script()
    assert done.returncode == 2
    assert done.stderr.strip() == "usage: bench/gpu_check.sh RESULTS_DIR"
