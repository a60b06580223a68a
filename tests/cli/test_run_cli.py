"""`mnist-tui train --detach`, `stop`, `attach` and live `runs`, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from spawned import kill_spawned, spawned_pids

from mlp_core.runs import load_run, read_metrics

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden", "16", "--batch-size", "32", "--val-split", "100", "--device", "cpu"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(autouse=True)
def reap(tmp_path: Path):
    yield
    kill_spawned(tmp_path)
    assert not spawned_pids(tmp_path)


def mnist_tui(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV,
    )  # fmt: skip


def wait_for(check: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def detach(tmp_path: Path, data: Path, epochs: str) -> Path:
    result = mnist_tui(
        "train", "--detach", "--data-dir", str(data), "--epochs", epochs, *TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    run = Path(result.stdout.strip())
    assert run.parent == Path("runs") and "attach" in result.stderr
    return tmp_path / run


def test_detach_returns_at_once_and_attach_replays_the_finished_run(
    tmp_path: Path, tiny_data_dir: Path
):
    run = detach(tmp_path, tiny_data_dir, "3")
    wait_for(lambda: load_run(run).status == "finished", 60, "the detached run to finish")
    attached = mnist_tui("attach", run.name, cwd=tmp_path)
    assert attached.returncode == 0, attached.stderr
    lines = attached.stdout.splitlines()
    assert lines[0].startswith(f"run {run.name} on cpu")
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]
    assert "finished after 3 epochs" in attached.stdout
    as_json = mnist_tui("attach", str(run), "--json", cwd=tmp_path)  # a folder works too
    names = [json.loads(line)["event"] for line in as_json.stdout.splitlines()]
    assert names[0] == "RunStarted" and names.count("EpochEnd") == 3 and names[-1] == "Finished"


def test_attach_follows_live_and_ctrl_c_detaches_without_stopping(
    tmp_path: Path, tiny_data_dir: Path
):
    run = detach(tmp_path, tiny_data_dir, "100000")
    attach = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "attach", run.name],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert attach.stdout is not None
        seen = len(read_metrics(run))
        line = attach.stdout.readline()
        while not (line.startswith("epoch ") and int(line.split()[1].split("/")[0]) > seen):
            line = attach.stdout.readline()  # an epoch the run trained after attach began
            assert line, "attach ended early"
        attach.send_signal(signal.SIGINT)
        _, err = attach.communicate(timeout=30)
    finally:
        attach.kill()
    assert attach.returncode == 0 and "detached from" in err and "Traceback" not in err
    assert load_run(run).status == "running"  # the run goes on
    stopped = mnist_tui("stop", run.name, cwd=tmp_path)
    assert stopped.returncode == 0 and stopped.stdout.strip() == f"{run.name}: stopped"
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"


def test_runs_shows_live_state_and_stop_of_a_dead_run(tmp_path: Path, tiny_data_dir: Path):
    run = detach(tmp_path, tiny_data_dir, "100000")
    listed = mnist_tui("runs", "--json", cwd=tmp_path).stdout
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [row["status"] for row in rows] == ["running"]
    os.kill(json.loads((run / "run.json").read_text())["pid"], signal.SIGKILL)
    wait_for(
        lambda: "interrupted" in mnist_tui("runs", cwd=tmp_path).stdout, 10, "runs: interrupted"
    )
    stopped = mnist_tui("stop", run.name, cwd=tmp_path)
    assert stopped.stdout.strip() == f"{run.name}: interrupted"
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"


def test_foreground_train_holds_the_lock_and_obeys_stop(tmp_path: Path, tiny_data_dir: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "train", "--data-dir", str(tiny_data_dir),
         "--epochs", "100000", *TINY],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith("epoch "):
            assert process.poll() is None
        (run,) = (tmp_path / "runs").iterdir()
        record = json.loads((run / "run.json").read_text())
        assert record["pid"] == process.pid and record["boot_id"]
        assert load_run(run).status == "running"
        assert mnist_tui("stop", str(run), cwd=tmp_path).stdout.strip().endswith(": stopped")
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0 and "stopped after" in out


def test_bad_runs_and_launches_are_one_line(tmp_path: Path):
    for args in (["stop", "nope"], ["attach", "nope"]):
        result = mnist_tui(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith("mnist-tui: error: nope: no such run")
    bad = mnist_tui("train", "--detach", "--data-dir", "/nonexistent/x", *TINY, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    (line,) = bad.stderr.strip().splitlines()
    assert line == "mnist-tui: error: /nonexistent/x: data directory does not exist"


def test_runs_shows_where_a_live_run_is(tmp_path: Path, capsys):
    from mlp_core.config import preset
    from mlp_core.runs import create_run
    from tui.cli import main

    info = create_run(tmp_path / "runs", preset("default", hidden=16))  # this process holds it
    (info.path / "progress.json").write_text(json.dumps({"epoch": 3, "step": 45, "steps": 100}))
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "running (epoch 3, 45%)" in capsys.readouterr().out
    info.release()
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "interrupted" in capsys.readouterr().out


#: Prints, after the command, whether torch was imported (the command's own output first).
TORCH_PROBE = """
import sys
from tui.cli import main
status = main(sys.argv[1:])
print("torch imported:", "torch" in sys.modules, "status:", status)
"""


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["runs"], "RUN"),
        (["runs", "--json"], '"name": "RUN"'),
        (["export", "RUN", "--out", "-"], "epoch,train_loss"),
        (["stop", "RUN"], "RUN: finished"),  # a finished run: said so, nothing written
        (["attach", "RUN"], "finished"),
    ],
)
def test_the_run_folder_commands_never_import_torch(
    command: list[str], shown: str, mnist_checkpoint: Path
) -> None:
    """Listing, exporting, stopping and following read run folders: they answer at once, not
    after the seconds torch takes to import (`tui/cli.py` imports a command's module lazily)."""
    runs_dir = mnist_checkpoint.parents[2]
    run = mnist_checkpoint.parents[1].name
    argv = [part.replace("RUN", run) for part in command] + ["--runs-dir", str(runs_dir)]
    result = subprocess.run(
        [sys.executable, "-c", TORCH_PROBE, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "torch imported: False" in result.stdout, result.stdout + result.stderr
    assert "status: 0" in result.stdout, result.stderr  # it did its work, on a real run
    assert shown.replace("RUN", run) in result.stdout, result.stdout
