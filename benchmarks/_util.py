"""Shared benchmark helpers: run a command in a fresh process, measure wall time and peak RSS, print tables.

Peak RSS comes from ``os.wait4`` on that very child (``ru_maxrss`` of the child and the descendants it waited
for), so measurements taken one after another in the same parent do not leak into each other, unlike
``getrusage(RUSAGE_CHILDREN)`` which reports the maximum over all children so far.

A worker process reports its own numbers (e.g. seconds spent in the measured call, excluding interpreter
start-up and imports) with :func:`emit_result`; the parent gets them back in :attr:`Measurement.result`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

RESULT_MARKER = "@@BENCH-RESULT@@ "
GIB = 1 << 30
T = TypeVar("T")


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
    numeric = [
        all(_is_number(row[i]) or row[i] == "-" for row in rows) and any(_is_number(row[i]) for row in rows)
        for i in range(len(headers))
    ]

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


# ------------------------------------------------------------------------- helpers added for bench_extract/convert


def best_of(runs: Sequence[Measurement], key: str | None = "seconds") -> Measurement:
    """The fastest run (smallest ``result[key]``, or wall time when ``key`` is None), with its peak RSS replaced
    by the largest seen in ``runs``."""
    if not runs:
        raise ValueError("no runs")
    best = min(runs, key=lambda m: m.wall_seconds if key is None else m.result[key])
    return dataclasses.replace(best, peak_rss_bytes=max(m.peak_rss_bytes for m in runs))


def paired(first: Callable[[], float], second: Callable[[], float], pairs: int) -> tuple[list[float], list[float]]:
    """Times of ``first`` and ``second`` measured alternately (A B A B …, ``pairs`` times each), so that a change
    of machine load hits both alike."""
    a, b = [], []
    for _ in range(pairs):
        a.append(first())
        b.append(second())
    return a, b


def checkout(revision: str, repo: Path, dest: Path) -> Path:
    """The files of git ``revision`` of ``repo``, written to the new folder ``dest`` (a baseline to run side by
    side with the working tree)."""
    dest.mkdir()
    archive = subprocess.run(["git", "archive", revision], cwd=repo, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def print_paired_summary(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], keys: Sequence[tuple[str, str]], baseline: str
) -> None:
    """For each ``(key, unit)``: min / median of sides A (``baseline``) and B (the working tree) and B ÷ A."""
    print(f"\nA = {baseline}, B = working tree; min / median")
    width = max(len(unit) for _, unit in keys)
    for key, unit in keys:
        a, b = ([float(r[key]) for r in runs[side]] for side in ("A", "B"))
        med_a, med_b = statistics.median(a), statistics.median(b)
        print(
            f"  {unit:{width}}: A {min(a):.2f} / {med_a:.2f}, B {min(b):.2f} / {med_b:.2f}; "
            f"B ÷ A {min(b) / min(a):.2f} / {med_b / med_a:.2f}"
        )


def min_median(times: Sequence[float]) -> str:
    """``min / median`` of times, seconds."""
    return f"{min(times):.3f} / {statistics.median(times):.3f}"


def dir_size(path: str | os.PathLike[str]) -> int:
    """Total size in bytes of the regular files under ``path`` (0 when it does not exist)."""
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def load_average() -> str:
    """The 1/5/15-minute load averages, e.g. ``"0.52 0.61 0.80"`` (``"n/a"`` where unsupported)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_summary() -> str:
    """One line describing where the numbers come from: date, CPUs, memory, Python, load average."""
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
        mem = f", {human_bytes(kib * 1024)} RAM"
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"{now}; {platform.node() or 'host'}: {os.cpu_count()} CPUs{mem}, Python {platform.python_version()}, "
        f"load average {load_average()}"
    )


def verdict(ok: bool | None) -> str:
    """``pass`` / ``FAIL`` / ``-`` (no target) for a results table."""
    return "-" if ok is None else ("pass" if ok else "FAIL")


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | str:
    """``a / b`` rounded, or ``"-"`` when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return "-"
    return round(a / b, digits)


def profiled(fn: Callable[[], T], out: str | os.PathLike[str], top: int = 25, strip_dirs: bool = True) -> tuple[T, str]:
    """Call ``fn`` under :mod:`cProfile`; save the stats to ``out`` and return (its value, a text report of the
    ``top`` functions by own time and by cumulative time)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    value = prof.runcall(fn)
    prof.dump_stats(str(out))
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    if strip_dirs:
        stats.strip_dirs()
    buf.write(f"--- top {top} by own time (tottime) ---\n")
    stats.sort_stats("tottime").print_stats(top)
    buf.write(f"--- top {top} by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top)
    return value, buf.getvalue()


def py_spy_command(argv: Sequence[str], raw_out: str | os.PathLike[str], rate: int = 100) -> list[str] | None:
    """``argv`` wrapped in ``py-spy record`` writing collapsed stacks to ``raw_out``; None without py-spy."""
    import shutil

    exe = shutil.which("py-spy")
    if exe is None:
        return None
    return [exe, "record", "--format", "raw", "--rate", str(rate), "--nonblocking", "-o", str(raw_out), "--", *argv]


def py_spy_summary(raw: str | os.PathLike[str], top: int = 20, package: str = "idtrack_core", rate: int = 100) -> str:
    """A text report of py-spy collapsed stacks (``--format raw``): the ``top`` functions of ``package`` by
    inclusive time, all functions by own time, and the hottest source lines, as shares of all samples (seconds
    assume ``rate`` samples per second, as given to :func:`py_spy_command`)."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    own_lines: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    total = 0
    with open(raw) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            for key in {_frame_function(fr) for fr in frames}:
                inclusive[key] += n
            own[_frame_function(frames[-1])] += n
            own_lines[_frame_line(frames[-1])] += n
            mine = [fr for fr in frames if package in fr]
            if mine:
                innermost[_frame_line(mine[-1])] += n
    if not total:
        return "no samples\n"

    def block(title: str, counts: Counter[str], keep: Callable[[str], bool] = lambda k: True) -> str:
        rows = [(k, n) for k, n in counts.most_common() if keep(k)][:top]
        body = "\n".join(f"  {100 * n / total:5.1f}%  {n / rate_hz:7.1f}s  {k}" for k, n in rows)
        return f"{title}\n{body}\n"

    rate_hz = float(rate)
    return (
        f"{total} samples (~{total / rate_hz:.0f}s at {rate_hz:.0f} Hz)\n"
        + block(f"inclusive time, {package} functions (file:function):", inclusive, lambda k: package in k)
        + block("own time (file:function):", own)
        + block("own time by line:", own_lines)
        + block(f"time by innermost {package} line (its own time plus the library calls it makes):", innermost)
    )


def _frame_function(frame: str) -> str:
    """``"name (path/file.py:123)"`` → ``"path/file.py:name"`` (site-packages prefix dropped)."""
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{_short_path(path)}:{name}" if name else frame


def _frame_line(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    return f"{_short_path(where.rstrip(')'))} {name}" if name else frame


def _short_path(path: str) -> str:
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    if path.startswith(repo):
        return path[len(repo) :]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    return path
