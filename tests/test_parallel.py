"""Work split over processes gives what the same work gives in this process, in order, errors included."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from idtrack_core.parallel import cpus, idle_cpu, in_background, parallel_map, worker_count


def square_or_fail(n: int) -> int:
    if n == 13:
        raise ValueError("unlucky 13")
    return n * n


def pid_and_sum(values: list[int]) -> tuple[int, int]:
    return os.getpid(), sum(values)


def test_parallel_map_keeps_order_and_values():
    items = list(range(12))
    assert parallel_map(square_or_fail, items) == [n * n for n in items]
    assert parallel_map(square_or_fail, [5]) == [25]  # one piece: no worker process


def test_parallel_map_raises_the_workers_error():
    with pytest.raises(ValueError, match="unlucky 13"):
        parallel_map(square_or_fail, [1, 13, 2])


def test_worker_count():
    assert worker_count(1) == 1
    assert 1 <= worker_count(100) <= os.cpu_count()
    assert worker_count(100, limit=1) == 1


def test_in_background_returns_the_value_of_the_call():
    big = list(range(100_000))  # inherited by a forked child, not pickled to it
    pid, total = in_background(pid_and_sum, big).result()
    assert total == sum(big)
    assert isinstance(pid, int)
    with pytest.raises(ValueError, match="unlucky 13"):
        in_background(square_or_fail, 13).result()


def spin() -> None:
    while True:
        pass


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="the runnable-task count is Linux's")
def test_no_cpu_is_idle_while_every_cpu_spins(monkeypatch):
    """The decision to fork reads what runs now: with one spinning process per CPU, none is free, even when the
    1-minute load average still says the machine was quiet (as it does for many seconds after they start)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    spinners = [multiprocessing.get_context("fork").Process(target=spin, daemon=True) for _ in range(cpus())]
    for p in spinners:
        p.start()
    try:
        time.sleep(0.3)
        assert not idle_cpu()
    finally:
        for p in spinners:
            p.kill()
            p.join(10)
