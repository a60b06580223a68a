"""`--ray ADDRESS`: the option that sends `sweep` and `search` jobs to a Ray cluster.

Shared by both commands so they name, parse and report the executor the same way. Ray is
imported only when the option is given; without it installed the command fails with one line
naming the extra (`pip install 'mnist-tui[ray]'`).
"""

from __future__ import annotations

import argparse
from typing import Any

from mlp_core.executors import ExecutorError

__all__ = ["ExecutorError", "add_ray_option", "describe_executor", "executor_from_args", "ray_spec"]


def add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="train the jobs as Ray tasks: local (a throwaway local instance), auto (the "
        "cluster this machine belongs to) or HOST:PORT of a cluster's head; the run folders "
        "are written here (needs: pip install 'mnist-tui[ray]')",
    )


def executor_from_args(args: argparse.Namespace) -> Any:
    """The executor the options ask for: None (the command's own default) or a RayExecutor.

    Raises mlp_core.executors.ExecutorError with a one-line reason.
    """
    address = getattr(args, "ray", None)
    if not address:
        return None
    from mlp_core.executors import make_executor

    return make_executor(f"ray:{address}")


def ray_spec(args: argparse.Namespace) -> str | None:
    """``ray:ADDRESS`` for the queue runner (which connects), or None; checks that Ray is
    installed here, so a missing extra is the command's error and not the runner's."""
    address = getattr(args, "ray", None)
    if not address:
        return None
    from mlp_core.executors import import_ray, probe_address

    import_ray()
    probe_address(address)
    return f"ray:{address}"


def describe_executor(executor: Any, line: str) -> str:
    """The command's first line with where the jobs run in its last part, when on Ray:
    ``sweep: 4 runs (...), preset default, on Ray at local (2 jobs side by side)``.
    executor: a connected executor (its slots are known), a ``ray:ADDRESS`` spec, or None."""
    if executor is None:
        return line
    if isinstance(executor, str):
        where = f"on Ray at {executor.partition(':')[2]} (jobs placed by Ray)"
    else:
        slots = executor.slots()
        plural = "s" if slots != 1 else ""
        where = f"on Ray at {executor.address} ({slots} job{plural} side by side)"
    return line.rsplit(", ", 1)[0] + ", " + where
