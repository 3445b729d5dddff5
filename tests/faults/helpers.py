"""Helpers of the fault-injection tests: run the command line, read its one error line, look for leftovers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CLI_TIMEOUT_S = 60
SIM_SPECIES, SIM_ASSEMBLY = "idtrack_simulans", "SIM1"
SIM = ["--species", SIM_SPECIES, "--assembly", SIM_ASSEMBLY]
TARGET = ["--to-release", "latest", "--final-database", "HGNC Symbol"]
#: network settings that make a silent server fail fast (documented in idtrack_core.network)
FAST_NETWORK = {
    "IDTRACK_CONNECT_TIMEOUT_S": "1",
    "IDTRACK_READ_TIMEOUT_S": "1",
    "IDTRACK_BACKOFF_S": "0.2",
    "IDTRACK_ATTEMPTS": "3",
    "IDTRACK_DEADLINE_S": "6",
}
#: run a command as root without the right to ignore file permissions (so a 0o555 folder gives EACCES)
NO_DAC_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def run_cli(
    *args: object, env: dict[str, str] | None = None, cwd: Path | None = None, prefix: list[str] | None = None
) -> subprocess.CompletedProcess:
    """``idtrack-atlas ARGS`` in a subprocess; fails the test (TimeoutExpired) if it runs over 60 s."""
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "idtrack_assets.console", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one ``idtrack-atlas: error: …`` line of a failed run (exit code 2, no traceback)."""
    assert proc.returncode == 2, f"exit code {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("idtrack-atlas: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders of an interrupted write under ``root``."""
    return sorted(str(p) for p in Path(root).rglob("*") if ".tmp-" in p.name or ".old-" in p.name)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes): to show that nothing changed."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_study(path: Path, names: list[str], n_cells: int, seed: int = 0, density: float = 0.2) -> Path:
    """A study ``.h5ad`` with these var names and ``n_cells`` random cells."""
    import anndata as ad
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    x = sp.random(n_cells, len(names), density=density, format="csr", random_state=rng, dtype=np.float32)
    obs = pd.DataFrame(index=pd.Index([f"cell{i}" for i in range(n_cells)], dtype=object))
    ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(names, dtype=object))).write_h5ad(path)
    return path


def is_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def mounted(target: Path, *mount_args: str) -> Iterator[Path]:
    """``mount ARGS target`` (root only), always unmounted afterwards."""
    if not is_root():
        pytest.skip("mounting a tmpfs or a read-only bind mount needs root (run the suite as root, as CI does)")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *mount_args, str(target)], check=True, capture_output=True, timeout=30)
    try:
        yield target
    finally:
        if subprocess.run(["umount", str(target)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)
