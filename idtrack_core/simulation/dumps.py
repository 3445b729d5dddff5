"""Writing simulated releases as Ensembl MySQL dumps (``{table}.txt.gz`` + ``{db}.sql.gz``).

Small tables (meta, mapping_session, external_db) are rendered row by row with
:func:`idtrack_core.ensembl.mysqldump.format_rows`. The large ones (gene, transcript, translation, xref,
object_xref, external_synonym, stable_id_event) are rendered column-wise by :func:`render_columns`, which
produces exactly the text ``format_rows`` would for the same rows (tested) about five times faster: at
human scale (80k genes × 50 releases) that is the difference between two minutes and ten.

Files are gzipped (mtime 0, no file name in the header) on a background thread, so compression overlaps
with the next release's simulation; the bytes written do not depend on thread scheduling.

``stable_id_event`` is cumulative (each release carries the history up to itself): one deflate stream is
kept open across releases and each release's file is that stream's output so far plus a flushed copy,
so the history is compressed once instead of once per release.
"""

from __future__ import annotations

import itertools
import os
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from idtrack_core.ensembl.mysqldump import format_rows, format_value
from idtrack_core.simulation.config import (
    ASSEMBLY,
    ASSEMBLY_SUFFIX,
    OLD_ASSEMBLY,
    OLD_ASSEMBLY_SUFFIX,
    OLD_ASSEMBLY_TREE,
    SCIENTIFIC_NAME,
    SPECIES,
)
from idtrack_core.simulation.model import CHROMOSOMES, Event, ReleaseView
from idtrack_core.simulation.schema import (
    CLONE_DB_ID,
    CORE_SCHEMA_SQL,
    ENTREZ_DB_ID,
    EXTERNAL_DB_ROWS,
    HGNC_DB_ID,
)

NULL = "\\N"
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\x00]")
_MAX_PENDING = 6
_EPOCH = datetime(2000, 1, 1)


def database_name(release: int, assembly: str = ASSEMBLY) -> str:
    """``idtrack_simulans_core_{R}_1`` (``_0`` for the older assembly ``SIM0``)."""
    return f"{SPECIES}_core_{release}_{OLD_ASSEMBLY_SUFFIX if assembly == OLD_ASSEMBLY else ASSEMBLY_SUFFIX}"


def assembly_shift(view: ReleaseView, assembly: str) -> np.ndarray:
    """Per gene, how far its coordinates on ``assembly`` lie from those on the newest assembly (the older
    assembly's chromosomes are shorter at their start: region k is shifted by ``1,000 × k``)."""
    return -1_000 * (view.gene_region + 1) if assembly == OLD_ASSEMBLY else np.zeros(len(view.gene_region), np.int64)


# ---------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Const:
    """A column holding the same value on every row."""

    value: object


Column = Const | list[str]


class Decimals:
    """Integer columns as dump fields, through a growing cache of decimal strings."""

    def __init__(self) -> None:
        self._cache = np.empty(0, dtype=object)

    def __call__(self, values: np.ndarray, null: np.ndarray | None = None) -> list[str]:
        """``values`` as decimal strings; rows where ``null`` is true are ``\\N``."""
        v = np.asarray(values, dtype=np.int64)
        if null is not None:
            v = np.where(null, 0, v)
        if len(v) and v.min() < 0:
            out = v.astype(str).astype(object)
        else:
            top = int(v.max()) + 1 if len(v) else 0
            if top > len(self._cache):
                size = max(top, 2 * len(self._cache), 1024)
                self._cache = _object_array([str(i) for i in range(size)])
            out = self._cache[v]
        if null is not None:
            out[np.asarray(null, dtype=bool)] = NULL
        return out.tolist()


def _object_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def strs(values: Sequence[str | None] | np.ndarray) -> list[str]:
    """String column as dump fields (``None`` → ``\\N``, MySQL escapes where needed)."""
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    has_null = None in out
    if _NEEDS_ESCAPE.search("".join([v for v in out if v is not None] if has_null else out)):
        return [format_value(v) for v in out]
    return [NULL if v is None else v for v in out] if has_null else out


