"""idtrack_core is a plain library: no module of it imports Dagster (DESIGN §2)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import idtrack_core


def test_no_idtrack_core_module_imports_dagster():
    packages = pkgutil.walk_packages(idtrack_core.__path__, "idtrack_core.")
    modules = sorted(m.name for m in packages if not m.name.endswith(".__main__"))  # __main__ runs the CLI
    assert "idtrack_core.convert.resolve" in modules and len(modules) > 20
    script = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('dagster', 'idtrack_assets'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == ""
