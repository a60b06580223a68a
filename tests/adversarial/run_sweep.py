"""The adversarial sweep of issue 13, rerun: kills at every write step, full disks at every
write, hostile files and options. Not part of the suite (minutes); run by hand:

    .venv/bin/python tests/adversarial/run_sweep.py [--quick]

Each case is "handled" (one error line and exit 2, or a run a resume makes whole and bitwise
equal to one that never died), "problem" (a traceback, a hang, a wrong exit status) or "lost"
(data lost or inconsistent after the resume). Prints one line per case and the totals.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402
from conftest import make_tiny_dataset, write_dataset  # noqa: E402
from safetensors.torch import load as st_load  # noqa: E402
from safetensors.torch import save as st_save  # noqa: E402

import mlp_core.checkpoint as checkpoint  # noqa: E402
import mlp_core.files as run_files  # noqa: E402
from data.mnist import load_dataset  # noqa: E402
from mlp_core import TrainConfig, load_checkpoint, train  # noqa: E402
from mlp_core.recovery import score  # noqa: E402
from mlp_core.runs import read_metrics  # noqa: E402

CHILD = ROOT / "tests" / "core" / "crash_child.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CONFIG = TrainConfig(hidden=16, epochs=3, batch_size=64, val_split=100, lr=0.01, device="cpu")
results: list[tuple[str, str, str]] = []


def record(name: str, verdict: str, detail: str = "") -> None:
    results.append((name, verdict, detail))
    print(f"{verdict:8} {name} {detail}", flush=True)


def folder_state(run_dir: Path, reference: Path) -> str:
    """ "" when the run is whole and bitwise equal to the reference, else what is wrong."""
    rows = read_metrics(run_dir)
    if [r["epoch"] for r in rows] != list(range(1, CONFIG.epochs + 1)):
        return f"metrics epochs {[r['epoch'] for r in rows]}"
    folder = run_dir / "checkpoints"
    best = load_checkpoint(folder / "best.safetensors").epoch
    if best != max(rows, key=score)["epoch"]:
        return f"best.safetensors at {best}, metrics say {max(rows, key=score)['epoch']}"
    ours = load_checkpoint(folder / "last.safetensors").tensors
    theirs = load_checkpoint(reference / "checkpoints" / "last.safetensors").tensors
    if ours.keys() != theirs.keys() or not all(torch.equal(ours[k], theirs[k]) for k in ours):
        return "weights differ from the run that never died"
    if json.loads((run_dir / "run.json").read_text())["status"] != "finished":
        return "status is not finished"
    if list(folder.glob(".*.tmp")) or list(run_dir.glob(".*.tmp")):
        return "temporary files left"
    return ""


def resume_and_judge(name: str, runs: Path, data_dir: Path, reference: Path) -> None:
    run_dirs = [p for p in runs.iterdir() if p.is_dir()]
    if len(run_dirs) != 1:
        record(name, "problem", f"{len(run_dirs)} run folders")
        return
    last = run_dirs[0] / "checkpoints" / "last.safetensors"
    if not last.exists():  # killed before any checkpoint: nothing to resume, nothing lost
        record(name, "handled", "no epoch was saved; a new run starts over")
        return
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "train",
            "--resume",
            str(last),
            "--data-dir",
            str(data_dir),
            "--runs-dir",
            str(runs),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    if result.returncode != 0 or "Traceback" in result.stderr:
        record(name, "problem", f"resume exit {result.returncode}: {result.stderr[-200:]}")
        return
    if len([p for p in runs.iterdir() if p.is_dir()]) != 1:
        record(name, "lost", "the resume forked a new run")
        return
    wrong = folder_state(run_dirs[0], reference)
    record(name, "lost" if wrong else "handled", wrong)


def kill_cases(data_dir: Path, reference: Path, work: Path, quick: bool) -> None:
    points = {
        "tmp-written": range(1, 9),
        "after-last": range(1, 4),
        "after-best": range(1, 4),
        "after-metrics": range(1, 4),
        "before-finished": range(1, 2),
        "batch": range(1, 25, 3),
    }
    for point, occurrences in points.items():
        for occurrence in list(occurrences)[: 2 if quick else None]:
            runs = Path(tempfile.mkdtemp(dir=work))
            name = f"kill at {point} #{occurrence}"
            child = subprocess.run(
                [
                    sys.executable,
                    str(CHILD),
                    str(data_dir),
                    str(runs),
                    CONFIG.to_json(),
                    point,
                    str(occurrence),
                ],
                capture_output=True,
                text=True,
                timeout=300,
                env=ENV,
            )
            if child.returncode == 0:  # e.g. "after-best #3" when epoch 3 is not a best
                print(f"(not reached: {name})", flush=True)
                continue
            if child.returncode != 137:
                record(name, "problem", f"child exit {child.returncode}: {child.stderr[-200:]}")
                continue
            resume_and_judge(name, runs, data_dir, reference)


def disk_full_cases(data_dir: Path, reference: Path, work: Path, quick: bool) -> None:
    """ENOSPC at the k-th atomic write (run.json, checkpoints), in this process."""
    dataset = load_dataset(data_dir)
    for k in range(1, 4 if quick else 10):
        runs = Path(tempfile.mkdtemp(dir=work))
        seen = 0

        def full(name: str, k: int = k) -> None:
            nonlocal seen
            if name == "tmp-written":
                seen += 1
                if seen == k:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        run_files.crash_hook = full
        message = ""
        try:
            for _ in train(CONFIG, dataset, runs_dir=runs, progress_interval=1e9):
                pass
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
        finally:
            run_files.crash_hook = None
        name = f"disk full at write #{k}"
        if not message:  # the run made fewer than k writes
            print(f"(not reached: {name})", flush=True)
            continue
        if "no space left on device" not in message or "\n" in message:
            record(name, "problem", message)
            continue
        if [p for p in runs.iterdir() if p.is_dir() and not (p / "run.json").exists()]:
            record(name, "lost", "a folder without run.json")
            continue
        if not any(runs.iterdir()):
            record(name, "handled", "refused at start, no folder left")
            continue
        resume_and_judge(name, runs, data_dir, reference)


def cli_case(name: str, args: list[str], cwd: Path, expect: int = 2, **kw: Any) -> None:
    try:
        streams = {"stderr": subprocess.PIPE} if "stdout" in kw else {"capture_output": True}
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", *args],
            cwd=cwd,
            **streams,
            text=True,
            timeout=120,
            env=ENV,
            **kw,
        )
    except subprocess.TimeoutExpired:
        record(name, "problem", "hung")
        return
    lines = result.stderr.strip().splitlines()
    ok = result.returncode == expect and "Traceback" not in result.stderr
    if expect == 2:
        ok = ok and len(lines) == 1 and lines[0].startswith("mnist-tui: error:")
    record(name, "handled" if ok else "problem", f"exit {result.returncode} {lines[-1:]}")


def rewrite(source: Path, target: Path, change: Callable[[dict, dict], None]) -> Path:
    payload = source.read_bytes()
    header_len = int.from_bytes(payload[:8], "little")
    metadata = json.loads(payload[8 : 8 + header_len])["__metadata__"]
    tensors = dict(st_load(payload))
    change(tensors, metadata)
    if "tensors_sha256" in metadata:
        metadata["tensors_sha256"] = checkpoint.tensors_digest(tensors)
    target.write_bytes(st_save(tensors, metadata=metadata))
    return target


def input_cases(data_dir: Path, reference: Path, work: Path) -> None:
    last = reference / "checkpoints" / "last.safetensors"
    data = ["--data-dir", str(data_dir), "--runs-dir", str(work / "runs")]
    for option, value in [
        ("--seed", str(2**64 - 1)),
        ("--seed", str(2**64)),
        ("--lr", "1e308"),
        ("--weight-decay", "1e300"),
        ("--hidden", "70000"),
        ("--epochs", "0"),
    ]:
        cli_case(f"train {option} {value}", ["train", option, value, *data], work)

    def meta(**changes: str) -> Callable[[dict, dict], None]:
        return lambda _t, m: m.update(changes)

    def tensor(name: str, make: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
        return lambda t, _m: t.update({name: make(t[name])})

    def nan(t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        t.view(-1)[0] = float("nan")
        return t

    hostile = {
        "short rng state": tensor("rng.batch_order", lambda t: t[:10].clone()),
        "optimizer buffer shape": tensor(
            "optimizer.fc1.weight.momentum_buffer", lambda _t: torch.zeros(2, 2)
        ),
        'metrics "5"': meta(metrics='"5"'),
        "metrics [1,2]": meta(metrics="[1, 2]"),
        "seed 2**64 in config": lambda _t, m: m.update(
            config=json.dumps({**json.loads(m["config"]), "seed": 2**64})
        ),
        "fp16 weights": tensor("fc1.weight", lambda t: t.half()),
        "int8 weights": tensor("fc2.weight", lambda t: t.to(torch.int8)),
        "negative epoch": meta(epoch="-1"),
        "absurd epoch": meta(epoch=str(10**12)),
        "no tensors_sha256": lambda _t, m: m.pop("tensors_sha256"),
        "NaN weights (resume)": tensor("fc1.bias", nan),
    }
    for name, change in hostile.items():
        bad = rewrite(last, work / f"{name.replace(' ', '_')}.safetensors", change)
        cli_case(f"resume: {name}", ["train", "--resume", str(bad), "--epochs", "9", *data], work)
        if "NaN" not in name:
            cli_case(f"eval: {name}", ["eval", str(bad), "--data-dir", str(data_dir)], work)
    nan_file = work / "NaN_weights_(resume).safetensors"
    cli_case("eval: NaN weights flagged", ["eval", str(nan_file), *data[:2]], work, expect=0)
    sparse = work / "sparse.safetensors"
    with open(sparse, "wb") as handle:
        handle.write((2**31).to_bytes(8, "little"))
        handle.truncate(2 * 1024**3)
    cli_case("eval: 2 GB sparse file", ["eval", str(sparse)], work)
    other = write_dataset(work / "other-set", make_tiny_dataset(seed=3))
    cli_case("eval: another data set", ["eval", str(last), "--data-dir", str(other)], work)
    cli_case("eval: recorded data set used", ["eval", str(last)], work, expect=0)
    folder_cases(reference, work)


def folder_cases(reference: Path, work: Path) -> None:
    """Damaged run folders: `runs` must list them (exit 0) and never hang."""
    for name, damage in {
        "invalid UTF-8 in metrics.jsonl": lambda r: (
            (r / "metrics.jsonl").open("ab").write(b'{"epoch": 9, "x": "\xff"}\n')
        ),
        '"seconds": "slow"': lambda r: (
            (r / "metrics.jsonl")
            .open("a")
            .write('{"epoch": 4, "seconds": "slow", "val_accuracy": "high"}\n')
        ),
        "pid 10**30": lambda r: _edit(r, pid=10**30, status="running"),
        "deeply nested run.json": lambda r: (r / "run.json").write_text("[" * 200_000),
        "run.json a FIFO": lambda r: ((r / "run.json").unlink(), os.mkfifo(r / "run.json")),
        "run.json a link loop": lambda r: (
            (r / "run.json").unlink(),
            (r / "run.json").symlink_to(r / "run.json"),
        ),
        "label with escapes": lambda r: _edit(r, label="\x1b[2J\x1b]0;x\x07"),
    }.items():
        runs = Path(tempfile.mkdtemp(dir=work))
        copy = runs / reference.name
        subprocess.run(["cp", "-r", str(reference), str(copy)], check=True)
        damage(copy)
        for sort in ("name", "val", "time"):
            cli_case(
                f"runs --sort {sort}: {name}",
                ["runs", "--sort", sort, "--runs-dir", str(runs)],
                work,
                expect=0,
            )
        cli_case(
            f"export: {name}",
            ["export", str(copy), "--out", str(runs / "m.csv")],
            work,
            expect=2 if "FIFO" in name or "loop" in name else 0,
        )
    (work / "a-file").write_text("x")
    cli_case("runs on a file", ["runs", "--runs-dir", str(work / "a-file")], work)
    read_end, write_end = os.pipe()
    os.close(read_end)
    cli_case(
        "runs | true",
        ["runs", "--runs-dir", str(reference.parent)],
        work,
        expect=141,
        stdout=write_end,
    )
    os.close(write_end)


def _edit(run: Path, **changes: Any) -> None:
    raw = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**raw, **changes}))


def main() -> None:
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = write_dataset(work / "tiny-data", make_tiny_dataset())
        events = list(train(CONFIG, load_dataset(data_dir), runs_dir=work / "reference"))
        reference = Path(events[0].run_dir)
        kill_cases(data_dir, reference, work, quick)
        disk_full_cases(data_dir, reference, work, quick)
        input_cases(data_dir, reference, work)
    verdicts = [verdict for _, verdict, _ in results]
    print(
        f"\n{len(results)} cases: {verdicts.count('handled')} handled, "
        f"{verdicts.count('problem')} problems, {verdicts.count('lost')} lost data"
    )


if __name__ == "__main__":
    main()