def render_columns(columns: Sequence[Column], rows: int) -> str:
    """Dump text of ``rows`` rows given column-wise; identical to ``format_rows`` of the same rows."""
    if rows == 0:
        return ""
    cols: list[Iterable[str]] = []
    for c in columns:
        if isinstance(c, Const):
            cols.append(itertools.repeat(format_value(c.value), rows))
        else:
            if len(c) != rows:
                raise ValueError(f"column has {len(c)} values, expected {rows}")
            cols.append(c)
    return "\n".join(map("\t".join, zip(*cols, strict=False))) + "\n"


def release_tables(view: ReleaseView, num: Decimals, assembly: str = ASSEMBLY) -> dict[str, str]:
    """Dump text of the per-release object and xref tables (coordinates on ``assembly``)."""
    shift = assembly_shift(view, assembly)
    n_genes, n_tx, n_tl = len(view.gene_ids), len(view.tx_ids), len(view.tl_ids)

    # xrefs, in gene order: HGNC, then EntrezGene, then clone name
    has_h = np.zeros(n_genes, dtype=np.int64)
    has_h[view.hgnc_genes] = 1
    has_e = np.zeros(n_genes, dtype=np.int64)
    has_e[view.entrez_genes] = 1
    has_c = np.zeros(n_genes, dtype=np.int64)
    has_c[view.clone_genes] = 1
    per_gene = has_h + has_e + has_c
    first = np.cumsum(per_gene) - per_gene + 1
    h_xref = first[view.hgnc_genes]
    e_xref = (first + has_h)[view.entrez_genes]
    c_xref = (first + has_h + has_e)[view.clone_genes]
    xref_ids = np.concatenate([h_xref, e_xref, c_xref])
    order = np.argsort(xref_ids, kind="stable")
    xref_ids = xref_ids[order]
    xref_gene = np.concatenate([view.hgnc_genes, view.entrez_genes, view.clone_genes])[order]
    n_h, n_e, n_c = len(h_xref), len(e_xref), len(c_xref)
    db_ids = np.repeat(np.array([HGNC_DB_ID, ENTREZ_DB_ID, CLONE_DB_ID]), [n_h, n_e, n_c])[order]
    acc = np.concatenate([view.hgnc_accessions, view.entrez_ids, view.clone_names])[order]
    label = np.concatenate([view.hgnc_symbols, view.entrez_symbols, view.clone_names])[order]
    info = _object_array(["DIRECT"] * n_h + ["DEPENDENT"] * n_e + ["MISC"] * n_c)[order]
    n_x = len(xref_ids)
    xref_id_text = num(xref_ids)
    xref = render_columns(
        [
            xref_id_text,
            num(db_ids),
            strs(acc),
            strs(label),
            Const("0"),
            Const(None),
            info.tolist(),
            Const(""),
        ],
        n_x,
    )
    object_xref = render_columns(
        [xref_id_text, num(xref_gene + 1), Const("Gene"), xref_id_text, Const(None), Const(None)],
        n_x,
    )
    display = np.full(n_genes, -1, dtype=np.int64)
    display[view.clone_genes] = c_xref
    display[view.hgnc_genes] = h_xref

    h_xref_of_gene = np.zeros(n_genes, dtype=np.int64)
    h_xref_of_gene[view.hgnc_genes] = h_xref
    external_synonym = render_columns(
        [num(h_xref_of_gene[view.synonym_genes]), strs(view.synonyms)], len(view.synonyms)
    )

    gene = render_columns(
        [
            num(np.arange(1, n_genes + 1)),
            strs(view.gene_biotypes),
            Const(1),
            num(view.gene_region + 1),
            num(view.gene_start + shift),
            num(view.gene_end + shift),
            num(view.gene_strand),
            num(display, display < 0),
            Const("ensembl"),
            Const(None),
            Const(1),
            num(view.gene_canonical_tx + 1),
            strs(view.gene_ids),
            num(view.gene_versions),
            Const(None),
            Const(None),
        ],
        n_genes,
    )
    transcript = render_columns(
        [
            num(np.arange(1, n_tx + 1)),
            num(view.tx_gene + 1),
            Const(1),
            num(view.gene_region[view.tx_gene] + 1),
            num(view.tx_start + shift[view.tx_gene]),
            num(view.tx_end + shift[view.tx_gene]),
            num(view.gene_strand[view.tx_gene]),
            Const(None),
            Const("ensembl"),
            strs(view.tx_biotypes),
            Const(None),
            Const(1),
            num(view.tx_translation + 1, view.tx_translation < 0),
            strs(view.tx_ids),
            num(view.tx_versions),
            Const(None),
            Const(None),
        ],
        n_tx,
    )
    translation = render_columns(
        [
            num(np.arange(1, n_tl + 1)),
            num(view.tl_tx + 1),
            Const(1),
            Const(0),
            Const(1),
            Const(0),
            strs(view.tl_ids),
            num(view.tl_versions),
            Const(None),
            Const(None),
        ],
        n_tl,
    )
    return {
        "gene": gene,
        "transcript": transcript,
        "translation": translation,
        "xref": xref,
        "object_xref": object_xref,
        "external_synonym": external_synonym,
    }


