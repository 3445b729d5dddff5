"""Progress of long phases: a tqdm bar on a terminal (a real pty), log lines elsewhere, nothing when quiet."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import subprocess
import sys
import termios
import time

import pytest

from idtrack_core import progress

PHASE = """
import sys, time
from idtrack_core import progress
progress.configure(sys.argv[1])
with progress.progress("building the resolution index") as bar:
    time.sleep(float(sys.argv[2]))
with progress.progress("matching studies", total=2, unit="studies") as bar:
    for name in ("heart", "lung"):
        time.sleep(float(sys.argv[2]) / 2)
        bar.update(note=name)
print("result", flush=True)
"""


def run_phase(mode: str, seconds: float, tty: bool) -> tuple[str, str]:
    """Run two phases in a fresh interpreter with stderr on a pseudo-terminal (``tty``) or a pipe."""
    env = {**os.environ, "COLUMNS": "100"}
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", PHASE, mode, str(seconds)], capture_output=True, text=True, timeout=60, env=env
        )
        return done.stdout, done.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # a 100-column terminal
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", PHASE, mode, str(seconds)], stdout=subprocess.PIPE, stderr=slave, env=env
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read().decode()
        proc.wait(timeout=60)
    finally:
        os.close(master)
    return out, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def progress_logs(caplog):
    caplog.set_level(logging.INFO, logger="idtrack_core.progress")
    yield caplog
    progress.configure("auto")


def test_on_a_terminal_a_bar_shows_the_phase_and_its_clock():
    out, err = run_phase("auto", 2.6, tty=True)
    assert out.strip() == "result"
    assert "building the resolution index" in err and "matching studies" in err
    assert "building the resolution index: 00:02" in err  # a phase without a count shows its clock
    assert "\r" in err and "2/2" in err  # redrawn in place, with the count
    assert "idtrack_core.progress" not in err


def test_elsewhere_plain_log_lines_and_quiet_shows_nothing(progress_logs, monkeypatch):
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.3)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.4)
    monkeypatch.setattr(progress, "TICK_S", 0.05)
    progress.configure("auto")  # pytest's stderr is not a terminal
    assert progress.current_mode() == "log"
    with progress.progress("building the snapshot"):
        time.sleep(1.0)
    with progress.progress("matching studies", total=3, unit="studies") as bar:
        for name in ("a", "b", "c"):
            time.sleep(0.25)
            bar.update(note=name)
    with progress.progress("a short phase"):
        pass
    lines = [r.getMessage() for r in progress_logs.records]
    snapshot = [line for line in lines if line.startswith("building the snapshot")]
    assert len(snapshot) >= 3  # alive while running (every 0.4 s after 0.3 s), then done
    assert snapshot[0].startswith("building the snapshot: running (0.")
    assert snapshot[-1].startswith("building the snapshot: done in 1.")
    assert lines[-1].startswith("matching studies: done in 0.") and lines[-1].endswith(" s (3/3 studies, c)")
    assert not any("short phase" in line for line in lines)

    progress_logs.clear()
    progress.configure("off")
    with progress.progress("building the snapshot"):
        time.sleep(0.6)
    assert progress_logs.records == []
    with pytest.raises(ValueError, match="progress mode"):
        progress.configure("loud")  # type: ignore[arg-type]


def test_the_cli_quiet_flag_silences_the_bar_on_a_terminal():
    out, err = run_phase("off", 2.6, tty=True)
    assert out.strip() == "result" and err == ""
