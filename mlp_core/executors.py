"""Where a job trains: the executor interface, the local one, and `make_executor`.

An executor takes a config and yields the same events as `train()` while the run's folder fills
in the local runs folder (run.json, metrics.jsonl, checkpoints), wherever the training itself
happens. The queue runner and the search controller only ever talk to this interface, so a job
on a Ray cluster and a job on this machine look the same to every front-end.

    executor = make_executor("local")          # or "ray:auto", "ray:local", "ray:HOST:6379"
    for event in executor.run(config, runs_dir=Path("runs"), should_stop=lambda: False):
        ...
    executor.close()

`make_executor` imports Ray only for a Ray executor; without the extra installed it raises one
`ExecutorError` that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # torch loads only when a job runs: `--help` stays fast
    from data.mnist import Dataset
    from mlp_core.config import TrainConfig
    from mlp_core.events import Event

RAY_EXTRA = "pip install 'mnist-tui[ray]'"


class ExecutorError(Exception):
    """An executor cannot be made or reached (Ray missing, no cluster at the address)."""


class Executor(Protocol):
    """Trains jobs somewhere and mirrors each run into the local runs folder."""

    #: "local" or "ray"
    name: str
    #: Where jobs run, as shown to the user ("this machine", a Ray address).
    address: str

    def slots(self) -> int:
        """How many jobs this executor trains side by side."""
        ...

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
        """Train `config`; yields train()'s events (RunStarted first, one end event last).

        should_stop is polled a few times a second; once True the job stops after its batch
        and ends `stopped`, its checkpoints whole. A failure of the job raises (the run folder
        already says `failed` with the reason).
        """
        ...

    def close(self) -> None:
        """Release what the executor holds (a local Ray instance it started is shut down)."""
        ...


class LocalExecutor:
    """Jobs train in this process, one at a time per device (the engine's `train()` itself).

    Issue 8's queue runner launches one run process per device instead; this executor is what
    the in-process sweep and the search controller use when no cluster is asked for.
    """

    name = "local"
    address = "this machine"

    def __init__(self, slots: int = 1) -> None:
        self._slots = max(1, slots)

    def slots(self) -> int:
        return self._slots

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
        from data.mnist import load_dataset
        from mlp_core.trainer import train

        data = dataset if dataset is not None else load_dataset(data_dir)
        return train(
            config,
            data,
            runs_dir=runs_dir,
            should_stop=should_stop,
            progress_interval=progress_interval,
        )

    def close(self) -> None:
        return None


def import_ray() -> Any:
    """The `ray` module, or ExecutorError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def probe_address(address: str, timeout: float = 3.0) -> None:
    """Refuse at once a HOST:PORT (or ray://HOST:PORT) nobody listens on: `ray.init` would
    retry for minutes. "local" and "auto" are left to Ray (auto fails fast without a cluster)."""
    import socket

    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--ray {address}: expected local, auto or HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach a Ray cluster at {address}: {exc}") from None


def make_executor(spec: str | None, *, slots: int = 1, **options: Any) -> Executor:
    """`None` or "local": a LocalExecutor; "ray:ADDRESS" (auto, local, HOST:PORT, ray://...):
    a RayExecutor connected to that cluster (options go to it)."""
    if spec in (None, "", "local"):
        return LocalExecutor(slots)
    kind, _, address = spec.partition(":")
    if kind != "ray" or not address:
        raise ExecutorError(f"unknown executor {spec!r}; expected local or ray:ADDRESS")
    import_ray()
    probe_address(address)
    from mlp_core.ray_executor import RayExecutor

    return RayExecutor(address, **options)


def update_run_record(run_path: Path, **values: Any) -> None:
    """Change fields of run.json (status, error, `executor`...), keeping every other key.

    Issue 8's `runs.update_run_json` (a read-modify-write under the run's meta lock).
    """
    from mlp_core.runs import update_run_json

    update_run_json(Path(run_path), **values)
