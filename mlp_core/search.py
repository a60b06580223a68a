"""Searches with Optuna: TPE asks for configs, the median pruner stops the poor ones early.

    spec = SearchSpec(base=preset("default"), space=parse_space({"lr": "1e-3..0.3:log"}),
                      trials=20)
    search = Search(spec, runs_dir=Path("runs"))          # or Search.resume(sweep_dir, ...)
    for event in search.run():
        ...

This process is the one controller: it asks the study for a trial, trains it through an
executor (in this process, or on Ray), reports each epoch's validation accuracy to the trial
and, when the pruner says so, stops the run, which ends with status `pruned` and keeps its
checkpoints. Only the controller touches the study, so it lives in a SQLite file beside the
results (`runs/sweeps/<name>/study.db`) with no concurrent writers; an flock on
`controller.lock` keeps the controller single. The study is created once, before any job starts
(two creators at once trip over Optuna's schema table). `search.json` holds the spec, so a
search whose controller was killed is resumed from its folder and continues the same study: a
trial left RUNNING by the dead controller is marked failed, waiting (enqueued) trials run first.

The lists in the space are enqueued first (`enqueue_trial`), so a grid is tried before TPE
takes over and learns from it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.events import Diverged, EpochEnd, Event, Finished, RunStarted
from mlp_core.executors import Executor, LocalExecutor, update_run_record
from mlp_core.files import atomic_write
from mlp_core.search_space import SearchSpace, config_for
from mlp_core.sweep import _new_sweep_dir

SPEC_FILE = "search.json"
STUDY_FILE = "study.db"
LOCK_FILE = "controller.lock"
SUMMARY_FILE = "summary.json"


class SearchError(Exception):
    """A search cannot start or resume (another controller runs it, a folder is not one)."""


@dataclass
class SearchSpec:
    """What to search: the base config, the space, how many trials, how to prune."""

    base: TrainConfig
    space: SearchSpace
    trials: int = 20
    prune: bool = True
    #: Trials completed before the median pruner prunes anything (Optuna's n_startup_trials).
    prune_after: int = 5
    #: Epochs a trial always trains before it may be pruned (Optuna's n_warmup_steps).
    prune_warmup: int = 0
    sampler_seed: int | None = 0

    def to_json(self) -> str:
        values = asdict(self)
        values["base"] = json.loads(self.base.to_json())
        values["space"] = self.space.to_dict()
        return json.dumps(values, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SearchSpec:
        values = json.loads(text)
        values["base"] = TrainConfig.from_dict(values["base"])
        values["space"] = SearchSpace.from_dict(values["space"])
        return cls(**values)


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchEvent:
    def to_dict(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class SearchStarted(SearchEvent):
    sweep_dir: str
    study_path: str
    trials: int
    trials_done: int
    resumed: bool


@dataclass(frozen=True)
class TrialStarted(SearchEvent):
    number: int
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialEvent(SearchEvent):
    """A training event of one trial's run."""

    number: int
    event: Event

    def to_dict(self) -> dict[str, Any]:
        return {"event": "TrialEvent", "number": self.number, "inner": self.event.to_dict()}


