"""Persist and load graph snapshots: one Parquet file per table plus ``manifest.json``."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from idtrack_core import storage
from idtrack_core.errors import SnapshotError
from idtrack_core.graph.model import SNAPSHOT_FORMAT_VERSION, TABLES, Snapshot

log = logging.getLogger(__name__)


def write_snapshot(snapshot: Snapshot, url: str, **storage_options: Any) -> dict[str, Any]:
    """Publish a snapshot at ``url`` atomically; return the manifest written (with table checksums)."""
    files: dict[str, bytes] = {}
    tables = {}
    for name in TABLES:
        data = storage.parquet_bytes(snapshot.tables[name])
        files[f"{name}.parquet"] = data
        tables[name] = {
            "file": f"{name}.parquet",
            "rows": len(snapshot.tables[name]),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    manifest = {**snapshot.manifest, "tables": tables}
    files[storage.MANIFEST] = storage.json_bytes(manifest)
    storage.publish_dir(url, files, **storage_options)
    return manifest


def read_snapshot_manifest(url: str, **storage_options: Any) -> dict[str, Any]:
    manifest_url = storage.join(url, storage.MANIFEST)
    if not storage.exists(manifest_url, **storage_options):
        raise SnapshotError(f"{storage.redact(url)}: no snapshot here (manifest.json missing)")
    manifest = storage.read_json(manifest_url, **storage_options)
    if manifest.get("format_version") != SNAPSHOT_FORMAT_VERSION:
        raise SnapshotError(f"{storage.redact(url)}: snapshot format {manifest.get('format_version')} unsupported")
    return manifest


def read_snapshot(url: str, **storage_options: Any) -> Snapshot:
    """Load a published snapshot."""
    started = time.perf_counter()
    manifest = read_snapshot_manifest(url, **storage_options)
    tables = {
        name: storage.read_parquet(storage.join(url, info["file"]), **storage_options)
        for name, info in manifest["tables"].items()
    }
    for name in ("objects",):
        tables[name]["obj"] = tables[name]["obj"].astype("int32")
    log.info("snapshot %s loaded in %.2fs", storage.redact(url), time.perf_counter() - started)
    return Snapshot(tables, manifest)
