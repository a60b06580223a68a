"""`mnist-tui train --precision`: bf16 trains and prints as fp32 does; what the device cannot do
is one error line and status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlp_core.precision import precision_problem

TINY = ["--hidden", "16", "--batch-size", "32", "--val-split", "100"]


def mnist_tui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_tf32_on_the_cpu_is_one_error_line(tmp_path: Path, tiny_data_dir: Path) -> None:
    result = mnist_tui(
        "train", "--data-dir", str(tiny_data_dir), "--precision", "tf32", "--device", "cpu",
        *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mnist-tui: error: invalid setting: precision tf32 needs a CUDA device (on the CPU use"
        " fp32 or bf16)"
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(
    precision_problem("bf16", torch.device("cpu")) is not None, reason="this CPU cannot do bf16"
)
def test_bf16_trains_from_the_command_line(tmp_path: Path, tiny_data_dir: Path) -> None:
    result = mnist_tui(
        "train", "--data-dir", str(tiny_data_dir), "--precision", "bf16", "--device", "cpu",
        "--epochs", "2", *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("epoch ") >= 2 and "finished after 2 epochs" in result.stdout
