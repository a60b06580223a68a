"""`mnist-tui gradcheck` in a subprocess: its table and its exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from data.mnist import Dataset
from mlp_core.config import TrainConfig
from mlp_core.trainer import train

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV
    )


def gradcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "gradcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )


def rows(stdout: str) -> dict[str, list[str]]:
    names = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
    return {line.split()[0]: line.split() for line in stdout.splitlines() if line.startswith(names)}


def test_a_fresh_network_passes(tmp_path: Path) -> None:
    result = gradcheck("--hidden", "20", "--entries", "30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert list(table) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [table[name][1] for name in table] == ["20x784", "20", "10x20", "10"]
    assert [table[name][2] for name in table] == ["30", "20", "30", "10"]
    assert all(row[-1] == "pass" and float(row[3]) < 1e-5 for row in table.values())
    assert "hidden 20, batch of 8" in result.stdout
    assert result.stdout.rstrip().endswith("all gradients pass")


def test_a_checkpoint_passes(tmp_path: Path, tiny_dataset: Dataset, tiny_data_dir: Path) -> None:
    config = TrainConfig(hidden=16, epochs=1, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, tiny_dataset, runs_dir=tmp_path / "runs"))
    checkpoint = Path(events[0].run_dir) / "checkpoints" / "last.safetensors"
    result = gradcheck(str(checkpoint), "--data-dir", str(tiny_data_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{checkpoint} (epoch 1)" in result.stdout and "hidden 16" in result.stdout


def test_a_broken_backward_fails_with_status_1(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from mlp_core.layers import ReLU\n"
        "ReLU.backward = lambda self, g: g  # the mask forgotten\n"
        "from tui.cli import main\n"
        "sys.exit(main(['gradcheck', '--hidden', '16']))\n"
    )
    result = run(code, tmp_path)
    assert result.returncode == 1, result.stderr
    table = rows(result.stdout)
    assert [table[name][-1] for name in table] == ["FAIL", "FAIL", "pass", "pass"]
    assert result.stdout.rstrip().endswith("gradient check FAILED")


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    missing = gradcheck(str(tmp_path / "gone.safetensors"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"mnist-tui: error: {tmp_path / 'gone.safetensors'}: no such checkpoint file"
    ]
    both = gradcheck(str(tmp_path / "x.safetensors"), "--hidden", "8", cwd=tmp_path)
    assert both.returncode == 2 and "--hidden is for a fresh network" in both.stderr
    zero = gradcheck("--hidden", "0", cwd=tmp_path)
    assert zero.returncode == 2 and "must be at least 1" in zero.stderr
