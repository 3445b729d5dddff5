"""Ground-truth Parquet tables, written release by release (one row group per release or transition)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from idtrack_core.simulation.model import ReleaseView, Transition
from idtrack_core.simulation.schema import CLONE_DB_ID, DB_DISPLAY_NAMES, ENTREZ_DB_ID, HGNC_DB_ID

GENES_SCHEMA = pa.schema(
    [
        pa.field("release", pa.int32(), nullable=False),
        pa.field("stable_id", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("biotype", pa.string(), nullable=False),
    ]
)
TRANSITIONS_SCHEMA = pa.schema(
    [
        pa.field("from_release", pa.int32(), nullable=False),
        pa.field("to_release", pa.int32(), nullable=False),
        pa.field("old_stable_id", pa.string()),
        pa.field("old_version", pa.int32()),
        pa.field("new_stable_id", pa.string()),
        pa.field("new_version", pa.int32()),
        pa.field("event", pa.string(), nullable=False),
    ]
)
NAMES_SCHEMA = pa.schema(
    [
        pa.field("release", pa.int32(), nullable=False),
        pa.field("stable_id", pa.string(), nullable=False),
        pa.field("database", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
    ]
)
GROUND_TRUTH_FILES = ("genes.parquet", "transitions.parquet", "names.parquet", "truth.json")
_HGNC = DB_DISPLAY_NAMES[HGNC_DB_ID]
_ENTREZ = DB_DISPLAY_NAMES[ENTREZ_DB_ID]
_CLONE = DB_DISPLAY_NAMES[CLONE_DB_ID]


def _repeat(value: int, n: int) -> pa.Array:
    return pa.array(np.full(n, value, dtype=np.int32))


class TruthWriter:
    """Streams ``genes``, ``transitions`` and ``names`` Parquet tables into ``folder``."""

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self._genes = pq.ParquetWriter(os.path.join(folder, "genes.parquet"), GENES_SCHEMA, compression="zstd")
        self._transitions = pq.ParquetWriter(
            os.path.join(folder, "transitions.parquet"), TRANSITIONS_SCHEMA, compression="zstd"
        )
        self._names = pq.ParquetWriter(os.path.join(folder, "names.parquet"), NAMES_SCHEMA, compression="zstd")

    def add_release(self, release: int, view: ReleaseView) -> None:
        n = len(view.gene_ids)
        genes = pa.Table.from_arrays(
            [
                _repeat(release, n),
                pa.array(view.gene_ids, pa.string()),
                pa.array(view.gene_versions.astype(np.int32)),
                pa.array(view.gene_biotypes, pa.string()),
            ],
            schema=GENES_SCHEMA,
        )
        self._genes.write_table(genes)

        groups = [
            (view.hgnc_genes, view.hgnc_symbols, _HGNC, "symbol"),
            (view.hgnc_genes, view.hgnc_accessions, _HGNC, "hgnc_accession"),
            (view.synonym_genes, view.synonyms, _HGNC, view.synonym_kinds),
            (view.entrez_genes, view.entrez_ids, _ENTREZ, "entrez_id"),
            (view.clone_genes, view.clone_names, _CLONE, "clone_name"),
        ]
        stable_ids = np.concatenate([view.gene_ids[pos] for pos, _, _, _ in groups])
        names = np.concatenate([values for _, values, _, _ in groups])
        databases = np.repeat(np.array([g[2] for g in groups], dtype=object), [len(g[1]) for g in groups])
        kinds = np.concatenate([np.full(len(v), k, dtype=object) if isinstance(k, str) else k for _, v, _, k in groups])
        m = len(names)
        table = pa.Table.from_arrays(
            [
                _repeat(release, m),
                pa.array(stable_ids, pa.string()),
                pa.array(databases, pa.string()),
                pa.array(names, pa.string()),
                pa.array(kinds, pa.string()),
            ],
            schema=NAMES_SCHEMA,
        )
        table = table.sort_by([("stable_id", "ascending"), ("kind", "ascending"), ("name", "ascending")])
        self._names.write_table(table)

    def add_transition(self, from_release: int, to_release: int, t: Transition) -> None:
        n = len(t.truth_event)
        table = pa.Table.from_arrays(
            [
                _repeat(from_release, n),
                _repeat(to_release, n),
                pa.array(t.truth_old_id, pa.string()),
                pa.array(t.truth_old_version, pa.int32()),
                pa.array(t.truth_new_id, pa.string()),
                pa.array(t.truth_new_version, pa.int32()),
                pa.array(t.truth_event, pa.string()),
            ],
            schema=TRANSITIONS_SCHEMA,
        )
        # nulls last: "~" sorts after every stable id (ids are ASCII letters and digits)
        keys = pa.table(
            {
                "old": pc.fill_null(table["old_stable_id"], "~"),
                "new": pc.fill_null(table["new_stable_id"], "~"),
                "event": table["event"],
            }
        )
        order = pc.sort_indices(keys, [("old", "ascending"), ("new", "ascending"), ("event", "ascending")])
        self._transitions.write_table(table.take(order))

    def close(self) -> None:
        for w in (self._genes, self._transitions, self._names):
            w.close()
