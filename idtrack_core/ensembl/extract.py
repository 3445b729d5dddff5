"""Release extracts: one (species, assembly, release) of Ensembl normalized to small Parquet tables.

Tables (DESIGN §3): ``genes``, ``transcripts`` (with their location: ``seq_region``, start, end, strand and the
``region_class`` of :mod:`.regions`), ``translations`` (stable id, version, parent), ``xrefs``, ``synonyms``,
``history`` (``stable_id_event`` joined with ``mapping_session``), ``sessions`` (``mapping_session``: releases,
database names, assemblies, creation dates), ``gene_archive`` and ``peptide_archive`` (Ensembl's archive of the
structure of old gene versions), plus ``manifest.json``.

History: every Ensembl core database carries the cumulative ``stable_id_event`` of its species, so reading it
in full for every release makes a run of releases quadratic. ``extract_release(..., history="new")`` reads only the
mapping sessions that the previous database at the source (same species and assembly) lacks: the ``stable_id_event``
and ``gene_archive`` rows of those sessions and the ``peptide_archive`` rows they refer to (both archives are
cumulative too), while ``sessions`` always lists every session (a small table). The manifest's ``history`` entry says
which (``{"scope": "all"}`` or ``{"scope": "new", "since": {"release", "database"}}``), and
a snapshot built from a chain of such extracts holds the same history as one built from complete extracts
(:func:`idtrack_core.graph.build_snapshot` checks that the chain is unbroken). ``history="all"`` (the default)
gives an extract that is complete on its own.

Normalization rules for real-world quirks: stable ids that are NULL, empty or ``0`` are NULL; versions
that are NULL or ``0`` are NULL; exact duplicate rows are dropped; pre-65 ``{object}_stable_id`` tables are
joined in; tables absent from old or trimmed databases (translation, external_synonym, the region and archive
tables) give empty tables and are listed in the manifest (``absent_source_tables``; ``archive`` says whether
the gene and peptide archives were there); text that is not valid UTF-8 is read as Latin-1 and counted per table
in the manifest (``non_utf8_values``).

A database missing what every core database has is refused (:func:`check_required_rows`): no gene, or
cross-references without their links (or links without cross-references). Every table is checked against its
contract (:mod:`.contracts`, with Arrow kernels) before it is returned; the tables stay Arrow tables up to the
Parquet writer.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from idtrack_core import __version__, storage
from idtrack_core.ensembl.contracts import ARROW_TYPES, CONTRACTS, PANDAS_DTYPES, check_table
from idtrack_core.ensembl.databases import CoreDatabase, RowFilter
from idtrack_core.ensembl.mysqldump import non_utf8_values, table_to_frame, to_int64
from idtrack_core.ensembl.regions import SOURCE_COLUMNS, SeqRegions, classify_regions, locate
from idtrack_core.ensembl.sources import EnsemblSource, find_database, previous_database
from idtrack_core.errors import EmptyTableError, ExtractValidationError, MissingTableError, SnapshotError
from idtrack_core.formats import EXTRACT_FORMAT_VERSION

log = logging.getLogger(__name__)

_REGION_TABLES = ("seq_region", "coord_system", "assembly_exception", "seq_region_attrib", "attrib_type")
_ARCHIVE_TABLES = ("gene_archive", "peptide_archive")
_OPTIONAL_SOURCE_TABLES = {"translation", "external_synonym", "meta", *_REGION_TABLES, *_ARCHIVE_TABLES}
_OBJECT_TYPES = {"Gene": "gene", "Transcript": "transcript", "Translation": "translation"}
HistoryScope = Literal["all", "new"]


@dataclass(frozen=True)
class ReleaseExtract:
    """The normalized tables of one release (Arrow; :attr:`tables` gives them as pandas) plus its manifest."""

    species: str
    assembly: str
    release: int
    database: str
    arrow: dict[str, pa.Table] = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables as pandas DataFrames with nullable dtypes (converted once, when first asked for)."""
        return {name: t.to_pandas(types_mapper=storage.nullable_type) for name, t in self.arrow.items()}


