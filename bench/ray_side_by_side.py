"""Ray with two fake GPUs: two jobs side by side against the same two one after another.

    .venv/bin/python bench/ray_side_by_side.py --hidden 512 --epochs 2 --subset 20000

Starts a throwaway local Ray instance with 2 CPUs and 2 fake GPUs (Ray hands out GPU ids and
sets each task's CUDA_VISIBLE_DEVICES; the jobs train on the CPU), then times two identical
jobs (seeds 0 and 1) run at once through the RayExecutor, and the same two run one at a time,
alternating the order over `--repeats`. The wall time includes everything a user waits for:
scheduling, the data set sent through Ray's object store, training, and the checkpoints
streamed back and written here. Each task gets one CPU, hence one torch thread.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from mlp_core.config import preset
from mlp_core.ray_executor import RayExecutor


def _drain(executor: RayExecutor, config, runs_dir: Path, dataset) -> None:
    for _ in executor.run(config, runs_dir=runs_dir, dataset=dataset):
        pass


def side_by_side(executor: RayExecutor, configs, runs_dir: Path, dataset) -> float:
    started = time.perf_counter()
    threads = [threading.Thread(target=_drain, args=(executor, c, runs_dir, dataset))
               for c in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def one_at_a_time(executor: RayExecutor, configs, runs_dir: Path, dataset) -> float:
    started = time.perf_counter()
    for config in configs:
        _drain(executor, config, runs_dir, dataset)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, default=20000, help="training images")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from data.mnist import load_dataset

    full = load_dataset(None)
    dataset = replace(full, train_images=full.train_images[: args.subset],
                      train_labels=full.train_labels[: args.subset])
    base = replace(preset("default"), hidden=args.hidden, epochs=args.epochs, device="cpu",
                   val_split=min(5000, args.subset // 5))
    configs = [replace(base, seed=seed) for seed in (0, 1)]
    executor = RayExecutor("local", num_cpus=2, num_gpus=2)
    try:
        # Warm up two workers (a Ray worker process takes seconds to start the first time).
        with tempfile.TemporaryDirectory() as tmp:
            warm = [replace(c, epochs=1) for c in configs]
            side_by_side(executor, warm, Path(tmp), dataset)
        times: dict[str, list[float]] = {"side by side": [], "one at a time": []}
        for repeat in range(args.repeats):
            order = [side_by_side, one_at_a_time]
            for run in order if repeat % 2 == 0 else order[::-1]:
                with tempfile.TemporaryDirectory() as tmp:
                    name = "side by side" if run is side_by_side else "one at a time"
                    times[name].append(run(executor, configs, Path(tmp), dataset))
        for name, values in times.items():
            shown = ", ".join(f"{v:.1f}" for v in values)
            print(f"{name}: {min(values):.1f} s best of {len(values)} ({shown})")
        ratio = min(times["one at a time"]) / min(times["side by side"])
        print(f"two jobs side by side are {ratio:.2f}x as fast as one at a time "
              f"(h={args.hidden}, {args.epochs} epochs, {args.subset} images each)")
    finally:
        executor.close()


if __name__ == "__main__":
    main()
