"""Progress of the long phases (extract, snapshot, index build, matching, merge): a bar, log lines, or nothing.

:func:`progress` wraps a phase. What it shows follows one process-wide setting (:func:`configure`):

- ``"bar"``: a tqdm bar on stderr, from 2 s into the phase on (shorter phases show nothing);
- ``"log"``: plain lines on the ``idtrack_core.progress`` logger at INFO — one when the phase has run 2 s, one every
  :data:`LOG_EVERY_S` seconds while it runs, one at the end (again only for phases longer than 2 s);
- ``"off"``: nothing (``--quiet``);
- ``"auto"`` (the default): ``"bar"`` when stderr is a terminal, else ``"log"``.

A phase without a count (building the snapshot or the index) still shows that it is alive: its bar's clock and
its log lines are driven by a timer thread. The command line sets the mode (``--quiet`` → ``"off"``) and shows the
INFO lines of ``idtrack_core.progress``; a library user sees the log lines once logging shows INFO for that logger.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Mode = Literal["auto", "bar", "log", "off"]
MODES = ("auto", "bar", "log", "off")
SHOW_AFTER_S = 2.0
"""Phases shorter than this show nothing."""
LOG_EVERY_S = 10.0
"""Seconds between two log lines of a running phase."""
TICK_S = 0.5

log = logging.getLogger("idtrack_core.progress")
_mode: Mode = "auto"


def configure(mode: Mode) -> None:
    """Set how progress is shown from now on in this process (see the module docstring).

    Raises
    ------
    ValueError
        ``mode`` is not one of :data:`MODES`.
    """
    global _mode
    if mode not in MODES:
        raise ValueError(f"progress mode must be one of {', '.join(MODES)}, not {mode!r}")
    _mode = mode


def current_mode() -> Literal["bar", "log", "off"]:
    """The mode in force, with ``"auto"`` resolved against stderr."""
    if _mode != "auto":
        return _mode
    isatty = getattr(sys.stderr, "isatty", None)
    return "bar" if isatty is not None and isatty() else "log"


class Progress:
    """A running phase: call :meth:`update` as work is done (thread-safe)."""

    def __init__(self, desc: str, total: int | None, unit: str, mode: Literal["bar", "log", "off"]) -> None:
        self.desc, self.total, self.unit, self.mode = desc, total, unit, mode
        self.done = 0
        self.note = ""
        self.started = time.monotonic()
        self._logged_at: float | None = None
        self._lock = threading.Lock()
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            clock = {"bar_format": "{desc}: {elapsed}"} if total is None else {}
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=sys.stderr,
                delay=SHOW_AFTER_S,
                dynamic_ncols=True,
                leave=False,
                **clock,
            )

    def update(self, n: int = 1, note: str | None = None) -> None:
        """``n`` more units done; ``note`` names what was just done (a release, a study)."""
        with self._lock:
            self.done += n
            if note is not None:
                self.note = note
            if self._bar is not None:
                if note is not None:
                    self._bar.set_postfix_str(note, refresh=False)
                self._bar.update(n)
        self.tick()

    def tick(self) -> None:
        """Refresh the bar's clock, or write a log line when one is due."""
        with self._lock:
            elapsed = time.monotonic() - self.started
            if elapsed < SHOW_AFTER_S:
                return
            if self._bar is not None:
                self._bar.update(0)  # redraws (the clock) once due, and lets close() clear the line
            elif self.mode == "log" and (self._logged_at is None or elapsed - self._logged_at >= LOG_EVERY_S):
                self._logged_at = elapsed
                log.info("%s: %s (%.1f s)", self.desc, self._status(), elapsed)

    def close(self) -> None:
        """End the phase: close the bar, or write the closing log line (for a phase that showed)."""
        with self._lock:
            elapsed = time.monotonic() - self.started
            if self._bar is not None:
                self._bar.close()
            elif self.mode == "log" and elapsed >= SHOW_AFTER_S:
                counted = f" ({self._status()})" if self.total is not None else ""
                log.info("%s: done in %.1f s%s", self.desc, elapsed, counted)

    def _status(self) -> str:
        count = f"{self.done:,}/{self.total:,} {self.unit}" if self.total is not None else "running"
        return f"{count}, {self.note}" if self.note else count


@contextmanager
def progress(desc: str, total: int | None = None, unit: str = "it") -> Iterator[Progress]:
    """Show the progress of a phase while the block runs.

    Parameters
    ----------
    desc
        What the phase does ("building the resolution index").
    total
        How many units it has, when known.
    unit
        The unit (``"release"``, ``"study"``, ``"cell"``).

    Yields
    ------
    Progress
        Call ``update(n, note)`` as units are done.
    """
    bar = Progress(desc, total, unit, current_mode())
    stop = threading.Event()
    ticker = None
    if bar.mode != "off":
        ticker = threading.Thread(target=_tick_until, args=(bar, stop), name="idtrack-progress", daemon=True)
        ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()


def _tick_until(bar: Progress, stop: threading.Event) -> None:
    while not stop.wait(TICK_S):
        bar.tick()
