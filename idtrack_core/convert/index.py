"""Resolution index: the precomputed answer for every name a snapshot knows (DESIGN §5).

For one (snapshot, :class:`ConversionTarget`) the index holds the answer of every exact name and of every
lower-cased name (:mod:`.answers`); a batch conversion is a vectorized lookup in it.

On disk (format 3): ``keys.arrow`` (every key, sorted by hash, with its answer row) and ``answers.arrow`` (the
answers), uncompressed Arrow IPC files of one record batch each, plus ``manifest.json``. A lower-cased name that
stands for a single exact name shares that name's answer row, so the answers are little more than one per exact
name. A local index is memory-mapped when read: opening it costs the manifest and the files' footers, and a lookup
touches only the pages of the keys and rows it needs, so a warm ``convert`` does not pay for loading the 1.28 M
keys of the human index.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from idtrack_core import __version__, storage
from idtrack_core.convert.answers import AnswerTable, AnswerTables
from idtrack_core.convert.target import ConversionTarget
from idtrack_core.formats import INDEX_FORMAT_VERSION
from idtrack_core.parallel import in_background, release_memory

if TYPE_CHECKING:
    import pandas as pd

    from idtrack_core.convert.names import NameTable
    from idtrack_core.graph.model import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ResolutionIndex:
    """Precomputed answers of one snapshot for one conversion target.

    Attributes
    ----------
    keys
        Every exact and lower-cased key, sorted by hash, with its answer row (Arrow; memory-mapped when read from
        a local folder): see :mod:`.answers`.
    table
        The answers (Arrow; memory-mapped when read from a local folder); the last row answers unknown names.
    manifest
        Target, snapshot hash, row and category counts, producer.
    """

    keys: pa.Table = field(repr=False)
    table: pa.Table = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def build(cls, snap: Snapshot, target: ConversionTarget, names: NameTable | None = None) -> ResolutionIndex:
        """Resolve every name of ``snap`` (and every lower-cased name) for ``target``.

        Parameters
        ----------
        snap
            The identifier graph snapshot.
        target
            What to convert to (validated against the snapshot; ``"latest"`` resolved).
        names
            The snapshot's name table when already built.

        Returns
        -------
        ResolutionIndex
            The index, in memory (publish it with :meth:`write` or :meth:`files`).
        """
        from idtrack_core.convert.answers import answer_tables
        from idtrack_core.convert.bridge import BridgeIndex
        from idtrack_core.convert.keys import lowercased_key_answers
        from idtrack_core.convert.names import NameTable
        from idtrack_core.convert.resolve import Resolver  # the graph search is not needed to read an index

        started = time.perf_counter()
        release = release_memory  # give freed memory back between the steps
        release()
        # independent steps: the name table (Arrow and numpy work, compact result) in a second process when a CPU
        # is free, the bridge index (Python dictionaries) and the resolver's own tables here meanwhile
        named = in_background(NameTable.from_snapshot, snap) if names is None else None
        bridges = BridgeIndex(snap)
        resolver = Resolver(snap, target, names if named is None else named.result, bridges)
        del named, bridges  # only the resolver holds them now: it frees the bridge index after its last walks
        release()
        # the few lower-cased keys that merge several exact keys first: the exact keys' walks are the last, and
        # their memory is freed before their answers are assembled
        lower, aliases = lowercased_key_answers(resolver, resolver.names)
        exact = resolver.resolve_rows(resolver.names.rows, last=True)
        t = resolver.target
        del resolver  # the answers are all the tables need
        release()
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
            "rows": {"exact": len(exact), "lower": len(lower) + len(aliases[0]), "answers": len(exact) + len(lower)},
            "categories": {k: int(v) for k, v in exact["category"].value_counts().sort_index().items()},
        }
        tables = answer_tables(exact, lower, aliases)
        log.info("resolution index %s built in %.1fs (%d names)", t.key, time.perf_counter() - started, len(exact))
        return cls(tables.keys, tables.answers, manifest)

    @property
    def target(self) -> ConversionTarget:
        """The conversion target the index answers for."""
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
        """The lookup structure over :attr:`keys` and :attr:`table`."""
        return AnswerTable(AnswerTables(self.keys, self.table))

    def lookup(self, queries: Iterable[str]) -> pd.DataFrame:
        """Convert a batch of names: one row per query, in order, with ``RESULT_COLUMNS`` (see :mod:`.answers`)."""
        return self.answers.lookup(_batch(queries))

    def lookup_arrow(self, queries: Iterable[str]) -> pa.Table:
        """:meth:`lookup` as an Arrow table (string answers dictionary-encoded; see
        :meth:`~idtrack_core.convert.answers.AnswerTable.lookup_arrow`), for writers that need no pandas."""
        return self.answers.lookup_arrow(_batch(queries))

    def files(self, extra_manifest: dict[str, Any] | None = None) -> dict[str, bytes | memoryview]:
        """``keys.arrow``, ``answers.arrow`` (views of the Arrow buffers, not copies) and the manifest
        (``extra_manifest`` entries added to it, tables' checksums listed)."""
        files: dict[str, bytes | memoryview] = {}
        info = {}
        for name, table in (("keys", self.keys), ("answers", self.table)):
            data = files[f"{name}.arrow"] = _ipc_bytes(table)
            info[name] = {"file": f"{name}.arrow", "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {**self.manifest, **(extra_manifest or {}), "tables": info}
        return {**files, storage.MANIFEST: storage.json_bytes(manifest)}

    def write(self, url: str, **storage_options: Any) -> dict[str, Any]:
        """Publish the index (``keys.arrow``, ``answers.arrow`` + manifest) atomically; return the manifest."""
        storage.publish_dir(url, self.files(), **storage_options)
        return storage.read_json(storage.join(url, storage.MANIFEST), **storage_options)

    @classmethod
    def read(cls, url: str, **storage_options: Any) -> ResolutionIndex:
        """Open a published index: memory-mapped when local, read into memory otherwise.

        Raises
        ------
        SnapshotError
            No index at ``url``, or one of another format version.
        """
        started = time.perf_counter()
        manifest = storage.read_manifest(url, "resolution index", INDEX_FORMAT_VERSION, **storage_options)
        keys, table = (
            _read_ipc(storage.join(url, manifest["tables"][name]["file"]), storage_options)
            for name in ("keys", "answers")
        )
        log.info("resolution index opened in %.3fs", time.perf_counter() - started)
        return cls(keys, table, manifest)


def _batch(queries: Iterable[str]) -> Sequence[str] | np.ndarray | pd.Series | pd.Index:
    """``queries`` as a batch the answer table takes as is (a list, an array, a pandas Series or Index), other
    iterables listed; pandas is not imported for the check (a caller holding pandas objects has imported it)."""
    pandas = sys.modules.get("pandas")
    batch_types = (list, np.ndarray) + ((pandas.Series, pandas.Index) if pandas else ())
    return queries if isinstance(queries, batch_types) else list(queries)


def _ipc_bytes(table: pa.Table) -> memoryview:
    """An Arrow IPC file holding ``table`` as one uncompressed record batch (a view of the Arrow buffer)."""
    sink = pa.BufferOutputStream()
    combined = table.combine_chunks()
    with pa.ipc.new_file(sink, combined.schema) as writer:
        writer.write_table(combined, max_chunksize=max(combined.num_rows, 1))
    return memoryview(sink.getvalue())


def _read_ipc(url: str, storage_options: dict[str, Any]) -> pa.Table:
    path = storage.local_path(url)
    source = pa.memory_map(path) if path is not None else pa.BufferReader(storage.read_bytes(url, **storage_options))
    return pa.ipc.open_file(source).read_all()
