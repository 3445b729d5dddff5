"""The identifier graph: build from release extracts, persist and load snapshots.

The names below load on first use (PEP 562): reading versions and indexes does not need the graph model, nor the
builder.
"""

from __future__ import annotations

from idtrack_core.lazy import lazy_attributes

_HOMES = {"Snapshot": "model", "build_snapshot": "build", "read_snapshot": "store", "write_snapshot": "store"}
__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
