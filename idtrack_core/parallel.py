"""Run independent pieces of work in worker processes, when there is more than one CPU to run them on; give freed
memory back between big steps."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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
    return list(parallel_iter(fn, items, limit))


def parallel_iter(fn: Callable[[T], R], items: Sequence[T], limit: int | None = None) -> Iterator[R]:
    """:func:`parallel_map`, yielding each result (in order) as soon as it and those before it are done (to
    report progress while the others run)."""
    workers = worker_count(len(items), limit)
    if workers == 1:
        yield from (fn(item) for item in items)
        return
    log.info("running %d pieces of work in %d processes", len(items), workers)
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(fn, items)


_FORKED_CALLS: dict[int, tuple[Callable[..., object], tuple[object, ...]]] = {}


class Background:
    """A call running in a forked child process (see :func:`in_background`), or already made."""

    def __init__(self, future: Future | None, value: object = None, pool: ProcessPoolExecutor | None = None) -> None:
        self._future, self._value, self._pool = future, value, pool

    def result(self) -> object:
        """The call's value (waiting for the child); its exception is raised here."""
        if self._future is None:
            return self._value
        try:
            return self._future.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown()


def in_background(fn: Callable[..., R], *args: object) -> Background:
    """Start ``fn(*args)`` in a forked child process, which inherits this process's memory (the arguments are not
    pickled; the result comes back pickled), when a second CPU is free and ``fork`` exists; otherwise call it now.
    For work on large in-memory inputs with a compact result, while this process does something else.

    A CPU counts as free when :func:`idle_cpu` says so: on a busy machine the two processes would only take turns,
    and the fork would cost more than it saves."""
    if worker_count(2) == 1 or "fork" not in multiprocessing.get_all_start_methods() or not idle_cpu():
        log.debug("%s runs in this process (no free CPU or no fork)", getattr(fn, "__qualname__", fn))
        return Background(None, fn(*args))
    log.debug("%s runs in a forked child", getattr(fn, "__qualname__", fn))
    key = max(_FORKED_CALLS, default=-1) + 1
    _FORKED_CALLS[key] = (fn, args)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        return Background(pool.submit(_forked_call, key), pool=pool)  # forks here: the child has the call
    finally:
        del _FORKED_CALLS[key]


#: Samples of the runnable-task count taken by :func:`idle_cpu`, and the pause between them (seconds).
_RUNNABLE_SAMPLES, _SAMPLE_PAUSE_S = 5, 0.002


def idle_cpu() -> bool:
    """Whether a CPU is free now: fewer tasks ready to run than CPUs, this one included.

    On Linux, the median of a few samples (over ~10 ms) of the kernel's count of runnable tasks
    (``/proc/loadavg``): what the machine does now, not the 1-minute load average, which still counts a parallel
    step that ended seconds ago (after extracting releases on every CPU, it stays above 1 for a minute on an
    otherwise idle machine). Elsewhere, that load average."""
    samples = _runnable_samples()
    if samples:
        return sorted(samples)[len(samples) // 2] < cpus()
    try:
        return os.getloadavg()[0] + 1 <= cpus()
    except OSError:  # no load average on this system
        return True


def _runnable_samples() -> list[int]:
    """Runnable tasks on the machine (this one included), sampled :data:`_RUNNABLE_SAMPLES` times; empty when the
    system has no ``/proc/loadavg``."""
    samples = []
    for i in range(_RUNNABLE_SAMPLES):
        try:
            with open("/proc/loadavg") as f:
                samples.append(int(f.read().split()[3].split("/")[0]))
        except (OSError, IndexError, ValueError):
            return []
        if i + 1 < _RUNNABLE_SAMPLES:
            time.sleep(_SAMPLE_PAUSE_S)
    return samples


def _forked_call(key: int) -> object:
    fn, args = _FORKED_CALLS[key]
    return fn(*args)


def release_memory() -> None:
    """Give memory freed by earlier steps back to the operating system before a big step, so that the process's
    peak is that step's, not the sum: Arrow's pool returns its unused pages, and the C allocator trims its heap
    (glibc ``malloc_trim``; a no-op elsewhere)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)
