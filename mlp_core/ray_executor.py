"""Jobs as Ray tasks; this process (the Ray driver) writes their run folders locally.

    executor = RayExecutor("local")            # a throwaway local instance, shut down by close()
    executor = RayExecutor("auto")             # the cluster this node belongs to
    executor = RayExecutor("10.0.0.1:6379")    # a cluster's head
    for event in executor.run(config, runs_dir=Path("runs")):
        ...

Each job is one Ray generator task (`ray_worker.stream_job`, `num_returns="streaming"`) with
`num_gpus=1` when the cluster has GPUs (Ray then sets the task's CUDA_VISIBLE_DEVICES), else
`num_cpus=1`, and `max_retries=0`: a job whose worker dies is marked `failed` with the reason,
never trained a second time. The task streams the engine's events and, once per epoch, the
checkpoint bytes; here they become run.json, metrics.jsonl and checkpoints/ in the local runs
folder, so the app shows a cluster job exactly like a local one.

Our run record is the authority, not Ray's task state: this process holds the run's `lock`
(flock, taken by `runs.create_run`) and its heartbeat while it writes the folder, so the
liveness check (`liveness.judge_status`) reads `running` exactly while a driver mirrors the
run, and `interrupted` once the driver is gone (a Ray task dies with its driver). A stop asked
through the folder (`<run>/STOP`, as `mnist-tui stop` and the app write it) is honoured too.

The address is always passed to `ray.init` explicitly ("local" starts a new instance), never
a bare `ray.init()`, which may try to join a dead cluster from a stale address file.

Stop: `ray.cancel` (the task gets KeyboardInterrupt, as Ctrl-C: the epoch in progress is not
kept), then `force=True` after a grace period. The checkpoints here are written atomically by
this process from whole epochs, so they are whole however the worker ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from data.mnist import Dataset
from mlp_core.checkpoint import atomic_write
from mlp_core.config import TrainConfig
from mlp_core.events import CheckpointSaved, Diverged, EpochEnd, Event, Finished, RunStarted
from mlp_core.executors import ExecutorError, import_ray, update_run_record
from mlp_core.runs import CHECKPOINT_DIR, append_metrics, create_run

#: Issue 8's stop request (`mnist-tui stop`, the app, a queue cancel): a file in the run folder.
STOP_FILE = "STOP"


class RayExecutor:
    """An executor over a Ray cluster; see the module docstring."""

    name = "ray"

    def __init__(
        self,
        address: str,
        *,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        gpus_per_job: float | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        """address: "local", "auto", HOST:PORT or ray://HOST:PORT. num_cpus and num_gpus size
        a local instance only (fake GPUs included: Ray hands out their ids all the same).
        gpus_per_job: None takes 1 when the cluster has GPUs, else 0 (one CPU per job)."""
        self.ray = import_ray()
        self.address = address
        self.stop_grace = stop_grace
        self._owns = False
        self._connect(num_cpus, num_gpus)
        resources = self.ray.cluster_resources()
        self.gpus_per_job = (
            gpus_per_job if gpus_per_job is not None else (1.0 if resources.get("GPU") else 0.0)
        )
        self._resources = resources
        self._dataset_refs: dict[int, Any] = {}
        self._task = self.ray.remote(max_retries=0)(_stream_job)

    def _connect(self, num_cpus: int | None, num_gpus: int | None) -> None:
        if self.ray.is_initialized():
            return  # a driver connected already (tests share one instance)
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address == "local":
            options.update(num_cpus=num_cpus, num_gpus=num_gpus)
        try:
            self.ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"cannot reach a Ray cluster at {self.address}: {first}") from None
        self._owns = self.address == "local"

    def slots(self) -> int:
        """Jobs side by side: GPUs / gpus_per_job, or one per CPU."""
        if self.gpus_per_job:
            return max(1, int(self._resources.get("GPU", 0) / self.gpus_per_job))
        return max(1, int(self._resources.get("CPU", 1)))

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns = False

    def run(
        self,
        config: TrainConfig,
        *,
        runs_dir: Path,
        dataset: Dataset | None = None,
        data_dir: Path | None = None,
        should_stop: Callable[[], bool] | None = None,
        progress_interval: float = 0.25,
    ) -> Iterator[Event]:
        """Submit one job and mirror it; see the Executor protocol."""
        return self.start(
            config,
            runs_dir=runs_dir,
            dataset=dataset,
            data_dir=data_dir,
            should_stop=should_stop,
            progress_interval=progress_interval,
        )[1]

    def start(
        self,
        config: TrainConfig,
        *,
        runs_dir: Path,
        dataset: Dataset | None = None,
        data_dir: Path | None = None,
        should_stop: Callable[[], bool] | None = None,
        progress_interval: float = 0.25,
    ) -> tuple[Path, Iterator[Event]]:
        """As `run`, and the run folder, made (and locked) before this returns: the queue
        runner records it in the job's file at once."""
        data_ref = self._dataset_ref(dataset) if dataset is not None else None
        options: dict[str, Any] = {"num_returns": "streaming"}
        if self.gpus_per_job:
            options.update(num_gpus=self.gpus_per_job, num_cpus=0)
        else:
            options.update(num_cpus=1)
        mirror = RunMirror(Path(runs_dir), config, self.address)
        stream = self._task.options(**options).remote(
            config.to_json(), data_ref, str(data_dir) if data_dir else None, progress_interval
        )
        stop_file = mirror.path / STOP_FILE

        def stop_asked() -> bool:
            return stop_file.exists() or bool(should_stop and should_stop())

        canceller = _Canceller(self.ray, stream, stop_asked, self.stop_grace)
        return mirror.path, mirror.follow(stream, canceller)

    def _dataset_ref(self, dataset: Dataset) -> Any:
        """Put a data set in the object store once per executor (tests pass tiny ones)."""
        key = id(dataset)
        if key not in self._dataset_refs:
            self._dataset_refs[key] = (dataset, self.ray.put(dataset))
        return self._dataset_refs[key][1]