def events_text(session_id: int, events: Sequence[Event], num: Decimals) -> str:
    """``stable_id_event`` rows of one mapping session (schema column order)."""
    if not events:
        return ""
    kind, old, old_v, new, new_v, score = zip(*events, strict=True)
    old_null = np.fromiter((v is None for v in old_v), dtype=bool, count=len(events))
    new_null = np.fromiter((v is None for v in new_v), dtype=bool, count=len(events))
    old_versions = np.array([0 if v is None else v for v in old_v], dtype=np.int64)
    new_versions = np.array([0 if v is None else v for v in new_v], dtype=np.int64)
    return render_columns(
        [
            strs(old),
            num(old_versions, old_null),
            strs(new),
            num(new_versions, new_null),
            Const(session_id),
            strs(kind),
            [format_value(s) for s in score],
        ],
        len(events),
    )


def meta_rows(release: int, assembly: str = ASSEMBLY) -> list[tuple[object, ...]]:
    return [
        (1, None, "schema_type", "core"),
        (2, None, "schema_version", str(release)),
        (3, 1, "species.production_name", SPECIES),
        (4, 1, "species.scientific_name", SCIENTIFIC_NAME),
        (5, 1, "assembly.default", assembly),
        (6, 1, "assembly.name", assembly),
    ]


def seq_region_rows() -> list[tuple[object, ...]]:
    """The simulated chromosomes ``1``..``CHROMOSOMES`` (lengths beyond every slot a simulation can use)."""
    return [(k, str(k), 1, 2_000_000_000) for k in range(1, CHROMOSOMES + 1)]


def coord_system_rows(assembly: str = ASSEMBLY) -> list[tuple[object, ...]]:
    return [(1, 1, "chromosome", assembly, 1, "default_version")]


def mapping_session_row(
    session_id: int, old_release: int, new_release: int, old_assembly: str = ASSEMBLY, new_assembly: str = ASSEMBLY
) -> tuple[object, ...]:
    created = (_EPOCH + timedelta(days=91 * new_release)).strftime("%Y-%m-%d 00:00:00")
    return (
        session_id,
        database_name(old_release, old_assembly),
        database_name(new_release, new_assembly),
        str(old_release),
        str(new_release),
        old_assembly,
        new_assembly,
        created,
    )


# ------------------------------------------------------------------------------------------- gzip


def gzip_bytes(data: bytes, level: int) -> bytes:
    """Gzip with a fixed header (mtime 0, no file name), so equal input gives equal bytes."""
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


class _AppendOnlyGzip:
    """A gzip stream that grows; :meth:`snapshot` is a complete gzip file of everything so far."""

    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._head = bytearray()

    def append(self, data: bytes) -> None:
        self._head += self._z.compress(data)

    def snapshot(self) -> bytes:
        return bytes(self._head) + self._z.copy().flush()


