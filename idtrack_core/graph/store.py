"""Persist and load graph snapshots: one Parquet file per table plus ``manifest.json``."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from idtrack_core import storage
from idtrack_core.formats import SNAPSHOT_FORMAT_VERSION
from idtrack_core.graph.model import TABLES, Snapshot

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
    """Load a published snapshot; string columns stay in Arrow memory (``string[pyarrow]``), so a human-scale
    snapshot loads without making a Python object per name."""
    started = time.perf_counter()
    manifest = read_snapshot_manifest(url, **storage_options)
    tables = {}
    for name, info in manifest["tables"].items():
        fs, path = storage.url_to_fs(storage.join(url, info["file"]), **storage_options)
        with fs.open(path, "rb") as f:
            tables[name] = _frame(pq.read_table(f))
    tables["objects"]["obj"] = tables["objects"]["obj"].astype("int32")
    pa.default_memory_pool().release_unused()  # the Parquet pages read are freed: give them back
    log.info("snapshot %s loaded in %.2fs", storage.redact(url), time.perf_counter() - started)
    return Snapshot(tables, manifest)


def _frame(table: pa.Table) -> pd.DataFrame:
    """A snapshot table with the dtypes :func:`~idtrack_core.graph.build.build_snapshot` gives it: strings backed
    by Arrow, integer columns without missing values as numpy integers of their stored width, the others nullable."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[name] = pd.arrays.ArrowStringArray(column.cast(pa.string()))
        elif pa.types.is_integer(column.type) and column.null_count == 0:
            columns[name] = column.to_numpy()
        else:
            mapped = storage.nullable_type(column.type)
            columns[name] = mapped.__from_arrow__(column) if mapped is not None else column.to_pandas()
    return pd.DataFrame(columns, columns=table.column_names)