def _stream_job(*args: Any) -> Iterator[tuple[Any, ...]]:
    """The task's body, imported on the worker (mnist-tui must be installed on every node)."""
    from mlp_core.ray_worker import stream_job

    yield from stream_job(*args)


class _Canceller:
    """Watches `should_stop` in a thread; cancels the task, then forces it after the grace."""

    def __init__(
        self, ray: Any, stream: Any, should_stop: Callable[[], bool] | None, grace: float
    ) -> None:
        self.ray, self.stream, self.grace = ray, stream, grace
        self.should_stop = should_stop or (lambda: False)
        self.requested = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="ray-cancel", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.ended.wait(0.1):
            if self.should_stop():
                break
        if self.ended.is_set():
            return
        self.cancel()
        if not self.ended.wait(self.grace):
            self.ray.cancel(self.stream, force=True)

    def cancel(self) -> None:
        """Ask the task to stop (KeyboardInterrupt in the worker, as Ctrl-C)."""
        if not self.requested.is_set():
            self.requested.set()
            self.ray.cancel(self.stream)

    def done(self) -> None:
        self.ended.set()
        self.thread.join()


class RunMirror:
    """The local run folder of a cluster job, written by the driver from the task's stream."""

    def __init__(self, runs_dir: Path, config: TrainConfig, address: str) -> None:
        self.config = config
        # create_run takes the run's lock and heartbeat (issue 8's lease) for this process.
        self.info = create_run(runs_dir, config, device="ray (waiting for a worker)")
        self.path = self.info.path
        self.executor: dict[str, Any] = {"name": "ray", "address": address}
        # This process drives every job of the runner: a signal meant for this run (stop_run's
        # fast path) would end them all. Without a start time it is never signalled; a stop
        # goes through <run>/STOP, and liveness through the lock, as before.
        update_run_record(self.path, executor=self.executor, start_time=None)
        self.history: list[EpochEnd] = []

    def follow(self, stream: Any, canceller: _Canceller) -> Iterator[Event]:
        """Yield the job's events with local paths; record its end in run.json."""
        status, error = "failed", "the job ended without an end event"
        ended = False
        try:
            for ref in stream:
                message = canceller.ray.get(ref)
                for event in self._apply(message):
                    if isinstance(event, Finished):
                        status, error, ended = event.status, "", True
                    elif isinstance(event, Diverged):
                        status, error, ended = "diverged", "loss is not finite", True
                    yield event
            if not ended and canceller.requested.is_set():
                # Cancelled while it wrote an epoch, the task holds the KeyboardInterrupt until
                # the epoch is sent (stopsignals.DeferredSignals), and its stream may then end
                # cleanly, without an end event of its own: a stop all the same.
                status, error = "stopped", ""
                yield self._stopped()
        except GeneratorExit:
            canceller.cancel()  # the caller stopped iterating: so does the task
            status, error = "stopped", ""
            raise
        except Exception as exc:
            if not canceller.requested.is_set():
                status, error = "failed", _reason(exc)
                raise JobFailed(f"{self.path.name}: {error}") from None
            status, error = "stopped", ""
            yield self._stopped()
        finally:
            canceller.done()
            update_run_record(self.path, status=status, error=error)
            (self.path / STOP_FILE).unlink(missing_ok=True)
            self.info.release()  # the lock goes once the end is recorded

    def _apply(self, message: tuple[Any, ...]) -> list[Event]:
        kind = message[0]
        if kind == "worker":
            self.executor.update(message[1])
            update_run_record(self.path, executor=self.executor)
            return []
        if kind == "epoch":
            return self._epoch(*message[1:])
        event = message[1]
        if isinstance(event, RunStarted):
            device = f"{event.device} on {self.executor.get('hostname', '?')}"
            update_run_record(self.path, device=device, dataset=event.dataset)
            return [replace(event, run_name=self.path.name, run_dir=str(self.path), device=device)]
        if isinstance(event, Finished | Diverged):
            if isinstance(event, Diverged) and event.last_good_checkpoint:
                last = str(self.path / CHECKPOINT_DIR / "last.safetensors")
                event = replace(event, last_good_checkpoint=last)
            return [replace(event, run_dir=str(self.path))]
        return [event]

    def _epoch(
        self, event: EpochEnd, kinds: list[str], payload: bytes, present: list[str]
    ) -> list[Event]:
        """Checkpoints first, then the metrics line: the engine's own order on disk."""
        folder = self.path / CHECKPOINT_DIR
        saved: list[Event] = []
        for kind in kinds:
            name = f"epoch-{event.epoch:04d}" if kind == "epoch" else kind
            atomic_write(folder / f"{name}.safetensors", payload)
            saved.append(CheckpointSaved(str(folder / f"{name}.safetensors"), kind, event.epoch))
        for stale in folder.glob("epoch-*.safetensors"):
            if stale.name not in present:
                stale.unlink(missing_ok=True)
        metrics = event.to_dict()
        del metrics["event"]
        append_metrics(self.path, metrics)
        self.history.append(event)
        return [event, *saved]

    def _stopped(self) -> Finished:
        """The end event of a job stopped by cancel (the task itself could not send one)."""
        best = next((e for e in reversed(self.history) if e.is_best), None)
        return Finished(
            status="stopped",
            epochs_done=self.history[-1].epoch if self.history else 0,
            best_epoch=best.epoch if best else None,
            best_val_accuracy=best.val_accuracy if best else None,
            test_accuracy_at_best=best.test_accuracy if best else None,
            seconds=sum(e.seconds for e in self.history),
            run_dir=str(self.path),
        )


class JobFailed(Exception):
    """A cluster job failed (its worker died, or training raised); run.json has the reason."""


def _reason(exc: BaseException) -> str:
    """One line: the job's own exception when training raised, else Ray's (a dead worker)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not type(cause).__module__.startswith("ray"):
        return f"{type(cause).__name__}: {cause}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"
