"""Resolution index: the precomputed answer for every name a snapshot knows (DESIGN §5).

For one (snapshot, :class:`ConversionTarget`) the index holds one answer row per exact name and one per
lower-cased name (:mod:`.answers`); a batch conversion is a vectorized lookup in that table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from idtrack_core import __version__, storage
from idtrack_core.convert.answers import AnswerTable, answer_table
from idtrack_core.convert.names import NameTable
from idtrack_core.convert.resolve import Resolver
from idtrack_core.convert.target import ConversionTarget
from idtrack_core.graph.model import Snapshot

log = logging.getLogger(__name__)
INDEX_FORMAT_VERSION = 1
INDEX_CODE_VERSION = f"resolution-index-{INDEX_FORMAT_VERSION}.2"
"""Changes whenever the index built for the same snapshot and target would differ (part of its version id)."""


@dataclass(frozen=True, eq=False)
class ResolutionIndex:
    """Precomputed answers of one snapshot for one conversion target (``table``: see :func:`answer_table`)."""

    table: pd.DataFrame = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def build(cls, snap: Snapshot, target: ConversionTarget, names: NameTable | None = None) -> ResolutionIndex:
        started = time.perf_counter()
        resolver = Resolver(snap, target, names)
        exact = resolver.resolve_rows(resolver.names.rows)
        lower = resolver.resolve_rows(resolver.lowercase_names().rows)
        t = resolver.target
        manifest = {
            "format_version": INDEX_FORMAT_VERSION,
            "producer": f"idtrack-atlas {__version__}",
            "snapshot_sha256": snap.content_hash,
            "species": snap.species,
            "assembly": snap.assembly,
            "to_release": t.to_release,
            "final_database": t.final_database,
            "from_release": t.from_release,
            "strategy": t.strategy,
            "target_field": t.target_field,
            "source_databases": list(t.source_databases) if t.source_databases else None,
            "keep_non_primary": t.keep_non_primary,
            "to_assembly": t.to_assembly,
            "from_assembly": t.from_assembly,
            "rows": {"exact": len(exact), "lower": len(lower)},
            "categories": {k: int(v) for k, v in exact["category"].value_counts().sort_index().items()},
        }
        log.info("resolution index %s built in %.1fs (%d names)", t.key, time.perf_counter() - started, len(exact))
        return cls(answer_table(exact, lower), manifest)

    @property
    def target(self) -> ConversionTarget:
        m = self.manifest
        sources = tuple(m["source_databases"]) if m.get("source_databases") else None
        return ConversionTarget(
            m["to_release"],
            m["final_database"],
            m["from_release"],
            m["strategy"],
            m["target_field"],
            sources,
            bool(m.get("keep_non_primary", False)),
            m.get("to_assembly"),
            m.get("from_assembly"),
        )

    @cached_property
    def answers(self) -> AnswerTable:
        return AnswerTable(self.table)

    def lookup(self, queries: Iterable[str]) -> pd.DataFrame:
        """Convert a batch of names: one row per query, in order (see module docstring)."""
        if not isinstance(queries, list | np.ndarray | pd.Series | pd.Index):
            queries = list(queries)
        return self.answers.lookup(queries)

    def files(self, extra_manifest: dict[str, Any] | None = None) -> dict[str, bytes]:
        """``answers.parquet`` and the manifest (``extra_manifest`` entries added to it)."""
        return storage.table_files({"answers": self.table}, {**self.manifest, **(extra_manifest or {})})

    def write(self, url: str, **storage_options: Any) -> dict[str, Any]:
        """Publish the index (``answers.parquet`` + manifest) atomically; return the manifest."""
        storage.publish_dir(url, self.files(), **storage_options)
        return storage.read_json(storage.join(url, storage.MANIFEST), **storage_options)

    @classmethod
    def read(cls, url: str, **storage_options: Any) -> ResolutionIndex:
        started = time.perf_counter()
        manifest = storage.read_manifest(url, "resolution index", INDEX_FORMAT_VERSION, **storage_options)
        table = storage.read_parquet_file(storage.join(url, manifest["tables"]["answers"]["file"]), **storage_options)
        log.info("resolution index loaded in %.2fs", time.perf_counter() - started)
        return cls(table, manifest)
