"""Build an identifier graph snapshot from release extracts (DESIGN §4).

Extracts are consumed one at a time; every string is interned to an integer code on the way, so memory
holds integer rows, not per-release copies of the tables. Release sets are collapsed into runs.

One snapshot may combine assemblies of one species (Ensembl's GRCh37 databases, ``grch37/release-R``, beside the
GRCh38 ones): extracts are ordered by release, then by assembly age (the assembly that appears first is older),
so a release number held by two assemblies has two consecutive positions and a release set of an object present
in both is still one run. The newest assembly is the snapshot's primary ``assembly``; derived version changes
are computed within each assembly. An extract whose mapping sessions stop before its own release (a frozen gene
set republished later, like Ensembl's GRCh37 databases after release 75) stands in history at the newest release
its sessions reach (``history_release``): conversions from or to it start or end there.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from idtrack_core import __version__, storage
from idtrack_core.ensembl.extract import ReleaseExtract, extract_files, history_of
from idtrack_core.errors import SnapshotError
from idtrack_core.formats import EXTRACT_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSION
from idtrack_core.graph.interning import Interner, ObjectInterner, plain_strings
from idtrack_core.graph.intervals import runs
from idtrack_core.graph.model import ARCHIVE_TABLES, RELEASE_COLUMNS, Snapshot

log = logging.getLogger(__name__)
_HISTORY_COLUMNS = [
    "type",
    "old_obj",
    "old_version",
    "new_obj",
    "new_version",
    "score",
    "old_release",
    "new_release",
    "mapping_session_id",
]


@dataclass
class _Rows:
    """Integer columns of one table, added one extract at a time; the release position is kept once per extract."""

    width: int
    parts: list[list[np.ndarray]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def add(self, columns: list[np.ndarray], pos: int) -> None:
        """Add the rows (``columns``, of this table's width) of release position ``pos``."""
        self.parts.append(columns)
        self.positions.append(pos)

    def take(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Every column (int64) and the position of each row, emptying this table."""
        (parts, self.parts), (positions, self.positions) = (self.parts, []), (self.positions, [])
        columns = [_int64(np.concatenate([p[i] for p in parts])) if parts else _int64([]) for i in range(self.width)]
        return columns, np.repeat(_int64(positions), [len(p[0]) for p in parts])


def _int64(values: np.ndarray | list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@dataclass
class _Accumulator:
    """Integer rows of every extract added so far (strings interned; see :mod:`.interning`)."""

    ids: ObjectInterner = field(default_factory=ObjectInterner)
    names: Interner = field(default_factory=Interner)
    dbs: Interner = field(default_factory=Interner)
    versions: _Rows = field(default_factory=lambda: _Rows(2))
    parents: _Rows = field(default_factory=lambda: _Rows(2))
    xrefs: _Rows = field(default_factory=lambda: _Rows(4))
    synonyms: _Rows = field(default_factory=lambda: _Rows(4))
    history: list[pd.DataFrame] = field(default_factory=list)
    session_rows: dict[int, int] = field(default_factory=dict)
    regions: Interner = field(default_factory=Interner)
    locations: _Rows = field(default_factory=lambda: _Rows(5))
    sessions: list[pd.DataFrame] = field(default_factory=list)
    archives: dict[str, list[dict[str, pd.DataFrame]]] = field(default_factory=dict)
    no_archive: dict[str, pd.DataFrame] = field(default_factory=dict)  # empty archive tables (their columns)

    def add(self, ex: _Extract, pos: int) -> None:
        """Add one extract as release position ``pos``."""
        t = ex.tables
        x, s = t["xrefs"], t["synonyms"]
        tx = _valid(t["transcripts"]["gene_stable_id"])
        tl = _valid(t["translations"]["transcript_stable_id"])
        history = self._fresh_history(t["history"])
        old = history.filter(pc.is_valid(history["old_stable_id"]))
        new = history.filter(pc.is_valid(history["new_stable_id"]))
        located = {table: _valid(t[table]["seq_region"]) for table in ("genes", "transcripts")}
        refs = {
            "genes": (t["genes"]["stable_id"], "gene"),
            "transcripts": (t["transcripts"]["stable_id"], "transcript"),
            "translations": (t["translations"]["stable_id"], "translation"),
            "transcript_parent": (t["transcripts"]["gene_stable_id"].filter(tx), "gene"),
            "translation_parent": (t["translations"]["transcript_stable_id"].filter(tl), "transcript"),
            "xrefs": (x["ensembl_id"], x["object_type"]),
            "old": (old["old_stable_id"], old["type"]),
            "new": (new["new_stable_id"], new["type"]),
        }
        obj = dict(zip(refs, self.ids.batch(list(refs.values())), strict=True))
        obj["transcript_child"] = obj["transcripts"][tx]  # subsets of columns coded above: no second lookup
        obj["translation_child"] = obj["translations"][tl]
        for table in ("genes", "transcripts", "translations"):
            version = t[table]["version"].fill_null(-1).to_numpy().astype(np.int64)
            self.versions.add([obj[table], version], pos)
        for child in ("transcript", "translation"):
            codes = obj[f"{child}_child"]
            self.parents.add([codes, obj[f"{child}_parent"]], pos)
        x_db, s_db = self._db_codes(x, s)
        columns = [x["primary_accession"], x["display_label"], s["primary_accession"], s["display_label"], s["synonym"]]
        acc, label, s_acc, s_label, s_syn = self.names.batch(columns)
        self.xrefs.add([obj["xrefs"], x_db, acc, label], pos)
        self.synonyms.add([s_db, s_acc, s_label, s_syn], pos)
        self._add_history(history, obj["old"], obj["new"])
        for table in ("genes", "transcripts"):
            self._add_locations(t[table].filter(located[table]), obj[table][located[table]], pos, ex.assembly_name)
        self.sessions.append(ex.frames["sessions"])
        self._add_archive(ex)

    def _add_locations(self, located: pa.Table, obj: np.ndarray, pos: int, assembly: str) -> None:
        """Rows (object, region, start, end, strand, position) of located genes or transcripts; a region is
        ``assembly<TAB>seq_region<TAB>region_class``."""
        region = self._region_codes(located, assembly)
        start, end = (located[c].to_numpy().astype(np.int64) for c in ("seq_region_start", "seq_region_end"))
        strand = located["seq_region_strand"].fill_null(0).to_numpy().astype(np.int64)
        self.locations.add([obj, region, start, end, strand], pos)

    def _db_codes(self, xrefs: pa.Table, synonyms: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The code of ``db_name<TAB>db_display_name`` of each xref and synonym row: the few distinct database
        names (numbered in order of first appearance by ``dictionary_encode``) are joined and interned in that
        order, as the rows' strings would be."""
        names = pa.concat_arrays([plain_strings(xrefs["db_name"]), plain_strings(synonyms["db_name"])])
        encoded = names.dictionary_encode()
        codes = self.dbs.codes(_db_pairs(encoded.dictionary, _display_names(xrefs)))[encoded.indices.to_numpy()]
        return codes[: xrefs.num_rows], codes[xrefs.num_rows :]

    def _region_codes(self, located: pa.Table, assembly: str) -> np.ndarray:
        """The region code of each row: the few distinct (seq_region, region_class) pairs are joined into strings
        and interned in order of first appearance, as the rows' strings would be."""
        seq = plain_strings(located["seq_region"]).dictionary_encode()
        cls = plain_strings(located["region_class"]).dictionary_encode()
        pair = seq.indices.to_numpy().astype(np.int64) * len(cls.dictionary) + cls.indices.to_numpy()
        _, first_row, inverse = np.unique(pair, return_index=True, return_inverse=True)
        appearance = np.argsort(first_row)  # distinct pairs in order of first appearance
        rows = pa.array(first_row[appearance])
        where = pc.binary_join_element_wise(
            assembly, seq.dictionary.take(seq.indices.take(rows)), cls.dictionary.take(cls.indices.take(rows)), "\t"
        )
        codes = np.empty(len(appearance), dtype=np.int64)
        codes[appearance] = self.regions.codes(where)
        return codes[inverse]

    def _add_archive(self, ex: _Extract) -> None:
        """Archives are cumulative like history: an extract holding every session replaces what its assembly had
        (when it has an archive at all); one holding the sessions new since an earlier release adds to it."""
        tables = {name: ex.frames[name] for name in ARCHIVE_TABLES}
        for name, table in tables.items():
            self.no_archive.setdefault(name, table.iloc[:0])
        if ex.history["scope"] != "all":
            self.archives.setdefault(ex.assembly, []).append(tables)
        elif len(tables["gene_archive"]):
            self.archives[ex.assembly] = [tables]

    def _fresh_history(self, h: pa.Table) -> pa.Table:
        """Rows of sessions not seen before, or seen with another row count (history is cumulative across an
        Ensembl species' databases: with complete extracts each session comes again in every later one)."""
        counts = h.group_by("mapping_session_id").aggregate([("mapping_session_id", "count")])
        fresh = []
        for session, n in zip(
            counts["mapping_session_id"].to_pylist(), counts["mapping_session_id_count"].to_pylist(), strict=True
        ):
            if self.session_rows.get(int(session)) != n:
                fresh.append(int(session))
                self.session_rows[int(session)] = max(self.session_rows.get(int(session), 0), int(n))
        return h.filter(pc.is_in(h["mapping_session_id"], value_set=pa.array(fresh, type=h["mapping_session_id"].type)))

    def _add_history(self, h: pa.Table, old: np.ndarray, new: np.ndarray) -> None:
        """Store history rows with object codes (``old``/``new``: codes of the rows whose id is known)."""
        if not h.num_rows:
            return
        out = pd.DataFrame({"type": h["type"].to_numpy(zero_copy_only=False)})
        for side, codes in (("old", old), ("new", new)):
            full = np.full(h.num_rows, -1, dtype=np.int64)
            full[pc.is_valid(h[f"{side}_stable_id"]).to_numpy(zero_copy_only=False)] = codes
            out[f"{side}_obj"] = full
            out[f"{side}_version"] = pd.Int64Dtype().__from_arrow__(h[f"{side}_version"])
        out["score"] = pd.Float64Dtype().__from_arrow__(h["score"])
        for c in ("old_release", "new_release"):
            out[c] = pd.StringDtype().__from_arrow__(plain_strings(h[c]))
        out["mapping_session_id"] = pd.Int64Dtype().__from_arrow__(h["mapping_session_id"])
        self.history.append(out[_HISTORY_COLUMNS])


def extract_digest(ex: ReleaseExtract) -> str:
    """SHA-256 of an extract's manifest (which holds every table's checksum)."""
    if not ex.manifest.get("tables"):
        return hashlib.sha256(extract_files(ex)[storage.MANIFEST]).hexdigest()
    return hashlib.sha256(storage.json_bytes(ex.manifest)).hexdigest()


def build_snapshot(
    extracts: Iterable[ReleaseExtract | str],
    snapshot_release: int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Snapshot:
    """Build a snapshot from release extracts (objects or URLs), keeping releases ≤ ``snapshot_release``.

    Parameters
    ----------
    extracts
        Release extracts of one species: at most one per (release, assembly); several assemblies may be combined
        (see the module docstring). An extract holding only the history new since an earlier release
        (``extract_release(..., history="new")``) needs that release's extract (same assembly) among them; the
        history and the archives are the union of every extract's mapping sessions.
    snapshot_release
        Keep only releases up to this one (which must have an extract).
    storage_options
        fsspec options for extract URLs.

    Returns
    -------
    Snapshot
        The snapshot; its manifest ``assembly`` is the primary (newest) assembly, ``assemblies`` lists all.

    Raises
    ------
    SnapshotError
        No extracts, several species, two extracts of one release and assembly, an unknown ``snapshot_release``,
        a broken history chain (the message names the extract and the release it needs), or an extract whose
        history or cross-references are empty after releases that had some (a truncated dump).
    """
    started = time.perf_counter()
    extracts = list(extracts)
    opts = storage_options or {}
    headers = _headers(extracts, opts)
    if not headers:
        raise SnapshotError("no release extracts to build a snapshot from")
    species = {h[1] for h in headers}
    if len(species) > 1:
        raise SnapshotError(f"extracts mix species: {sorted(species)}")
    keys = sorted((h[0], h[2]) for h in headers)
    if len(set(keys)) != len(keys):
        raise SnapshotError(f"two extracts of one release and assembly in {keys}")
    if snapshot_release is not None:
        if snapshot_release not in {r for r, _ in keys}:
            have = sorted({r for r, _ in keys})
            raise SnapshotError(f"snapshot release {snapshot_release} has no extract (have {have})")
        keys = [(r, a) for r, a in keys if r <= snapshot_release]
    _check_history_chain({(h[0], h[2]): h[3] for h in headers if (h[0], h[2]) in keys})
    age = assembly_ages(keys)
    keys.sort(key=lambda k: (k[0], age[k[1]]))
    by_key = {(h[0], h[2]): e for h, e in zip(headers, extracts, strict=True)}
    acc = _Accumulator()
    rows = []
    checked = _EmptiedCheck()
    for pos, key in enumerate(keys):
        ex = _read_extract(by_key[key], opts)
        checked.add(ex)
        acc.add(ex, pos)
        row = (
            ex.release,
            ex.database,
            ex.digest,
            ex.assembly,
            ex.assembly_name,
            ex.manifest.get("ensembl_schema_version"),
            _history_release(ex),
        )
        rows.append(row)
        log.info("snapshot: added release %s %s (%d/%d)", ex.release, ex.assembly, pos + 1, len(keys))
    releases = [r for r, _ in keys]
    positions_of = {a: [p for p, k in enumerate(keys) if k[1] == a] for a in age}
    tables = _finish(acc, releases, positions_of)
    tables["releases"] = pd.DataFrame(rows, columns=list(RELEASE_COLUMNS)).astype(
        {"release": "int64", "schema_version": "string", "history_release": "float64"}
    )
    primary = max(age, key=lambda a: age[a])
    identity = {
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "producer": f"idtrack-atlas {__version__}",
        "species": headers[0][1],
        "assembly": primary,
        "assemblies": sorted(age, key=lambda a: age[a]),
        "snapshot_release": releases[-1],
        "releases": [{"release": r, "database": d, "extract_sha256": s, "assembly": a} for r, d, s, a, *_ in rows],
    }
    manifest = {
        **identity,
        "content_sha256": hashlib.sha256(storage.json_bytes(identity)).hexdigest(),
        "rows": {name: len(df) for name, df in sorted(tables.items())},
    }
    log.info("snapshot built in %.1fs: %s", time.perf_counter() - started, manifest["rows"])
    return Snapshot(tables, manifest)


@dataclass(frozen=True)
class _Extract:
    """One extract as a snapshot reads it: its manifest and the manifest's digest, the tables (Arrow) of the graph
    (only the columns it needs), and the small tables it keeps whole (``sessions``, the archives) as pandas."""

    manifest: dict[str, Any]
    digest: str
    tables: dict[str, pa.Table]
    frames: dict[str, pd.DataFrame]

    @property
    def release(self) -> int:
        return int(self.manifest["release"])

    @property
    def assembly(self) -> str:
        return str(self.manifest["assembly"])

    @property
    def database(self) -> str:
        return str(self.manifest["database"])

    @property
    def assembly_name(self) -> str:
        """The assembly's name as the database's meta table gives it (``GRCh38``), else the extract's assembly."""
        return str(self.manifest.get("assembly_name") or self.assembly)

    @property
    def history(self) -> dict[str, Any]:
        """The manifest's ``history`` entry (which mapping sessions the extract holds)."""
        return history_of(self.manifest)


_LOCATION = ["seq_region", "seq_region_start", "seq_region_end", "seq_region_strand", "region_class"]
_NEEDED = {
    "genes": ["stable_id", "version", *_LOCATION],
    "transcripts": ["stable_id", "version", "gene_stable_id", *_LOCATION],
    "translations": ["stable_id", "version", "transcript_stable_id"],
    "xrefs": ["ensembl_id", "object_type", "db_name", "db_display_name", "primary_accession", "display_label"],
    "synonyms": ["db_name", "primary_accession", "display_label", "synonym"],
    "history": [
        "type",
        "old_stable_id",
        "old_version",
        "new_stable_id",
        "new_version",
        "score",
        "old_release",
        "new_release",
        "mapping_session_id",
    ],
}
_WHOLE = ("sessions", *ARCHIVE_TABLES)


def _read_extract(item: ReleaseExtract | str, opts: dict[str, Any]) -> _Extract:
    """What a snapshot needs of an extract object or URL (from a URL, only those columns are read)."""
    if isinstance(item, ReleaseExtract):
        tables = {n: item.arrow[n].select(c) for n, c in _NEEDED.items()}
        frames = {n: item.arrow[n].to_pandas(types_mapper=storage.nullable_type) for n in _WHOLE}
        return _Extract(item.manifest, extract_digest(item), tables, frames)
    manifest = storage.read_manifest(item, "release extract", EXTRACT_FORMAT_VERSION, **opts)

    def read(name: str, columns: list[str] | None = None) -> pa.Table:
        fs, path = storage.url_to_fs(storage.join(item, manifest["tables"][name]["file"]), **opts)
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns)

    tables = {name: read(name, columns) for name, columns in _NEEDED.items()}
    frames = {name: read(name).to_pandas(types_mapper=storage.nullable_type) for name in _WHOLE}
    return _Extract(manifest, hashlib.sha256(storage.json_bytes(manifest)).hexdigest(), tables, frames)


def _headers(
    extracts: Iterable[ReleaseExtract | str], opts: dict[str, Any]
) -> list[tuple[int, str, str, dict[str, Any]]]:
    """(release, species, assembly, history entry) of each extract, from its manifest."""
    out = []
    for e in extracts:
        m = (
            e.manifest
            if isinstance(e, ReleaseExtract)
            else storage.read_json(storage.join(e, storage.MANIFEST), **opts)
        )
        out.append((int(m["release"]), m["species"], m["assembly"], history_of(m)))
    return out


def assembly_ages(keys: Iterable[tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Sort key of each assembly: the first release it appears in (older assemblies first), then its name."""
    first: dict[str, int] = {}
    for release, assembly in keys:
        first[assembly] = min(release, first.get(assembly, release))
    return {a: (r, a) for a, r in first.items()}


def _history_release(ex: _Extract) -> float:
    """Where the extract stands in history: its release, or the newest release its mapping sessions reach when that
    is older (a frozen gene set republished in later releases, as Ensembl's GRCh37 databases after 75)."""
    reached = pd.to_numeric(ex.frames["sessions"]["new_release"], errors="coerce").dropna()
    reached = reached[reached <= ex.release]
    return float(reached.max()) if len(reached) and reached.max() < ex.release else float(ex.release)


def _check_history_chain(history: dict[tuple[int, str], dict[str, Any]]) -> None:
    """Every extract holding only the history new since a release needs that release's extract (same assembly)."""
    for (release, assembly), entry in sorted(history.items()):
        if entry["scope"] == "all":
            continue
        since = int(entry["since"]["release"])
        if (since, assembly) not in history or since >= release:
            have = sorted(r for r, a in history if a == assembly)
            raise SnapshotError(
                f"the extract of release {release} holds only the history new since release {since} "
                f"({entry['since']['database']}), whose extract is not among the inputs {have}: add it, "
                f"or extract release {release} with history='all'"
            )


class _EmptiedCheck:
    """Refuses an extract without history or cross-references after one with them.

    Ensembl's history is cumulative and every core database has cross-references: an empty table after a release
    that had rows means the dump lost it (``stable_id_event``/``mapping_session``, ``xref``/``object_xref``). An
    extract holding only the history new since an earlier release may have no history row when no session is new:
    it is refused when its ``sessions`` are empty, or when it has sessions the extract it continues lacks but no
    history row.
    """

    def __init__(self) -> None:
        self.earlier: dict[str, _Extract] = {}  # the first extract with rows, by table that must not empty out
        self.sessions: dict[tuple[int, str], set[int]] = {}  # the session ids of each extract added

    def add(self, ex: _Extract) -> None:
        """Check ``ex`` (extracts come in release order) and remember it."""
        ids = {int(i) for i in ex.frames["sessions"]["mapping_session_id"].dropna()}
        self.sessions[(ex.release, ex.assembly)] = ids
        for table, source_tables in (("history", "stable_id_event and mapping_session"), ("xrefs", "xref")):
            if ex.tables[table].num_rows:
                self.earlier.setdefault(table, ex)
            elif table in self.earlier and self._emptied(ex, table, ids):
                before = self.earlier[table]
                raise SnapshotError(
                    f"release {ex.release} ({ex.database}, from {ex.manifest.get('source')}) has no {table} rows "
                    f"although release {before.release} had {before.tables[table].num_rows:,}: its {source_tables} "
                    "tables are empty (a truncated dump?); fix the source and extract it again"
                )

    def _emptied(self, ex: _Extract, table: str, ids: set[int]) -> bool:
        if table != "history" or ex.history["scope"] == "all" or not ids:
            return True
        since = (int(ex.history["since"]["release"]), ex.assembly)
        return bool(ids - self.sessions.get(since, set()))


def _valid(column: pa.ChunkedArray) -> np.ndarray:
    """Boolean mask of the non-null values of ``column``."""
    return pc.is_valid(column).to_numpy(zero_copy_only=False)


def _display_names(xrefs: pa.Table) -> pa.Table:
    """Per database name of ``xrefs``, the display name its rows give it last (``db_name``,
    ``db_display_name_last``)."""
    return xrefs.group_by("db_name", use_threads=False).aggregate([("db_display_name", "last")])


def _db_pairs(db_names: pa.Array, display_names: pa.Table) -> pa.Array:
    """``db_name<TAB>db_display_name`` of each database name (the display name of :func:`_display_names`; the
    name itself when the xrefs do not name it)."""
    found = pc.index_in(db_names, value_set=display_names["db_name"])
    display = pc.coalesce(display_names["db_display_name_last"].take(found), db_names)
    return pc.binary_join_element_wise(db_names, display, "\t")


def _finish(acc: _Accumulator, releases: list[int], positions_of: dict[str, list[int]]) -> dict[str, pd.DataFrame]:
    types, ids, by_type = acc.ids.final()

    def remap(codes: np.ndarray) -> np.ndarray:
        return ObjectInterner.final_codes(codes, by_type)

    objects = pd.DataFrame({"obj": np.arange(len(ids), dtype=np.int32), "type": types, "stable_id": ids}).astype(
        {"type": "string", "stable_id": "string"}
    )
    names = acc.names.values.to_numpy(zero_copy_only=False)
    db_pairs = [s.split("\t", 1) for s in acc.dbs.values.to_pylist()]
    db_name = np.array([p[0] for p in db_pairs], dtype=object)
    db_display = np.array([p[1] for p in db_pairs], dtype=object)
    name_rank = acc.names.ranks()
    db_rank = np.unique(db_name.astype(str), return_inverse=True)[1] if len(db_name) else np.zeros(0, np.int64)

    (v_obj, v_version), v_pos = acc.versions.take()
    v_obj = remap(v_obj)
    (obj, version), first, last = runs([v_obj, v_version], v_pos)
    versions = pd.DataFrame({"obj": obj.astype(np.int32), "version": _nullable(version), "first": first, "last": last})
    changes = _version_changes_by_assembly(v_obj, v_version, v_pos, releases, positions_of, versions)
    del v_obj, v_version, v_pos

    (p_child, p_parent), p_pos = acc.parents.take()
    (child, parent), first, last = runs([remap(p_child), remap(p_parent)], p_pos)
    parents = pd.DataFrame(
        {"child": child.astype(np.int32), "parent": parent.astype(np.int32), "first": first, "last": last}
    )

    (x_obj, *x_names), x_pos = acc.xrefs.take()
    (obj, db, a, lab), first, last = runs([remap(x_obj), *x_names], x_pos)
    by_name = np.lexsort((first, name_rank[lab], name_rank[a], db_rank[db], obj))  # stable: ties keep run order
    obj, db, a, lab, first, last = (c[by_name] for c in (obj, db, a, lab, first, last))
    xrefs = pd.DataFrame(
        {
            "obj": obj.astype(np.int32),
            "db_name": db_name[db],
            "db_display_name": db_display[db],
            "accession": names[a],
            "label": names[lab],
            "first": first,
            "last": last,
        }
    ).astype({c: "string" for c in ("db_name", "db_display_name", "accession", "label")})

    (db, a, lab, syn), first, last = runs(*acc.synonyms.take())
    by_name = np.lexsort((first, name_rank[syn], name_rank[lab], name_rank[a], db_rank[db]))
    db, a, lab, syn, first, last = (c[by_name] for c in (db, a, lab, syn, first, last))
    synonyms = pd.DataFrame(
        {
            "db_name": db_name[db],
            "accession": names[a],
            "label": names[lab],
            "synonym": names[syn],
            "first": first,
            "last": last,
        }
    ).astype({c: "string" for c in ("db_name", "accession", "label", "synonym")})
    events = _events(acc, remap, changes, types)
    return {
        "objects": objects,
        "versions": versions,
        "parents": parents,
        "events": events,
        "xrefs": xrefs,
        "synonyms": synonyms,
        "locations": _locations(acc, remap),
        **_session_and_archive_tables(acc),
    }


def _locations(acc: _Accumulator, remap: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """Runs of (object, assembly, seq_region, start, end, strand, region class); a run never spans two
    assemblies."""
    (obj, *where), pos = acc.locations.take()
    (obj, region, start, end, strand), first, last = runs([remap(obj), *where], pos)
    parts = [s.split("\t", 2) for s in acc.regions.values.to_pylist()]
    assemblies = np.array([p[0] for p in parts], dtype=object)
    names = np.array([p[1] for p in parts], dtype=object)
    classes = np.array([p[2] for p in parts], dtype=object)
    return pd.DataFrame(
        {
            "obj": obj.astype(np.int32),
            "assembly": pd.array(assemblies[region], dtype="string"),
            "seq_region": pd.array(names[region], dtype="string"),
            "start": start,
            "end": end,
            "strand": strand.astype(np.int8),
            "region_class": pd.array(classes[region], dtype="string"),
            "first": first,
            "last": last,
        }
    )


def _session_and_archive_tables(acc: _Accumulator) -> dict[str, pd.DataFrame]:
    """``sessions`` (every mapping session, the newest extract's row winning) and the archive tables (each
    assembly's newest complete archive with the sessions added since, without duplicates)."""
    sessions = pd.concat(acc.sessions, ignore_index=True)
    sessions = sessions.drop_duplicates("mapping_session_id", keep="last").sort_values("mapping_session_id")
    out = {"sessions": sessions.reset_index(drop=True)}
    for name in ARCHIVE_TABLES:
        parts = [part[name] for a in sorted(acc.archives) for part in acc.archives[a]]
        table = pd.concat(parts, ignore_index=True).drop_duplicates() if parts else acc.no_archive[name]
        out[name] = table.sort_values(list(table.columns), kind="stable").reset_index(drop=True)
    return out


def _nullable(version: np.ndarray) -> pd.Series:
    return pd.Series(version, dtype="Int64").mask(version < 0)


def _events(
    acc: _Accumulator, remap: Callable[[np.ndarray], np.ndarray], changes: pd.DataFrame, obj_types: np.ndarray
) -> pd.DataFrame:
    cols = [*_HISTORY_COLUMNS, "old_time", "new_time", "source"]
    if acc.history:
        h = pd.concat(acc.history, ignore_index=True).drop_duplicates()
    else:
        h = pd.DataFrame({c: pd.Series(dtype="object") for c in _HISTORY_COLUMNS})
    for side in ("old", "new"):
        o = h[f"{side}_obj"].to_numpy(dtype=np.int64)
        h[f"{side}_obj"] = remap(o).astype(np.int32)
    h["source"] = "stable_id_event"
    derived = _unrecorded(changes, h, obj_types)
    if len(derived):
        h = pd.concat([h, derived], ignore_index=True)
    h = h.astype(
        {
            "type": "string",
            "old_version": "Int64",
            "new_version": "Int64",
            "score": "Float64",
            "old_release": "string",
            "new_release": "string",
            "mapping_session_id": "Int64",
            "source": "string",
        }
    )
    h["old_time"] = _release_times(h["old_release"])
    h["new_time"] = _release_times(h["new_release"])
    h = h.sort_values(
        [
            "old_time",
            "new_time",
            "type",
            "old_obj",
            "new_obj",
            "old_version",
            "new_version",
            "score",
            "source",
        ],
        kind="stable",
        na_position="first",
    )
    return h[cols].reset_index(drop=True)


def _release_times(labels: pd.Series) -> np.ndarray:
    """Release labels (``18.1``, ``114``) as numbers (NaN when not a number); few distinct labels, each parsed once."""
    codes, distinct = pd.factorize(labels)
    times = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    return np.where(codes >= 0, times[np.maximum(codes, 0)], np.nan)


def _version_changes_by_assembly(
    obj: np.ndarray,
    version: np.ndarray,
    pos: np.ndarray,
    releases: list[int],
    positions_of: dict[str, list[int]],
    versions: pd.DataFrame,
) -> pd.DataFrame:
    """Version changes between consecutive releases of each assembly (rows: object, version, position;
    ``versions``: their runs over all positions, which are the runs of an assembly holding every position)."""
    parts = []
    for positions in positions_of.values():
        if len(positions) == len(releases):
            parts.append(_version_changes(versions, releases))
            continue
        rank = np.full(len(releases), -1, dtype=np.int64)
        rank[positions] = np.arange(len(positions))
        sel = rank[pos] >= 0
        (o, v), first, last = runs([obj[sel], version[sel]], rank[pos[sel]])
        runs_of = pd.DataFrame({"obj": o.astype(np.int32), "version": _nullable(v), "first": first, "last": last})
        parts.append(_version_changes(runs_of, [releases[p] for p in positions]))
    return pd.concat(parts, ignore_index=True)


def _version_changes(versions: pd.DataFrame, releases: list[int]) -> pd.DataFrame:
    """Version changes between consecutive releases (``versions``: runs over positions into ``releases``)."""
    v = versions[versions["version"].notna()].sort_values(["obj", "first"], kind="stable")
    nxt = v.shift(-1)
    same = (v["obj"] == nxt["obj"]) & ((v["last"] + 1) == nxt["first"]) & (v["version"] != nxt["version"])
    same = same.fillna(False).astype(bool)
    a, b = v[same], nxt[same]
    rel = np.asarray(releases)
    derived = pd.DataFrame(
        {
            "old_obj": a["obj"].to_numpy(dtype=np.int32),
            "old_version": a["version"].to_numpy(),
            "new_obj": b["obj"].to_numpy(dtype=np.int32),
            "new_version": b["version"].astype("Int64").to_numpy(),
            "old_release": rel[a["last"].to_numpy(dtype=np.int64)].astype(str),
            "new_release": rel[b["first"].to_numpy(dtype=np.int64)].astype(str),
        }
    )
    return derived


def _unrecorded(derived: pd.DataFrame, history: pd.DataFrame, obj_types: np.ndarray) -> pd.DataFrame:
    """The derived version changes that no ``stable_id_event`` row records, as event rows."""
    if derived.empty:
        return derived.assign(type=[], score=[], mapping_session_id=[], source=[])
    recorded = history[history["old_obj"] == history["new_obj"]][["old_obj", "old_version", "new_version"]]
    key = ["old_obj", "old_version", "new_version"]
    merged = derived.merge(recorded.drop_duplicates().assign(_seen=True), on=key, how="left")
    derived = derived[merged["_seen"].isna().to_numpy()]
    return derived.assign(
        type=obj_types[derived["old_obj"].to_numpy()],
        score=pd.array([None] * len(derived), dtype="Float64"),
        mapping_session_id=pd.array([None] * len(derived), dtype="Int64"),
        source="version_change",
    )
