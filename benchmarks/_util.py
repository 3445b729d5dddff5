"""Shared benchmark helpers: run a command in a fresh process, measure wall time and peak RSS, print tables.

Peak RSS comes from ``os.wait4`` on that very child (``ru_maxrss`` of the child and the descendants it waited
for), so measurements taken one after another in the same parent do not leak into each other, unlike
``getrusage(RUSAGE_CHILDREN)`` which reports the maximum over all children so far.

A worker process reports its own numbers (e.g. seconds spent in the measured call, excluding interpreter
start-up and imports) with :func:`emit_result`; the parent gets them back in :attr:`Measurement.result`.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RESULT_MARKER = "@@BENCH-RESULT@@ "


@dataclass(frozen=True)
class Measurement:
    """One measured child process.

    Attributes
    ----------
    argv
        The command that ran.
    wall_seconds
        Wall time from spawn to exit (includes interpreter start-up and imports).
    peak_rss_bytes
        Peak resident set size of the child (and its waited-for descendants), bytes.
    returncode
        Exit status (negative: killed by that signal).
    stdout, stderr
        Captured output (the result line is removed from ``stdout``).
    result
        The JSON object the worker passed to :func:`emit_result`, or ``{}``.
    timed_out
        True when the child was killed after ``timeout`` seconds.
    """

    argv: tuple[str, ...]
    wall_seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    result: Mapping[str, Any] = field(default_factory=dict)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def check(self) -> Measurement:
        """Raise ``RuntimeError`` with the child's stderr tail when it failed; return self otherwise."""
        if not self.ok:
            tail = "\n".join(self.stderr.splitlines()[-30:])
            why = "timed out" if self.timed_out else f"exited with {self.returncode}"
            raise RuntimeError(f"{' '.join(self.argv)} {why}:\n{tail}")
        return self


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
) -> Measurement:
    """Run ``argv`` in a fresh process; return its wall time, peak RSS and output.

    The child runs in its own session so that a timeout kills its whole process group.
    """
    argv = tuple(str(a) for a in argv)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result, stdout = parse_result(stdout)
    return Measurement(
        argv=argv,
        wall_seconds=wall,
        peak_rss_bytes=maxrss_bytes(usage.ru_maxrss),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        result=result,
        timed_out=timed_out.is_set(),
    )


def run_python(args: Sequence[str], **kwargs: Any) -> Measurement:
    """:func:`run_measured` with the current interpreter (``args`` e.g. ``["-m", "benchmarks.x", ...]``)."""
    return run_measured([sys.executable, *args], **kwargs)


def maxrss_bytes(ru_maxrss: int) -> int:
    """``ru_maxrss`` is KiB on Linux, bytes on macOS."""
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024


def peak_rss_self() -> int:
    """Peak RSS of the current process so far, bytes."""
    return maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def emit_result(result: Mapping[str, Any]) -> None:
    """In a worker: print the result (JSON) for the parent, on one marked line."""
    print(RESULT_MARKER + json.dumps(result, default=str), flush=True)


def parse_result(stdout: str) -> tuple[dict[str, Any], str]:
    """Split a worker's stdout into its last result object and the remaining text."""
    result: dict[str, Any] = {}
    rest = []
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER) :])
        else:
            rest.append(line)
    return result, "\n".join(rest)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A Markdown table with right-aligned numbers."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True))
            + " |"
        )

    sep = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric, strict=True))
        + "|"
    )
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
