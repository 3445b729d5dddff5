"""Concurrent commands on one home give the same bytes as a clean run (content-addressed, atomic publication)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .helpers import CLI_TIMEOUT_S, SIM, TARGET, leftovers, run_cli, tree


def convert_args(mirror: Path, home: Path, out: Path) -> list[str]:
    return ["convert", "--source", str(mirror), "--home", str(home), *SIM, *TARGET, "SIMX1", "--output", str(out)]


def test_concurrent_converts_on_one_home_equal_a_clean_run(sim_mirror, tmp_path):
    clean_home = tmp_path / "clean"
    assert run_cli(*convert_args(sim_mirror, clean_home, tmp_path / "clean.csv")).returncode == 0
    shared = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "idtrack_assets.console", *convert_args(sim_mirror, shared, tmp_path / f"{i}.csv")],
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=CLI_TIMEOUT_S)
        assert p.returncode == 0, err
    expected = (tmp_path / "clean.csv").read_bytes()
    assert all((tmp_path / f"{i}.csv").read_bytes() == expected for i in range(3))
    assert tree(shared) == tree(clean_home)
    assert not leftovers(shared)