class _Reader:
    """Reads source tables of one database as Arrow tables, counting the rows read and the tables absent."""

    def __init__(self, source: EnsemblSource, db: CoreDatabase) -> None:
        self.source, self.db = source, db
        self.source_rows: dict[str, int] = {}
        self.non_utf8: dict[str, int] = {}
        self.absent: list[str] = []
        self.regions_classified_by: str | None = None

    def optional(self, table: str, columns: list[str]) -> pa.Table | None:
        """The table, or None (recorded as absent) when the database does not have it."""
        if self.columns_of(table) is None:
            self.absent.append(table)
            return None
        return self.read(table, columns)

    def columns_of(self, table: str) -> list[str] | None:
        schema = self.source.table_schema(self.db, table)
        return None if schema is None else schema.column_names

    def read(self, table: str, columns: list[str], rows: RowFilter | None = None) -> pa.Table:
        """``columns`` of the table (int64, float64 or string; a column the table lacks is NULL strings); an
        optional table that is absent gives no rows."""
        available = self.columns_of(table)
        if available is None:
            if table not in _OPTIONAL_SOURCE_TABLES:
                self.source.read_arrow(self.db, table, columns)  # raises the source's own MissingTableError
                raise MissingTableError(f"{self.source.url}: database {self.db.name} has no table {table!r}")
            self.absent.append(table)
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        started = time.perf_counter()
        t = self.source.read_arrow(self.db, table, [c for c in columns if c in available], rows)
        for c in columns:
            if c not in t.column_names:
                t = t.append_column(c, pa.nulls(t.num_rows, pa.string()))
        self.source_rows[table] = t.num_rows
        if non_utf8 := non_utf8_values(t):
            self.non_utf8[table] = non_utf8
            log.warning("%s.%s: %d values not valid UTF-8, read as Latin-1", self.db.name, table, non_utf8)
        log.info("%s.%s: %d rows in %.2fs", self.db.name, table, t.num_rows, time.perf_counter() - started)
        return t.select(columns).replace_schema_metadata(None)