class DumpWriter:
    """Writes releases into ``{root}/release-{R}/mysql/{db}/`` (local folder)."""

    def __init__(self, root: str, compresslevel: int) -> None:
        self.root = root
        self.level = compresslevel
        self.files = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idtrack-sim-gzip")
        self._pending: deque[Future[None]] = deque()
        self._events = _AppendOnlyGzip(compresslevel)
        self._sessions: list[tuple[object, ...]] = []
        self._num = Decimals()
        self._schema = gzip_bytes(CORE_SCHEMA_SQL.encode(), compresslevel)
        self._external_db = gzip_bytes(format_rows(EXTERNAL_DB_ROWS).encode(), compresslevel)
        self._regions = {
            a: {
                "seq_region": gzip_bytes(format_rows(seq_region_rows()).encode(), compresslevel),
                "coord_system": gzip_bytes(format_rows(coord_system_rows(a)).encode(), compresslevel),
            }
            for a in (ASSEMBLY, OLD_ASSEMBLY)
        }
        self._frozen: tuple[ReleaseView, str, bytes, list[tuple[object, ...]]] | None = None

    def _submit(self, task: Callable[[], None]) -> None:
        self._pending.append(self._pool.submit(task))
        while len(self._pending) > _MAX_PENDING:
            self._pending.popleft().result()

    def _write(self, path: str, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)

    def _write_text(self, path: str, text: str) -> None:
        self._submit(lambda: self._write(path, gzip_bytes(text.encode(), self.level)))
        self.files += 1

    def add_session(
        self,
        old_release: int,
        new_release: int,
        events: Sequence[Event],
        old_assembly: str = ASSEMBLY,
        new_assembly: str = ASSEMBLY,
    ) -> None:
        """Record the mapping session between two consecutive releases and its events."""
        session_id = len(self._sessions) + 1
        self._sessions.append(mapping_session_row(session_id, old_release, new_release, old_assembly, new_assembly))
        chunk = events_text(session_id, events, self._num).encode()
        self._submit(lambda: self._events.append(chunk))

    def write_release(self, release: int, view: ReleaseView, assembly: str = ASSEMBLY) -> str:
        """Write every table of one release; returns the database folder."""
        events = self._events.snapshot
        return self._write_database(self.root, release, view, assembly, events, list(self._sessions))

    def freeze(self, view: ReleaseView, assembly: str) -> None:
        """Keep this release's gene set, history and sessions: :meth:`write_frozen_release` republishes them."""
        self._pending_barrier()
        self._frozen = (view, assembly, self._events.snapshot(), list(self._sessions))

    def write_frozen_release(self, release: int) -> str:
        """Republish the frozen release as ``release`` in the older assembly's tree (``grch37/release-R/…``):
        the same genes and names, history up to the frozen release (Ensembl's GRCh37 databases after 75)."""
        if self._frozen is None:
            raise ValueError("no frozen release to republish")
        view, assembly, events, sessions = self._frozen
        root = os.path.join(self.root, OLD_ASSEMBLY_TREE)
        return self._write_database(root, release, view, assembly, lambda: events, sessions)

    def _write_database(
        self,
        root: str,
        release: int,
        view: ReleaseView,
        assembly: str,
        events: Callable[[], bytes],
        sessions: list[tuple[object, ...]],
    ) -> str:
        db = database_name(release, assembly)
        folder = os.path.join(root, f"release-{release}", "mysql", db)
        os.makedirs(folder, exist_ok=True)
        for table, text in release_tables(view, self._num, assembly).items():
            self._write_text(os.path.join(folder, f"{table}.txt.gz"), text)
        self._write_text(os.path.join(folder, "meta.txt.gz"), format_rows(meta_rows(release, assembly)))
        self._write_text(os.path.join(folder, "mapping_session.txt.gz"), format_rows(sessions))
        events_path = os.path.join(folder, "stable_id_event.txt.gz")
        self._submit(lambda: self._write(events_path, events()))
        schema, external_db = self._schema, self._external_db
        self._submit(lambda: self._write(os.path.join(folder, f"{db}.sql.gz"), schema))
        self._submit(lambda: self._write(os.path.join(folder, "external_db.txt.gz"), external_db))
        for table, data in self._regions[assembly].items():
            path = os.path.join(folder, f"{table}.txt.gz")
            self._submit(lambda path=path, data=data: self._write(path, data))
        self.files += 3 + len(self._regions[assembly])
        return folder

    def _pending_barrier(self) -> None:
        """Wait for the writes queued so far (the events stream must hold every session before a freeze)."""
        while self._pending:
            self._pending.popleft().result()

    def close_quietly(self) -> None:
        """Abandon pending writes (after a failure elsewhere) without raising."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Wait for every pending write; re-raise the first failure."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
