"""The queue runner's jobs on Ray: the runner is the driver, one thread per running job.

    remote = ExecutorSlots("ray:auto", data_dir=None)
    remote.slots()                           # ["ray-0", "ray-1"]: one per GPU of the cluster
    run_dir = remote.launch(runs_dir, config, device_lock)

Issue 8's runner launches each job as a run process of its own; with an executor it calls
`launch` instead, which submits the job and returns its run folder as soon as the driver made
it (so the job file records it at once). A thread of the runner then follows the task and
writes the folder; it holds the slot's lock (`queue/device-ray-N.lock`) while the job runs,
so the runner's own "is this slot free" check works unchanged. The runner judges the job's end
from the run folder, as for a run process. A Ray task dies with its driver: a killed runner
leaves its jobs' runs `interrupted` (their locks are freed), never silently retried.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.executors import make_executor
from mlp_core.liveness import try_lock


class ExecutorSlots:
    """Launches queue jobs on an executor and follows them in threads of this process."""

    def __init__(self, spec: str, data_dir: Path | None) -> None:
        from data.mnist import load_dataset

        self.executor: Any = make_executor(spec)
        # Shipped once through the object store: no --data-dir needed on the workers.
        self.dataset = load_dataset(data_dir)
        self.threads: list[threading.Thread] = []

    def slots(self) -> list[str]:
        return [f"{self.executor.name}-{i}" for i in range(self.executor.slots())]

    def launch(self, runs_dir: Path, config: TrainConfig, device_lock: Path) -> Path:
        """Submit `config`; returns its run folder. LaunchError when it cannot be submitted."""
        from mlp_core.runproc import LaunchError

        lock_fd = try_lock(device_lock)
        try:
            run_dir, events = self.executor.start(config, runs_dir=runs_dir, dataset=self.dataset)
        except Exception as exc:
            import os

            os.close(lock_fd)
            raise LaunchError(f"{type(exc).__name__}: {exc}") from None
        thread = threading.Thread(
            target=self._follow, args=(events, lock_fd), name=f"job-{run_dir.name}", daemon=True
        )
        thread.start()
        self.threads.append(thread)
        return run_dir

    @staticmethod
    def _follow(events: Any, lock_fd: int) -> None:
        """Drain the job's events (the mirror writes the run folder); free the slot at the end.
        A failed job raises here; its run.json already says failed with the reason."""
        import os

        try:
            with contextlib.suppress(Exception):
                for _ in events:
                    pass
        finally:
            os.close(lock_fd)

    def close(self) -> None:
        """Wait for the jobs' threads, then release the executor (a local Ray is shut down)."""
        for thread in self.threads:
            thread.join()
        self.executor.close()


def fail_waiting(runs_dir: Path, exc: BaseException) -> int:
    """Mark every waiting job failed with the reason the executor could not be made (Ray not
    reachable): the runner cannot run them, and a follower would otherwise spawn runner after
    runner for them. Returns how many."""
    from mlp_core import jobqueue

    lines = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {lines[0] if lines else 'no detail'}"
    failed = 0
    for job in jobqueue._on_disk(runs_dir):
        if job.state == "waiting":
            with contextlib.suppress(jobqueue.QueueError):
                jobqueue._move(job, "failed", error=reason)
                failed += 1
    return failed
