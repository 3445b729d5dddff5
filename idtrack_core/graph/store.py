"""Persist and load graph snapshots: one Parquet file per table plus ``manifest.json``."""

from __future__ import annotations

import logging
import time
from typing import Any

from idtrack_core import storage
from idtrack_core.graph.model import SNAPSHOT_FORMAT_VERSION, TABLES, Snapshot

log = logging.getLogger(__name__)


def snapshot_files(snapshot: Snapshot, extra_manifest: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The Parquet files and manifest of a snapshot (``extra_manifest`` entries added to its manifest)."""
    manifest = {**snapshot.manifest, **(extra_manifest or {})}
    return storage.table_files({name: snapshot.tables[name] for name in TABLES}, manifest)


def write_snapshot(snapshot: Snapshot, url: str, **storage_options: Any) -> dict[str, Any]:
    """Publish a snapshot at ``url`` atomically; return the manifest written (with table checksums)."""
    storage.publish_dir(url, snapshot_files(snapshot), **storage_options)
    return storage.read_json(storage.join(url, storage.MANIFEST), **storage_options)


def read_snapshot_manifest(url: str, **storage_options: Any) -> dict[str, Any]:
    """The manifest of the snapshot published at ``url``."""
    return storage.read_manifest(url, "snapshot", SNAPSHOT_FORMAT_VERSION, **storage_options)


def read_snapshot(url: str, **storage_options: Any) -> Snapshot:
    """Load a published snapshot."""
    started = time.perf_counter()
    manifest = read_snapshot_manifest(url, **storage_options)
    tables = storage.read_tables(url, manifest, **storage_options)
    tables["objects"]["obj"] = tables["objects"]["obj"].astype("int32")
    log.info("snapshot %s loaded in %.2fs", storage.redact(url), time.perf_counter() - started)
    return Snapshot(tables, manifest)
