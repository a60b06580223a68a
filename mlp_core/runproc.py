"""Runs as processes: spawn a detached run, judge its liveness, stop it, follow its folder.

    launch_run(runs_dir, config)       -> the run folder, once its process holds <run>/lock
    judge_status(run_path, raw)        -> running / interrupted / lost / the recorded end
    stop_run(run_path)                 -> STOP file, then SIGTERM, then SIGKILL
    RunFollower(run_path).poll()       -> the run's events, replayed then live (follow.py)

What a run's folder says while it trains (one writer each, the run process):

    lock           flock held for the process's whole life: the kernel frees it on any death
    run.json       status, config, pid, hostname, boot id, start time, heartbeat (every 2 s)
    metrics.jsonl  one line per epoch, appended and fsynced
    progress.json  the latest Progress event, rewritten whole at most 4 times a second
    stdout.log     the process's output; STOP (written by `stop_run`) asks it to stop

UI-free (no textual, no tui): the CLI, the app and the queue runner all use only this.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from mlp_core.config import TrainConfig
from mlp_core.events import Event, Progress, RunStarted
from mlp_core.follow import RunFollower
from mlp_core.liveness import (
    judge_status,
    on_this_machine,
    process_start_time,
    read_raw,
    same_process,
)
from mlp_core.runs import RUN_FILE, RunError, update_run_json
from mlp_core.stopsignals import StopOnSignals

__all__ = [
    "LaunchError",
    "RunControl",
    "RunFollower",
    "find_run",
    "judge_status",
    "launch_run",
    "logind_warning",
    "stop_run",
]

STOP_FILE = "STOP"
PROGRESS_FILE = "progress.json"
STDOUT_LOG = "stdout.log"
LAUNCH_DIR = ".launch"
_POLL = 0.05


class LaunchError(Exception):
    """A run could not start (bad config, checkpoint, data set or device): the child's reason,
    one line."""


def one_line(exc: BaseException) -> str:
    """An exception as the single line a user reads (first line of its message)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or 'file'}: {exc.strerror}"
    return text


# -- launching --------------------------------------------------------------------------------


