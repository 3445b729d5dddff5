"""The identifier graph: build from release extracts, persist and load snapshots."""

from idtrack_core.graph.build import build_snapshot
from idtrack_core.graph.model import Snapshot
from idtrack_core.graph.store import read_snapshot, write_snapshot

__all__ = ["Snapshot", "build_snapshot", "read_snapshot", "write_snapshot"]
