"""SIGTERM and SIGHUP stop `mnist-tui train` as Stop does: after the batch, status stopped,
checkpoints whole, exit 128 + the signal (143, 129)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--batch-size", "32", "--val-split", "100", "--device", "cpu"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_stop_signal_stops_after_the_batch(
    tmp_path: Path, tiny_data_dir: Path, sig: signal.Signals, status: int
) -> None:
    args = ["train", "--data-dir", str(tiny_data_dir), "--epochs", "100000", *TINY]
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith("epoch   2/"):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == status, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert "stopped after" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert load_checkpoint(run_dir / "checkpoints" / "last.safetensors").epoch == len(lines)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