def _project_env() -> dict[str, str]:
    """The child's environment: this checkout first on PYTHONPATH, so `-m mlp_core.run_main`
    imports the same code as the parent (an editable install or a plain checkout)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def spawn_detached(argv: list[str], log: Path) -> int:
    """Start `python -m ...argv` detached: new session (setsid), stdin /dev/null, stdout and
    stderr appended to `log`. The first child forks the real one and exits; we reap it at once
    (an unreaped child is a zombie that kill(pid, 0) still calls alive). Returns the exit status
    of that first child (0 when the fork worked)."""
    with open(log, "ab") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", *argv, "--daemonize"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            env=_project_env(),
        )
    return first.wait(timeout=60)


def launch_run(
    runs_dir: Path,
    config: TrainConfig,
    *,
    data_dir: Path | None = None,
    start: Path | None = None,
    timeout: float = 60.0,
    device_lock: Path | None = None,
    fork: bool = False,
) -> Path:
    """Spawn a detached run process (double fork + setsid, stdin /dev/null, output appended to
    <run>/stdout.log, intermediate child reaped). Blocks until the child has made (or, resuming
    in place, taken) its run folder, holds <run>/lock and wrote run.json; returns the folder.
    A failure before training (config, checkpoint, dataset, device) raises LaunchError with the
    child's reason. `start` is a checkpoint file to resume or fork from; `device_lock` a file the
    run flocks for its whole life (the queue's mark that a device is busy); `fork` makes a new
    run from `start` even where it could resume in place (the app's fork, config unchanged).

    The child answers through a ticket file, `<runs_dir>/.launch/<token>.json`, deleted here.
    """
    tickets = Path(runs_dir) / LAUNCH_DIR
    try:
        tickets.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LaunchError(one_line(exc)) from None
    token = uuid.uuid4().hex
    ticket, log = tickets / f"{token}.json", tickets / f"{token}.log"
    # Absolute paths: the child must not depend on the cwd it inherited.
    argv = ["mlp_core.run_main", "--ticket", str(ticket.absolute())]
    argv += ["--runs-dir", str(Path(runs_dir).absolute()), "--config", config.to_json()]
    options = {"--data-dir": data_dir, "--start": start, "--device-lock": device_lock}
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(Path(value).expanduser().absolute())]
    if fork:
        argv.append("--fork")
    try:
        if spawn_detached(argv, log) != 0:
            raise LaunchError(_last_line(log) or "the run process could not start")
        answer = _await_ticket(ticket, log, timeout)
    finally:
        for path in (ticket, ticket.with_name(ticket.name + ".pid"), log):
            path.unlink(missing_ok=True)
    if "error" in answer:
        raise LaunchError(str(answer["error"]))
    return Path(runs_dir) / Path(answer["run_dir"]).name  # as the caller named the runs folder


def _await_ticket(ticket: Path, log: Path, timeout: float) -> dict[str, Any]:
    pid_file = ticket.with_name(ticket.name + ".pid")
    pid = json.loads(pid_file.read_text())["pid"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ticket.exists():
            return json.loads(ticket.read_text(encoding="utf-8"))
        if process_start_time(pid) is None:  # died without answering
            if ticket.exists():
                continue
            raise LaunchError(_last_line(log) or "the run process exited before it started")
        time.sleep(_POLL)
    _kill(pid, signal.SIGKILL)
    raise LaunchError(f"the run process did not start within {timeout:g} s (killed)")


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


# -- inside the run process -------------------------------------------------------------------


class RunControl:
    """What the process that iterates `train()` adds around it, the same for a detached run
    (run_main) and for `mnist-tui train` in the foreground: the STOP file checked every batch
    (`should_stop`), SIGTERM/SIGHUP asking for the same clean stop, and the progress file.

    Progress is one small file rewritten whole (tmp + rename, no fsync) rather than appended
    lines: a follower wants only the latest, the file never grows, and a progress figure lost
    in a crash costs nothing. The trainer already throttles Progress to 4 a second.
    """

    def __init__(self) -> None:
        self.run_path: Path | None = None
        self._stop_file: Path | None = None
        #: SIGTERM/SIGHUP as a stop request; `received` says which came (for the exit status).
        self.signals = StopOnSignals()
        self.device_lock_fd: int | None = None

    def should_stop(self) -> bool:
        """Polled by train() every batch: one stat() call, nothing else."""
        return self.signals() or (self._stop_file is not None and self._stop_file.exists())

    def install_signals(self) -> None:
        """SIGTERM and SIGHUP (a dropped terminal) stop after the batch; a second one raises
        KeyboardInterrupt, as a second Ctrl-C would."""

        self.signals.__enter__()

    def started(self, event: RunStarted, *, redirect: bool = True) -> None:
        """The run folder exists and is ours: output to its log, a stale STOP removed, the
        RunStarted event recorded in run.json for followers."""
        self.run_path = Path(event.run_dir)
        self._stop_file = self.run_path / STOP_FILE
        self._stop_file.unlink(missing_ok=True)
        if redirect:
            fd = os.open(self.run_path / STDOUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        update_run_json(self.run_path, started=event.to_dict())

    def observe(self, event: Event) -> None:
        if isinstance(event, Progress) and self.run_path is not None:
            _write_quick(self.run_path / PROGRESS_FILE, json.dumps(event.to_dict()))

    def close(self) -> None:
        if self.run_path is not None:
            (self.run_path / PROGRESS_FILE).unlink(missing_ok=True)
            (self.run_path / STOP_FILE).unlink(missing_ok=True)
        if self.device_lock_fd is not None:
            os.close(self.device_lock_fd)
            self.device_lock_fd = None


def _write_quick(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- stopping ---------------------------------------------------------------------------------


def stop_run(run_path: Path, *, grace: float = 10.0, wait: bool = True) -> str:
    """Write <run>/STOP (checked every batch). With wait: wait up to `grace`, then SIGTERM
    (only after checking the pid's start time in /proc), then SIGKILL. A run already dead is
    marked interrupted. Returns the status afterwards.

    A run on another host can only be asked through STOP (signals do not cross hosts).
    """
    run_path = Path(run_path)
    raw = read_raw(run_path)
    if not raw:
        raise RunError(f"{run_path}: not a run folder (no readable {RUN_FILE})")
    status = judge_status(run_path, raw)
    if status != "running":
        if raw.get("status") == "running":  # died without recording it: say so now
            update_run_json(run_path, status="interrupted", error=f"process died ({status})")
            return "interrupted"
        return status
    (run_path / STOP_FILE).write_text(f"stop asked at {time.time():.3f}\n", encoding="utf-8")
    if not wait:
        return "running"
    if _wait_until_ended(run_path, raw, grace):
        return _settled(run_path)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signallable(raw):
            break  # another host, or the pid is no longer that process: no signal
        _kill(raw["pid"], sig)
        if _wait_until_ended(run_path, raw, grace if sig == signal.SIGTERM else 5.0):
            break
    return _settled(run_path)


def _signallable(raw: dict[str, Any]) -> bool:
    """The run's own process, on this machine, and not this one (a run trained in-process)."""
    return on_this_machine(raw) and same_process(raw) and raw["pid"] != os.getpid()


def _wait_until_ended(run_path: Path, raw: dict[str, Any], seconds: float) -> bool:
    """Until the run has recorded its end and its process is gone (so its last files, the
    STOP file's removal included, are done), or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ended = judge_status(run_path, read_raw(run_path)) != "running"
        if ended and not _signallable(raw):
            return True
        time.sleep(_POLL)
    return False


def _settled(run_path: Path) -> str:
    """The status once the run's process is gone (or still running): a death is recorded."""
    raw = read_raw(run_path)
    status = judge_status(run_path, raw)
    if status in ("interrupted", "lost") and raw.get("status") == "running":
        update_run_json(run_path, status="interrupted", error="killed by stop (did not stop)")
        return "interrupted"
    return status


def find_run(runs_dir: Path, name: str | Path) -> Path:
    """A run given by folder or by name in `runs_dir`; RunError naming it when neither."""
    for candidate in (Path(name), Path(runs_dir) / str(name)):
        if (candidate / RUN_FILE).is_file():
            return candidate
    raise RunError(f"{name}: no such run (neither a run folder nor a run in {runs_dir})")


# -- logind -----------------------------------------------------------------------------------

LOGIND_CONFS = (Path("/etc/systemd/logind.conf"), Path("/etc/systemd/logind.conf.d"))
LOGIND_HINT = (
    "note: logind kills your processes at logout (KillUserProcesses=yes); to keep runs alive, "
    "`loginctl enable-linger` and start with `systemd-run --user --scope mnist-tui ...`"
)


def logind_warning(
    *, confs: tuple[Path, ...] = LOGIND_CONFS, loginctl: list[str] | None = None
) -> str | None:
    """A one-line hint when logind kills user processes at logout (KillUserProcesses=yes):
    setsid does not take a run out of the login session's cgroup, logind kills that whole
    scope. Asks `loginctl` first, then reads logind.conf (and its .d drop-ins, last wins)."""
    command = loginctl or ["loginctl", "show-session", "-p", "KillUserProcesses"]  # the manager
    try:
        shown = subprocess.run(command, capture_output=True, text=True, timeout=2).stdout
        value = shown.strip().partition("=")[2].strip().lower()
        if value:
            return LOGIND_HINT if value == "yes" else None
    except (OSError, subprocess.SubprocessError):
        pass
    return LOGIND_HINT if _conf_kills(confs) else None


def _conf_kills(confs: tuple[Path, ...]) -> bool:
    files: list[Path] = []
    for path in confs:
        files += sorted(path.glob("*.conf")) if path.is_dir() else [path]
    kills = False
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.strip().partition("=")
            if key.strip() == "KillUserProcesses":
                kills = value.strip().lower() in ("yes", "true", "1", "on")
    return kills
