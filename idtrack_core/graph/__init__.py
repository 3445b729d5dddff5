"""The identifier graph: build from release extracts, persist and load snapshots."""

from typing import TYPE_CHECKING, Any

from idtrack_core.graph.model import Snapshot
from idtrack_core.graph.store import read_snapshot, write_snapshot

if TYPE_CHECKING:
    from idtrack_core.graph.build import build_snapshot


def __getattr__(name: str) -> Any:
    """``build_snapshot`` is imported on first use: reading snapshots and versions does not need the builder."""
    if name == "build_snapshot":
        from idtrack_core.graph.build import build_snapshot

        return build_snapshot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Snapshot", "build_snapshot", "read_snapshot", "write_snapshot"]