@dataclass(frozen=True)
class TrialFinished(SearchEvent):
    """A trial ended: state is complete, pruned or failed; value its best val accuracy."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    run_name: str
    error: str
    best_number: int | None
    best_value: float | None


@dataclass(frozen=True)
class SearchFinished(SearchEvent):
    sweep_dir: str
    counts: dict[str, int]
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    importances: dict[str, float]
    seconds: float
    stopped: bool


# -- the controller ---------------------------------------------------------------------------


@dataclass
class _Trial:
    """What the controller keeps of the trial it is running."""

    trial: Any
    number: int
    params: dict[str, Any]
    prune: bool = False
    run_dir: str = ""
    run_name: str = ""
    best: EpochEnd | None = None
    epochs: list[EpochEnd] = field(default_factory=list)


class Search:
    """Run a search's remaining trials as events; see the module docstring."""

    def __init__(
        self,
        spec: SearchSpec,
        *,
        runs_dir: Path,
        sweep_dir: Path | None = None,
        name: str | None = None,
        dataset: Any = None,
        data_dir: Path | None = None,
        executor: Executor | None = None,
        progress_interval: float = 0.25,
    ) -> None:
        import optuna

        self.optuna = optuna
        self.spec = spec
        self.runs_dir = Path(runs_dir)
        self.resumed = sweep_dir is not None
        self.sweep_dir = sweep_dir or _new_sweep_dir(self.runs_dir, name or _default_name(spec))
        self._lock_fd = _take_controller_lock(self.sweep_dir)
        self.dataset, self.data_dir = dataset, data_dir
        self.executor = executor or LocalExecutor()
        self.progress_interval = progress_interval
        self._stop = threading.Event()
        self._study_lock = threading.Lock()
        if not self.resumed:
            atomic_write(self.sweep_dir / SPEC_FILE, spec.to_json().encode())
        self.study = self._open_study()

    @classmethod
    def resume(cls, sweep_dir: Path, *, trials: int | None = None, **options: Any) -> Search:
        """Continue the search in `sweep_dir` (its spec from search.json; more trials if given)."""
        try:
            spec = SearchSpec.from_json((Path(sweep_dir) / SPEC_FILE).read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SearchError(f"{sweep_dir}: not a search folder ({exc})") from None
        if trials is not None:
            spec.trials = trials
            atomic_write(Path(sweep_dir) / SPEC_FILE, spec.to_json().encode())
        return cls(spec, runs_dir=Path(sweep_dir).parent.parent, sweep_dir=Path(sweep_dir),
                   **options)

    def _open_study(self) -> Any:
        optuna = self.optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = (
            optuna.pruners.MedianPruner(
                n_startup_trials=self.spec.prune_after, n_warmup_steps=self.spec.prune_warmup
            )
            if self.spec.prune
            else optuna.pruners.NopPruner()
        )
        study = optuna.create_study(
            storage=f"sqlite:///{self.sweep_dir / STUDY_FILE}",
            study_name=self.sweep_dir.name,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=self.spec.sampler_seed),
            pruner=pruner,
            load_if_exists=self.resumed,
        )
        running = optuna.trial.TrialState.RUNNING
        for stale in study.get_trials(deepcopy=False, states=(running,)):
            study._storage.set_trial_user_attr(stale._trial_id, "error", "controller died")
            study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
        if not self.resumed:
            for params in self.spec.space.grid()[: self.spec.trials]:
                study.enqueue_trial(params)
        return study

    def stop(self) -> None:
        """Stop the running trials after their batch (they end failed: stopped) and ask no more."""
        self._stop.set()

    def close(self) -> None:
        """Release the controller lock (the executor is the caller's to close)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def trials_done(self) -> int:
        finished = [t for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()]
        return len(finished)

    def run(self) -> Iterator[SearchEvent]:
        """Train trials until the spec's count is reached; closing the generator stops it."""
        started = time.perf_counter()
        self._write_results()
        yield SearchStarted(
            str(self.sweep_dir), str(self.sweep_dir / STUDY_FILE), self.spec.trials,
            self.trials_done(), self.resumed,
        )
        from mlp_core.search_runner import run_slots

        completed = False
        try:
            yield from run_slots(self, self.executor.slots())
            completed = True
        finally:
            if not completed:
                self.stop()
            self._write_results()
        yield self._finished(time.perf_counter() - started)

    # -- one trial (called from the slot threads) ---------------------------------------------

    def _ask(self) -> _Trial | None:
        """The next trial, or None when the count is reached or the search is stopping."""
        with self._study_lock:
            if self._stop.is_set():
                return None
            waiting = self.optuna.trial.TrialState.WAITING
            asked = [t for t in self.study.get_trials(deepcopy=False) if t.state != waiting]
            if len(asked) >= self.spec.trials + self._stale():
                return None
            trial = self.study.ask(self._distributions())
        self._write_results()  # the table shows it running
        return _Trial(trial, trial.number, dict(trial.params))

    def _stale(self) -> int:
        """Trials failed because a controller died: they do not count against the total."""
        return sum(t.user_attrs.get("error") == "controller died"
                   for t in self.study.get_trials(deepcopy=False))

    def _distributions(self) -> dict[str, Any]:
        dists = self.optuna.distributions
        made: dict[str, Any] = {}
        for name, p in self.spec.space.params.items():
            if p.kind == "choice":
                made[name] = dists.CategoricalDistribution(list(p.choices))
            elif p.kind == "int":
                made[name] = dists.IntDistribution(int(p.low), int(p.high), log=p.log)
            else:
                made[name] = dists.FloatDistribution(p.low, p.high, log=p.log)
        return made

    def _train(self, current: _Trial) -> Iterator[SearchEvent]:
        """Train one trial's config, reporting every epoch; tell the study how it ended."""
        yield TrialStarted(current.number, current.params)
        config = config_for(self.spec.base, self.spec.space, current.params)
        state, error = "failed", ""
        try:
            events = self.executor.run(
                config,
                runs_dir=self.runs_dir,
                dataset=self.dataset,
                data_dir=self.data_dir,
                should_stop=lambda: current.prune or self._stop.is_set(),
                progress_interval=self.progress_interval,
            )
            for event in events:
                self._observe(current, event)
                yield TrialEvent(current.number, event)
                if isinstance(event, Finished):
                    state = _end_state(event, current, self._stop.is_set())
                    error = "stopped" if state == "failed" else ""
                elif isinstance(event, Diverged):
                    state, error = "failed", event.reason
        except Exception as exc:
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        yield self._tell(current, state, error)

    def _observe(self, current: _Trial, event: Event) -> None:
        if isinstance(event, RunStarted):
            current.run_dir, current.run_name = event.run_dir, event.run_name
            with self._study_lock:
                current.trial.set_user_attr("run", event.run_name)
            self._write_results()  # a reader (the app's queue view) can follow the trial's run
        elif isinstance(event, EpochEnd):
            current.epochs.append(event)
            if current.best is None or _score(event) > _score(current.best):
                current.best = event
            with self._study_lock:
                current.trial.report(_score(event), event.epoch)
                current.prune = current.prune or current.trial.should_prune()

    def _tell(self, current: _Trial, state: str, error: str) -> TrialFinished:
        states = self.optuna.trial.TrialState
        best = current.best
        value = _score(best) if best is not None else None
        with self._study_lock:
            trial = current.trial
            if best is not None:
                trial.set_user_attr("test_accuracy_at_best", best.test_accuracy)
            trial.set_user_attr("epochs", len(current.epochs))
            trial.set_user_attr("seconds", sum(e.seconds for e in current.epochs))
            if error:
                trial.set_user_attr("error", error)
            if state == "complete" and value is not None:
                self.study.tell(trial, value)
            elif state == "pruned":
                self.study.tell(trial, state=states.PRUNED)
            else:
                state = "failed"
                self.study.tell(trial, state=states.FAIL)
            best_trial = _best_trial(self.study)
        if current.run_dir and state == "pruned":
            update_run_record(Path(current.run_dir), status="pruned", error="")
        self._write_results()
        return TrialFinished(
            current.number, state, current.params, value, current.run_name, error,
            best_trial.number if best_trial else None, best_trial.value if best_trial else None,
        )

    # -- results ------------------------------------------------------------------------------

    def _write_results(self) -> None:
        from mlp_core.search_results import write_results

        with self._study_lock:
            write_results(self.study, self.spec, self.sweep_dir)

    def _finished(self, seconds: float) -> SearchFinished:
        from mlp_core.search_results import importances, state_counts

        best = _best_trial(self.study)
        finished = SearchFinished(
            str(self.sweep_dir), state_counts(self.study),
            best.number if best else None, best.value if best else None,
            dict(best.params) if best else {}, importances(self.study),
            seconds, self._stop.is_set(),
        )
        # For readers that do not open the study (the app's queue view): the end in one file.
        atomic_write(self.sweep_dir / SUMMARY_FILE, json.dumps(finished.to_dict()).encode())
        return finished


def _score(event: EpochEnd) -> float:
    """Validation accuracy, or minus the train loss when the run has no validation split."""
    return event.val_accuracy if event.val_accuracy is not None else -event.train_loss


def _end_state(event: Finished, current: _Trial, stopping: bool) -> str:
    if event.status == "finished":
        return "complete"
    if current.prune and not stopping:
        return "pruned"
    return "failed"  # stopped by the user: the trial did not finish


def _best_trial(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _default_name(spec: SearchSpec) -> str:
    return "search-" + "-".join(list(spec.space.params)[:4])


def _take_controller_lock(sweep_dir: Path) -> int:
    """flock controller.lock: one controller per search, freed by the kernel on any death."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SearchError(f"{sweep_dir}: another controller is running this search") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
