"""Row ranges of a batch run on separate threads: how a large vector env uses more than one core.

Every compiled kernel releases the GIL (``compiled.kernel``), and a row's step reads and writes
that row alone (its own state, parameters and random stream), so contiguous ranges of rows can
step on separate threads and give, bit for bit, what one call over the whole batch gives.

Handing work to another thread and back costs ~100 µs on the 2-core development VM (an empty
task's round trip through the pool: 85-100 µs; a sleeping thread wakes slowly), so a range must
carry more work than that: ``MIN_ROWS_PER_THREAD`` rows of a step (~2 µs a row; measured: 256
rows step in 370 µs on one thread, 463 on two; 512 rows in 790 against 700), and far more of
lighter work (``min_rows``; the vector env reads masks and copies observations on the step's
threads, within the same handoff).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MIN_ROWS_PER_THREAD = 256


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def splits(batch: int, threads: int, min_rows: int = MIN_ROWS_PER_THREAD) -> bool:
    """Whether a batch of ``batch`` rows runs on more than one thread, in ranges of at least
    ``min_rows`` (checked before building ranges: a small batch's every step should not pay for them)."""
    return threads > 1 and batch >= 2 * min_rows


def row_ranges(batch: int, threads: int, min_rows: int = MIN_ROWS_PER_THREAD) -> list[tuple[int, int]]:
    """``batch`` rows cut into at most ``threads`` contiguous (start, stop) ranges of at least
    ``min_rows`` rows each (one range for a small batch)."""
    count = max(1, min(threads, batch // min_rows))
    bounds = [batch * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _pool(workers: int) -> ThreadPoolExecutor:
    """This process's pool of ``workers`` threads: a forked child gets its own (the parent's
    threads do not exist there, and work sent to them would wait forever)."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="supportgym-rows")
    return _POOLS[key]


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def run_ranges(call: Callable[[int, int], None], ranges: list[tuple[int, int]]) -> None:
    """``call(start, stop)`` for every range: the first on this thread, the others on a pool;
    returns when all are done, raising the first error any of them raised."""
    if len(ranges) == 1:
        call(*ranges[0])
        return
    futures = [_pool(len(ranges) - 1).submit(call, start, stop) for start, stop in ranges[1:]]
    try:
        call(*ranges[0])
    finally:
        for future in futures:
            future.exception()  # wait for every range, whatever happened here
    for future in futures:
        future.result()
