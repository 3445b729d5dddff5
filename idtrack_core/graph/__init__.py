"""The identifier graph: build from release extracts, persist and load snapshots.

The names below load on first use (PEP 562): reading versions and indexes does not need the graph model, nor the
builder.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"Snapshot": "model", "build_snapshot": "build", "read_snapshot": "store", "write_snapshot": "store"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """The public name ``name`` from the submodule that defines it."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
