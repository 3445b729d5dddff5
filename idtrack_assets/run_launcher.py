"""A run launcher for one machine whose runs the daemon's run monitoring can check: a run whose process died
(``kill -9``, out of memory, a reboot) is marked failed instead of staying STARTED forever.

Dagster's :class:`~dagster.DefaultRunLauncher` launches runs through the code server and cannot tell whether a
run's process is still alive, so ``run_monitoring`` in ``dagster.yaml`` has nothing to check. This launcher is the
same launcher plus that check: the process that executes a run records its pid in the run's ``RUN_START`` event; the
run is healthy while that process exists on this machine. It covers runs started from the UI, by sensors and
schedules, and by ``dagster asset materialize``.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie) on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


class LocalRunLauncher(DefaultRunLauncher):
    """:class:`~dagster.DefaultRunLauncher` that reports whether a run's process is alive (see the module)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask this launcher about a run's worker."""
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """RUNNING while the process that started the run exists; FAILED once it is gone."""
        records = self._instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_START).records
        event = records[0].event_log_entry.dagster_event if records else None
        if event is None or not event.pid:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has not recorded its process yet")
        if process_alive(event.pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(event.pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run's process (pid {event.pid}) is gone: it was killed or crashed"
        )