def _clean_ids(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """Stable ids trimmed; empty and ``0`` (old databases' "none") become NULL."""
    ids = pc.utf8_trim_whitespace(ids if ids.type == pa.string() else ids.cast(pa.string()))
    return pc.if_else(pc.is_in(ids, pa.array(["", "0"])), pa.scalar(None, pa.string()), ids)


def _positive(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Integers with those ``<= 0`` NULL."""
    return pc.if_else(pc.less_equal(values, 0), pa.scalar(None, pa.int64()), values)


def _clean_versions(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Versions as integers (what is not a number is NULL); NULL or ``<= 0`` is NULL."""
    return _positive(to_int64(values, errors="coerce"))


def _where(mask: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``values`` where ``mask`` is true, NULL elsewhere (and where ``mask`` is NULL)."""
    return pc.if_else(pc.fill_null(mask, False), values, pa.scalar(None, values.type))


def _set(table: pa.Table, column: str, values: pa.ChunkedArray | pa.Array) -> pa.Table:
    """``table`` with ``column`` replaced by ``values`` (in place in the column order)."""
    return table.set_column(table.column_names.index(column), column, values)


def _lookup(keys: pa.ChunkedArray, table: pa.Table, key: str, value: str, db: str) -> pa.ChunkedArray:
    """For each of ``keys``, ``value`` of the row of ``table`` whose ``key`` equals it (NULL if none; an absent
    table's columns are NULL strings, hence the cast).

    Raises
    ------
    ExtractValidationError
        ``key`` (the table's primary key in database ``db``) repeats: which row is meant cannot be told.
    """
    known = table.column(key).combine_chunks()
    if len(pc.unique(known)) != len(known):
        counts = pc.value_counts(known)
        repeated = sorted(counts.field("values").filter(pc.greater(counts.field("counts"), 1)).to_pylist())
        raise ExtractValidationError(
            f"{db}: {key} repeats in table {key.removesuffix('_id')} ({len(repeated)} values, e.g. {repeated[:5]}): "
            "the dump is corrupt or was concatenated"
        )
    positions = pc.index_in(keys.cast(known.type), value_set=known)
    return table.column(value).take(positions)


def _join(left: pa.Table, right: pa.Table, key: str, how: Literal["inner", "left outer"] = "inner") -> pa.Table:
    """``left`` joined with ``right`` on ``key``: left's columns, then right's others. When right's key is unique
    and never NULL (as the primary keys of source tables are) each row looks its match up (faster than Arrow's
    hash join, same rows); otherwise Arrow's hash join gives every match."""
    keys = right.column(key).combine_chunks()
    if keys.null_count or len(pc.unique(keys)) != len(keys):
        return left.join(right, key, join_type=how, use_threads=False)
    positions = pc.index_in(left.column(key), value_set=keys)
    if how == "inner":
        matched = pc.is_valid(positions)
        left, positions = left.filter(matched), positions.filter(matched)
    found = right.drop_columns([key]).take(positions)
    return pa.Table.from_arrays([*left.columns, *found.columns], names=[*left.column_names, *found.column_names])


def _objects(reader: _Reader, obj: str, extra: list[str]) -> pa.Table:
    """Rows of ``gene``/``transcript``/``translation`` with internal id, stable id and version.

    Before release 65 stable ids lived in ``{obj}_stable_id``; they are joined in here.
    """
    key = f"{obj}_id"
    cols = reader.columns_of(obj)
    if cols is None or "stable_id" in cols:
        table = reader.read(obj, [key, "stable_id", "version", *extra])
    else:
        base = reader.read(obj, [key, *extra])
        ids = reader.read(f"{obj}_stable_id", [key, "stable_id", "version"])
        joined = _join(base, ids, key, "left outer")
        table = joined.select([key, "stable_id", "version", *extra])
    table = _set(table, "stable_id", _clean_ids(table.column("stable_id")))
    table = _set(table, "version", _clean_versions(table.column("version")))
    dropped = table.column("stable_id").null_count
    if dropped:
        log.warning("%s: %d %s rows without a stable id dropped", reader.db.name, dropped, obj)
    return table.filter(pc.is_valid(table.column("stable_id")))


def _table(name: str, table: pa.Table, by: list[str]) -> pa.Table:
    """Conform ``table`` to extract table ``name`` (its contract's columns and types), sort by ``by`` then every
    other column (a total order: same rows, same bytes), NULLs first, and drop exact duplicates."""
    columns = CONTRACTS[name].columns
    table = pa.table({c.name: table.column(c.name).cast(ARROW_TYPES[c.type]) for c in columns}).combine_chunks()
    keys = [*by, *(c for c in table.column_names if c not in by)]
    ordered = table.sort_by([(c, "ascending", "at_start") for c in keys])
    return ordered.filter(_first_of_runs(ordered))


def _first_of_runs(table: pa.Table) -> pa.Array:
    """Of a sorted table, which rows differ from the row before (duplicates are adjacent: keeping these drops
    them). Floats are compared by their bits, as Arrow's grouping does (NaN equals NaN)."""
    if table.num_rows < 2:
        return pa.repeat(True, table.num_rows)
    same = pa.repeat(True, table.num_rows - 1)
    for column in table.columns:
        values = column.combine_chunks()
        if pa.types.is_floating(values.type):
            values = values.view(pa.int64())
        before, after = values.slice(0, len(values) - 1), values.slice(1)
        equal = pc.fill_null(pc.equal(before, after), False)
        both_null = pc.and_(pc.is_null(before), pc.is_null(after))
        same = pc.and_(same, pc.or_(equal, both_null))
    return pa.concat_arrays([pa.array([True]), pc.invert(same)])


def normalize_database(
    source: EnsemblSource, db: CoreDatabase, since: CoreDatabase | None = None
) -> tuple[dict[str, pa.Table], _Reader]:
    """Read one core database and normalize it into the extract tables.

    With ``since`` (an earlier database of the species) the history holds only the mapping sessions ``since``
    lacks."""
    r = _Reader(source, db)
    regions = _seq_regions(r)
    genes = locate(_objects(r, "gene", ["biotype", *SOURCE_COLUMNS]), regions)
    transcripts = locate(_objects(r, "transcript", ["gene_id", "biotype", *SOURCE_COLUMNS]), regions)
    translations = _objects(r, "translation", ["transcript_id"])
    objects = {"gene": genes, "transcript": transcripts, "translation": translations}
    transcripts = transcripts.append_column(
        "gene_stable_id", _lookup(transcripts.column("gene_id"), genes, "gene_id", "stable_id", r.db.name)
    )
    translations = translations.append_column(
        "transcript_stable_id",
        _lookup(translations.column("transcript_id"), transcripts, "transcript_id", "stable_id", r.db.name),
    )
    by = ["stable_id", "version"]
    tables = {
        "genes": _table("genes", genes, by),
        "transcripts": _table("transcripts", transcripts, by),
        "translations": _table("translations", translations, by),
    }
    tables["xrefs"], named = _xrefs(r, objects)
    tables["synonyms"] = _synonyms(r, named)
    known = None if since is None else _session_ids(source, since)
    rows = RowFilter.of("mapping_session_id", known, exclude=True) if known else None
    tables["history"], tables["sessions"] = _history(r, rows)
    tables["gene_archive"], tables["peptide_archive"] = _archive(r, rows)
    r.regions_classified_by = regions.classified_by
    return tables, r


def _seq_regions(r: _Reader) -> SeqRegions:
    columns = {
        "seq_region": ["seq_region_id", "name", "coord_system_id"],
        "coord_system": ["coord_system_id", "name"],
        "assembly_exception": ["seq_region_id", "exc_type"],
        "seq_region_attrib": ["seq_region_id", "attrib_type_id"],
        "attrib_type": ["attrib_type_id", "code"],
    }
    tables = (r.optional(t, columns[t]) for t in _REGION_TABLES)
    return classify_regions(*(None if t is None else table_to_frame(t) for t in tables))


def _archive(r: _Reader, sessions: RowFilter | None) -> tuple[pa.Table, pa.Table]:
    """``gene_archive`` and ``peptide_archive`` (empty when the database has none).

    With ``sessions`` (the mapping sessions to read) ``gene_archive`` holds the rows of those sessions and
    ``peptide_archive`` the peptides they refer to: like ``stable_id_event``, both archives are cumulative."""
    sides = ("gene", "transcript", "translation")
    columns = [c for s in sides for c in (f"{s}_stable_id", f"{s}_version")]
    genes = r.read("gene_archive", [*columns, "peptide_archive_id", "mapping_session_id"], sessions)
    for side in sides:
        ids = _clean_ids(genes.column(f"{side}_stable_id"))
        genes = _set(genes, f"{side}_stable_id", ids)
        genes = _set(genes, f"{side}_version", _where(pc.is_valid(ids), _clean_versions(genes[f"{side}_version"])))
    genes = genes.filter(pc.is_valid(genes.column("gene_stable_id")))
    peptide = _positive(to_int64(genes.column("peptide_archive_id")))  # 0: no peptide
    genes = _set(genes, "peptide_archive_id", peptide)
    referenced = None if sessions is None else RowFilter.of("peptide_archive_id", peptide.drop_null().to_pylist())
    peptides = r.read("peptide_archive", ["peptide_archive_id", "md5_checksum", "peptide_seq"], referenced)
    return (
        _table("gene_archive", genes, ["gene_stable_id", "gene_version", "mapping_session_id"]),
        _table("peptide_archive", peptides, ["peptide_archive_id"]),
    )


def _xrefs(r: _Reader, objects: dict[str, pa.Table]) -> tuple[pa.Table, pa.Table]:
    """The ``xrefs`` table, and the names of its cross-references (xref id, database, accession, label; a row
    per ``xref`` row linked to an object)."""
    links = r.read("object_xref", ["ensembl_id", "ensembl_object_type", "xref_id"])
    xref = r.read("xref", ["xref_id", "external_db_id", "dbprimary_acc", "display_label"])
    dbs = r.read("external_db", ["external_db_id", "db_name", "db_display_name"])
    dbs = _set(dbs, "db_display_name", pc.coalesce(dbs.column("db_display_name"), dbs.column("db_name")))
    parts = []
    for source_type, obj in _OBJECT_TYPES.items():
        sel = links.filter(pc.fill_null(pc.equal(links.column("ensembl_object_type"), source_type), False))
        ids = _lookup(sel.column("ensembl_id"), objects[obj], f"{obj}_id", "stable_id", r.db.name)
        kind = pa.repeat(pa.scalar(obj, pa.string()), sel.num_rows)
        parts.append(pa.table({"ensembl_id": ids, "object_type": kind, "xref_id": sel.column("xref_id")}))
    linked = pa.concat_tables(parts)
    linked = linked.filter(pc.is_valid(linked.column("ensembl_id")))
    used = xref.filter(pc.is_in(xref.column("xref_id"), value_set=linked.column("xref_id").combine_chunks()))
    named = _join(used, dbs, "external_db_id")
    named = named.rename_columns(["primary_accession" if c == "dbprimary_acc" else c for c in named.column_names])
    for c in ("primary_accession", "display_label"):
        named = _set(named, c, pc.fill_null(named.column(c), ""))
    out = _join(linked, named, "xref_id")
    by = ["object_type", "ensembl_id", "db_name", "primary_accession", "xref_id"]
    return _table("xrefs", out, by), named.select(["xref_id", "db_name", "primary_accession", "display_label"])


def _synonyms(r: _Reader, named: pa.Table) -> pa.Table:
    """``external_synonym`` rows of the cross-references ``named`` lists (xref id, database, accession, label)."""
    syn = r.read("external_synonym", ["xref_id", "synonym"])
    syn = _set(syn, "xref_id", to_int64(syn.column("xref_id")))
    text = syn.column("synonym")
    syn = _set(syn, "synonym", pc.utf8_trim_whitespace(text if text.type == pa.string() else text.cast(pa.string())))
    syn = syn.filter(pc.fill_null(pc.not_equal(syn.column("synonym"), ""), False))
    return _table("synonyms", _join(syn, named, "xref_id"), ["xref_id", "synonym"])


def _session_ids(source: EnsemblSource, db: CoreDatabase) -> set[int]:
    """The mapping session ids ``db`` has (none when it has no ``mapping_session`` table)."""
    if source.table_schema(db, "mapping_session") is None:
        return set()
    ids = source.read_arrow(db, "mapping_session", ["mapping_session_id"]).column("mapping_session_id")
    return {int(i) for i in ids.drop_null().to_pylist()}


def _history(r: _Reader, rows: RowFilter | None) -> tuple[pa.Table, pa.Table]:
    """``stable_id_event`` (the sessions ``rows`` selects, or all) joined with ``mapping_session``, and
    ``mapping_session`` itself — always every session: it is small, and says where a frozen gene set stands."""
    events = r.read(
        "stable_id_event",
        [
            "old_stable_id",
            "old_version",
            "new_stable_id",
            "new_version",
            "mapping_session_id",
            "type",
            "score",
        ],
        rows,
    )
    sessions = _first_of_each(r.read("mapping_session", _SESSION_COLUMNS), "mapping_session_id")
    for c in _SESSION_COLUMNS[1:]:
        text = sessions.column(c)
        sessions = _set(sessions, c, pc.utf8_trim_whitespace(text.cast(pa.string())))
    for side in ("old", "new"):
        events = _set(events, f"{side}_stable_id", _clean_ids(events.column(f"{side}_stable_id")))
        events = _set(events, f"{side}_version", _clean_versions(events.column(f"{side}_version")))
    events = events.filter(pc.or_(pc.is_valid(events["old_stable_id"]), pc.is_valid(events["new_stable_id"])))
    releases = sessions.select(["mapping_session_id", "old_release", "new_release"])
    out = _join(events, releases, "mapping_session_id", "left outer")
    order = [
        "mapping_session_id",
        "type",
        "old_stable_id",
        "new_stable_id",
        "old_version",
        "new_version",
        "score",
    ]
    return _table("history", out, order), _table("sessions", sessions, ["mapping_session_id"])


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """The first row of ``table`` for each value of ``key`` (NULL counts as one value)."""
    numbered = table.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    return table.take(numbered.group_by(key, use_threads=False).aggregate([("_row", "min")]).column("_row_min"))


_SESSION_COLUMNS = CONTRACTS["sessions"].column_names
"""``mapping_session`` columns read: the ``sessions`` table holds them as they are."""


def extract_release(
    source: EnsemblSource, species: str, assembly: str | None, release: int, history: HistoryScope = "all"
) -> ReleaseExtract:
    """Read and normalize one release from ``source``; validate every table.

    Parameters
    ----------
    source
        Where the core databases are (dumps or MySQL).
    species, assembly, release
        Which database (``assembly=None``: any).
    history
        ``"all"``: the ``history`` table holds every mapping session of the database, so the extract is complete
        on its own. ``"new"``: only the sessions the previous database at the source (same species and
        assembly) lacks, so extracting every release reads each session once; snapshots are built from such
        extracts together with those of the earlier releases. The manifest's ``history`` entry says which.

    Returns
    -------
    ReleaseExtract
        The validated tables and the manifest (without table checksums until written).

    Raises
    ------
    UnknownSpeciesError, UnknownReleaseError
        No such database at the source.
    MissingTableError, DumpFormatError, ExtractValidationError
        A required table is absent, a dump is malformed, or a normalized table fails its schema.
    """
    if history not in ("all", "new"):
        raise ValueError(f"history must be 'all' or 'new', not {history!r}")
    db = find_database(source, species, assembly, release)
    since = previous_database(source, db) if history == "new" else None
    started = time.perf_counter()
    tables, reader = normalize_database(source, db, since)
    where = f"{source.url} {db.name}"
    check_required_rows(tables, reader.source_rows, where)
    for name, table in tables.items():
        check_table(name, table, where)
    meta = _meta(reader)
    manifest = {
        "format_version": EXTRACT_FORMAT_VERSION,
        "producer": f"idtrack-atlas {__version__}",
        "species": db.species,
        "assembly": db.assembly,
        "release": db.release,
        "database": db.name,
        "source": source.url,
        "source_fingerprint": source.fingerprint(db),
        "ensembl_schema_version": meta.get("schema_version"),
        "assembly_name": meta.get("assembly.default") or db.assembly,
        "source_rows": dict(sorted(reader.source_rows.items())),
        "non_utf8_values": dict(sorted(reader.non_utf8.items())),
        "absent_source_tables": sorted(set(reader.absent)),
        "archive": {t: t not in reader.absent for t in _ARCHIVE_TABLES},
        "regions_classified_by": reader.regions_classified_by,
        "history": history_scope(since),
        "tables": {},
    }
    log.info("extracted %s in %.1fs", db.name, time.perf_counter() - started)
    return ReleaseExtract(db.species, db.assembly, db.release, db.name, tables, manifest)


def history_scope(since: CoreDatabase | None) -> dict[str, Any]:
    """The manifest's ``history`` entry: every session (``since`` None) or those new since that database."""
    if since is None:
        return {"scope": "all"}
    return {"scope": "new", "since": {"release": since.release, "database": since.name}}


def history_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``history`` entry of an extract manifest (extracts written before it existed hold every session)."""
    return manifest.get("history") or {"scope": "all"}


def _meta(reader: _Reader) -> dict[str, str]:
    """The first value of the meta keys the manifest reports (``schema_version``, ``assembly.default``)."""
    meta = reader.read("meta", ["meta_key", "meta_value"]).drop_null()
    keys, values = meta.column("meta_key").to_pylist(), meta.column("meta_value").to_pylist()
    out = {}
    for key in ("schema_version", "assembly.default"):
        if key in keys:
            out[key] = str(values[keys.index(key)])
    return out


def check_required_rows(tables: dict[str, pa.Table], source_rows: dict[str, int], where: str) -> None:
    """Refuse a database whose dump lost rows every core database has.

    Raises
    ------
    EmptyTableError
        No gene (with a stable id), or ``xref`` or ``object_xref`` empty while the other is not. (A release without
        any cross-reference or history after releases that had some is refused when the snapshot is built; a
        0-byte ``.gz`` file is refused as truncated when it is read.)
    """
    rows = source_rows.get
    if not tables["genes"].num_rows:
        raise EmptyTableError(
            f"{where}: table 'gene' has no gene with a stable id ({rows('gene', 0)} rows): "
            "every core database has genes (a truncated or empty dump?)"
        )
    links, xrefs = rows("object_xref", 0), rows("xref", 0)
    if bool(links) != bool(xrefs):
        empty, full = ("xref", "object_xref") if links else ("object_xref", "xref")
        raise EmptyTableError(
            f"{where}: table {empty!r} is empty although {full!r} has {max(links, xrefs):,} rows: "
            "the cross-references are incomplete (a truncated or empty dump?)"
        )


def extract_files(extract: ReleaseExtract) -> dict[str, bytes]:
    """The Parquet files and manifest (with row counts and SHA-256 checksums) of an extract.

    The files are written from the Arrow tables with the schema metadata pandas would give them, so they are the
    bytes :func:`idtrack_core.storage.table_files` writes for the same tables as DataFrames."""
    files, info = {}, {}
    for name in CONTRACTS:
        table = extract.arrow[name]
        data = _parquet_bytes(table.replace_schema_metadata(_pandas_metadata(name)))
        files[f"{name}.parquet"] = data
        info[name] = {"file": f"{name}.parquet", "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}
    files[storage.MANIFEST] = storage.json_bytes({**extract.manifest, "tables": info})
    return files


def _parquet_bytes(table: pa.Table) -> bytes:
    """Parquet as :func:`idtrack_core.storage.parquet_bytes` writes it (zstd)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


@cache
def _pandas_metadata(name: str) -> dict[bytes, bytes]:
    """The schema metadata of extract table ``name`` written from pandas (an empty frame of its dtypes gives the
    same as a full one: the index is not kept)."""
    empty = pd.DataFrame({c.name: pd.Series(dtype=PANDAS_DTYPES[c.type]) for c in CONTRACTS[name].columns})
    return pa.Schema.from_pandas(empty, preserve_index=False).metadata


def write_extract(extract: ReleaseExtract, url: str, **storage_options: Any) -> dict[str, Any]:
    """Publish an extract at ``url`` atomically; return its manifest."""
    storage.publish_dir(url, extract_files(extract), **storage_options)
    return storage.read_json(storage.join(url, storage.MANIFEST), **storage_options)


def read_extract(url: str, verify: bool = False, **storage_options: Any) -> ReleaseExtract:
    """Load a published extract; with ``verify`` check every table's SHA-256 against the manifest."""
    manifest = storage.read_manifest(url, "release extract", EXTRACT_FORMAT_VERSION, **storage_options)
    tables = {}
    for name, info in manifest["tables"].items():
        file_url = storage.join(url, info["file"])
        data = storage.read_bytes(file_url, **storage_options)
        if verify and hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise SnapshotError(f"{storage.redact(file_url)}: checksum mismatch (corrupt or changed)")
        tables[name] = pq.read_table(pa.BufferReader(data))
    return ReleaseExtract(
        manifest["species"],
        manifest["assembly"],
        int(manifest["release"]),
        manifest["database"],
        tables,
        manifest,
    )
