"""The Ray backend: episode chunks as Ray tasks, on a local Ray instance or an existing cluster.

A sibling of ``evaluation.play.in_processes``: ``play_agents`` hands it the same chunks, and each
task runs the same ``_play_chunk`` in a Ray worker (one torch thread, environments and agents
cached per worker as in a pool process), so the records, sorted by episode, are identical to the
local backend's. Ray is an optional extra (``pip install -e ".[ray]"``): it is imported here, only
when this backend is used, and nowhere else outside ``sweep.py`` and ``training/trial.py``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Printed when Ray is asked for but not installed.
INSTALL_HINT = 'Ray is not installed: pip install -e ".[ray]"'


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster at ``--address`` cannot be reached; one line says which."""


def import_ray() -> ModuleType:
    """``ray``, or :class:`RayUnavailable` with the command that installs it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(INSTALL_HINT) from None
    return ray


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[int]:
    """Connect to the cluster at ``address``, or start a local Ray instance with ``num_cpus``
    (default: the machine's cores); yields the cluster's CPU count. A local instance is shut down
    at the end; a cluster is only disconnected from. An already initialised Ray is reused as is."""
    ray = import_ray()
    if ray.is_initialized():
        yield int(ray.cluster_resources().get("CPU", 1))
        return
    if address is not None:
        check_reachable(address)
    try:
        ray.init(address=address, num_cpus=None if address else (num_cpus or os.cpu_count() or 1),
                 include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=True)
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayUnavailable(f"cannot connect to {where}: {str(error).splitlines()[0] if str(error) else error!r}") \
            from None
    try:
        yield int(ray.cluster_resources().get("CPU", 1))
    finally:
        ray.shutdown()


def host_and_port(address: str) -> tuple[str, int] | None:
    """The HOST and PORT of an ``--address``; None for ``auto`` and ``ray://`` (Ray resolves those)."""
    if address == "auto" or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailable(f"--address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), auto or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens at: Ray itself would retry for minutes."""
    if (where := host_and_port(address)) is None:
        return
    try:
        socket.create_connection(where, timeout=timeout).close()
    except OSError as error:
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address}: {error.strerror or error}") from None


def _run_one(fn: Callable[[T], R], task: T) -> R:
    """One task in a Ray worker: one torch thread, as in a pool process (same numbers)."""
    from evaluation.play import single_thread_torch

    single_thread_torch()
    return fn(task)


def in_ray_tasks(fn: Callable[[T], R], tasks: list[T], workers: int) -> Iterator[R]:
    """``fn`` over ``tasks`` as Ray tasks of one CPU each, on the Ray that :func:`ray_session`
    connected to; results come in order of completion, like ``in_processes``. ``workers`` is not
    used: the chunks are already cut for it, and the cluster's CPUs set the parallelism."""
    ray = import_ray()
    remote = ray.remote(num_cpus=1, max_retries=2)(_run_one)  # a task lost with its node is rerun
    pending = [remote.remote(fn, task) for task in tasks]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:  # an error or Ctrl-C: do not leave work running on the cluster
            ray.cancel(ref, force=True)
