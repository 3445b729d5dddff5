"""Run independent pieces of work in worker processes, when there is more than one CPU to run them on."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(items: int, limit: int | None = None) -> int:
    """How many worker processes to use for ``items`` pieces of work: one per CPU (at most ``limit``), and none
    (work in this process) for a single piece, a single CPU, or inside a daemonic process, which may not start
    children (e.g. a Celery worker)."""
    if items < 2 or multiprocessing.current_process().daemon:
        return 1
    return max(1, min(items, cpus(), limit or items))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], limit: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, computed in worker processes when :func:`worker_count` allows.

    ``fn`` and the items go to the workers by pickling (a bound method takes its object along); results come back
    in order, and the first exception is raised here.
    """
    workers = worker_count(len(items), limit)
    if workers == 1:
        return [fn(item) for item in items]
    log.info("running %d pieces of work in %d processes", len(items), workers)
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
