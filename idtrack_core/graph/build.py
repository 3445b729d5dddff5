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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from idtrack_core import __version__, storage
from idtrack_core.ensembl.extract import ReleaseExtract, extract_files, read_extract
from idtrack_core.ensembl.schemas import EXTRACT_SCHEMAS
from idtrack_core.errors import SnapshotError
from idtrack_core.graph.intervals import runs
from idtrack_core.graph.model import ARCHIVE_TABLES, RELEASE_COLUMNS, SNAPSHOT_FORMAT_VERSION, Snapshot

SNAPSHOT_CODE_VERSION = f"snapshot-{SNAPSHOT_FORMAT_VERSION}.1"
"""Changes whenever the snapshot of the same extracts would differ (part of its version id)."""

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


class Interner:
    """Assigns stable integer codes to hashable values in order of first appearance."""

    def __init__(self) -> None:
        self._codes: dict[object, int] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        known = self._codes
        items = values.tolist()
        return np.fromiter((known.setdefault(v, len(known)) for v in items), dtype=np.int64, count=len(items))

    @property
    def values(self) -> np.ndarray:
        return np.array(list(self._codes), dtype=object)


class ObjectInterner:
    """Codes of Ensembl objects keyed by (type, stable id): one stable id may name a gene and a transcript
    in quirky databases."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, int]] = {}
        self.types: list[str] = []
        self.ids: list[str] = []

    def codes(self, ids: pd.Series, typ: str | pd.Series) -> np.ndarray:
        values = np.asarray(ids.tolist(), dtype=object)
        types = (
            np.full(len(values), typ, dtype=object) if isinstance(typ, str) else np.asarray(typ.tolist(), dtype=object)
        )
        out = np.empty(len(values), dtype=np.int64)
        for t in pd.unique(types):
            sel = np.flatnonzero(types == t)
            known = self._by_type.setdefault(str(t), {})
            codes = []
            for v in values[sel].tolist():
                code = known.get(v)
                if code is None:
                    code = known[v] = len(self.ids)
                    self.ids.append(v)
                    self.types.append(str(t))
                codes.append(code)
            out[sel] = codes
        return out


@dataclass
class _Accumulator:
    ids: ObjectInterner = field(default_factory=ObjectInterner)
    names: Interner = field(default_factory=Interner)
    dbs: Interner = field(default_factory=Interner)
    versions: list[np.ndarray] = field(default_factory=list)
    parents: list[np.ndarray] = field(default_factory=list)
    xrefs: list[np.ndarray] = field(default_factory=list)
    synonyms: list[np.ndarray] = field(default_factory=list)
    history: list[pd.DataFrame] = field(default_factory=list)
    session_rows: dict[int, int] = field(default_factory=dict)
    regions: Interner = field(default_factory=Interner)
    locations: list[np.ndarray] = field(default_factory=list)
    sessions: list[pd.DataFrame] = field(default_factory=list)
    archives: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)

    def obj_codes(self, ids: pd.Series, typ: str | pd.Series) -> np.ndarray:
        return self.ids.codes(ids, typ)

    def add(self, ex: ReleaseExtract, pos: int) -> None:
        t = ex.tables
        for typ, table in (("gene", "genes"), ("transcript", "transcripts"), ("translation", "translations")):
            df = t[table]
            obj = self.obj_codes(df["stable_id"], typ)
            version = df["version"].fillna(-1).to_numpy(dtype=np.int64)
            self.versions.append(np.stack([obj, version, np.full(len(df), pos)]))
        for child_table, parent_col, child_type, parent_type in (
            ("transcripts", "gene_stable_id", "transcript", "gene"),
            ("translations", "transcript_stable_id", "translation", "transcript"),
        ):
            df = t[child_table]
            df = df[df[parent_col].notna()]
            child = self.obj_codes(df["stable_id"], child_type)
            parent = self.obj_codes(df[parent_col], parent_type)
            self.parents.append(np.stack([child, parent, np.full(len(df), pos)]))
        x = t["xrefs"]
        obj = self.obj_codes(x["ensembl_id"], x["object_type"])
        db = self.dbs.codes(x["db_name"].astype(object) + "\t" + x["db_display_name"].astype(object))
        acc, label = self.names.codes(x["primary_accession"]), self.names.codes(x["display_label"])
        self.xrefs.append(np.stack([obj, db, acc, label, np.full(len(x), pos)]))
        s = t["synonyms"]
        dbname = s["db_name"].astype(object)
        db_display = dict(zip(x["db_name"], x["db_display_name"], strict=True))
        db = self.dbs.codes(dbname + "\t" + dbname.map(db_display).fillna(dbname))
        cols = [self.names.codes(s[c]) for c in ("primary_accession", "display_label", "synonym")]
        self.synonyms.append(np.stack([db, *cols, np.full(len(s), pos)]))
        self._add_history(t["history"])
        self._add_locations(t, pos, _assembly_name(ex))
        self.sessions.append(t["sessions"])
        if not t["gene_archive"].empty:  # archives are cumulative: the newest of each assembly holds the rest
            self.archives[ex.assembly] = {name: t[name] for name in ARCHIVE_TABLES}

    def _add_locations(self, t: dict[str, pd.DataFrame], pos: int, assembly: str) -> None:
        for typ, table in (("gene", "genes"), ("transcript", "transcripts")):
            df = t[table]
            df = df[df["seq_region"].notna()]
            obj = self.obj_codes(df["stable_id"], typ)
            where = assembly + "\t" + df["seq_region"].astype(object) + "\t" + df["region_class"].astype(object)
            region = self.regions.codes(where)
            cols = [df[c].to_numpy(dtype=np.int64) for c in ("seq_region_start", "seq_region_end")]
            strand = df["seq_region_strand"].fillna(0).to_numpy(dtype=np.int64)
            self.locations.append(np.stack([obj, region, *cols, strand, np.full(len(df), pos)]))

    def _add_history(self, h: pd.DataFrame) -> None:
        """Keep rows of sessions not seen before (history is cumulative across an Ensembl species' DBs)."""
        counts = h.groupby("mapping_session_id").size()
        fresh = [int(s) for s, n in counts.items() if self.session_rows.get(int(s)) != n]
        h = h[h["mapping_session_id"].isin(fresh)]
        for s in fresh:
            self.session_rows[s] = max(self.session_rows.get(s, 0), int(counts[s]))
        if h.empty:
            return
        out = pd.DataFrame({"type": h["type"].to_numpy()})
        for side in ("old", "new"):
            ids = h[f"{side}_stable_id"]
            codes = np.full(len(h), -1, dtype=np.int64)
            known = ids.notna().to_numpy()
            codes[known] = self.obj_codes(ids[known], h["type"][known])
            out[f"{side}_obj"] = codes
            out[f"{side}_version"] = h[f"{side}_version"].to_numpy()
        for c in ("score", "old_release", "new_release", "mapping_session_id"):
            out[c] = h[c].to_numpy()
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
        (see the module docstring).
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
        No extracts, several species, two extracts of one release and assembly, or an unknown
        ``snapshot_release``.
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
    age = assembly_ages(keys)
    keys.sort(key=lambda k: (k[0], age[k[1]]))
    by_key = {(h[0], h[2]): e for h, e in zip(headers, extracts, strict=True)}
    acc = _Accumulator()
    rows = []
    earlier: dict[str, ReleaseExtract] = {}  # the first extract with rows, by table that must not empty out
    for pos, key in enumerate(keys):
        item = by_key[key]
        ex = item if isinstance(item, ReleaseExtract) else read_extract(item, **opts)
        _check_not_emptied(ex, earlier)
        acc.add(ex, pos)
        schema = ex.manifest.get("ensembl_schema_version")
        row = (
            ex.release,
            ex.database,
            extract_digest(ex),
            ex.assembly,
            _assembly_name(ex),
            schema,
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


def assembly_ages(keys: Iterable[tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Sort key of each assembly: the first release it appears in (older assemblies first), then its name."""
    first: dict[str, int] = {}
    for release, assembly in keys:
        first[assembly] = min(release, first.get(assembly, release))
    return {a: (r, a) for a, r in first.items()}


def _history_release(ex: ReleaseExtract) -> float:
    """Where the extract stands in history: its release, or the newest release its mapping sessions reach when that
    is older (a frozen gene set republished in later releases, as Ensembl's GRCh37 databases after 75)."""
    reached = pd.to_numeric(ex.tables["sessions"]["new_release"], errors="coerce").dropna()
    reached = reached[reached <= ex.release]
    return float(reached.max()) if len(reached) and reached.max() < ex.release else float(ex.release)


def _assembly_name(ex: ReleaseExtract) -> str:
    """The assembly's name as the database's meta table gives it (``GRCh38``), else the extract's assembly."""
    return str(ex.manifest.get("assembly_name") or ex.assembly)


def _check_not_emptied(ex: ReleaseExtract, earlier: dict[str, ReleaseExtract]) -> None:
    """Refuse an extract without history or cross-references after one with them.

    Ensembl's history is cumulative and every core database has cross-references: an empty table after a release
    that had rows means the dump lost it (``stable_id_event``/``mapping_session``, ``xref``/``object_xref``).
    ``earlier`` (table → first extract with rows) is updated.
    """
    for table, source_tables in (("history", "stable_id_event and mapping_session"), ("xrefs", "xref")):
        if len(ex.tables[table]):
            earlier.setdefault(table, ex)
            continue
        if table in earlier:
            before = earlier[table]
            raise SnapshotError(
                f"release {ex.release} ({ex.database}, from {ex.manifest.get('source')}) has no {table} rows although "
                f"release {before.release} had {len(before.tables[table]):,}: its {source_tables} tables are empty "
                "(a truncated dump?); fix the source and extract it again"
            )


def _headers(extracts: Iterable[ReleaseExtract | str], opts: dict[str, Any]) -> list[tuple[int, str, str]]:
    out = []
    for e in extracts:
        if isinstance(e, ReleaseExtract):
            out.append((e.release, e.species, e.assembly))
        else:
            m = storage.read_json(storage.join(e, storage.MANIFEST), **opts)
            out.append((int(m["release"]), m["species"], m["assembly"]))
    return out


def _finish(acc: _Accumulator, releases: list[int], positions_of: dict[str, list[int]]) -> dict[str, pd.DataFrame]:
    types = np.array(acc.ids.types, dtype=object)
    ids = np.array(acc.ids.ids, dtype=object)
    order = np.lexsort((ids.astype(str), types.astype(str)))
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    objects = pd.DataFrame(
        {"obj": np.arange(len(order), dtype=np.int32), "type": types[order], "stable_id": ids[order]}
    ).astype({"type": "string", "stable_id": "string"})
    names = acc.names.values
    db_pairs = [s.split("\t", 1) for s in acc.dbs.values]
    db_name = np.array([p[0] for p in db_pairs], dtype=object)
    db_display = np.array([p[1] for p in db_pairs], dtype=object)

    def stacked(parts: list[np.ndarray], width: int) -> np.ndarray:
        return np.concatenate(parts, axis=1) if parts else np.zeros((width, 0), dtype=np.int64)

    v = stacked(acc.versions, 3)
    (obj, version), first, last = runs([remap[v[0]], v[1]], v[2])
    versions = pd.DataFrame({"obj": obj.astype(np.int32), "version": _nullable(version), "first": first, "last": last})
    changes = _version_changes_by_assembly(remap[v[0]], v[1], v[2], releases, positions_of)

    p = stacked(acc.parents, 3)
    (child, parent), first, last = runs([remap[p[0]], remap[p[1]]], p[2])
    parents = pd.DataFrame(
        {"child": child.astype(np.int32), "parent": parent.astype(np.int32), "first": first, "last": last}
    )

    x = stacked(acc.xrefs, 5)
    (obj, db, a, lab), first, last = runs([remap[x[0]], x[1], x[2], x[3]], x[4])
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

    s = stacked(acc.synonyms, 5)
    (db, a, lab, syn), first, last = runs([s[0], s[1], s[2], s[3]], s[4])
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
    synonyms = synonyms.sort_values(["db_name", "accession", "label", "synonym", "first"], kind="stable")

    events = _events(acc, remap, changes, types[order])
    xrefs = xrefs.sort_values(["obj", "db_name", "accession", "label", "first"], kind="stable")
    return {
        "objects": objects,
        "versions": versions,
        "parents": parents,
        "events": events,
        "xrefs": xrefs.reset_index(drop=True),
        "synonyms": synonyms.reset_index(drop=True),
        "locations": _locations(acc, remap, stacked(acc.locations, 7)),
        **_session_and_archive_tables(acc),
    }


def _locations(acc: _Accumulator, remap: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """Runs of (object, assembly, seq_region, start, end, strand, region class); a run never spans two
    assemblies."""
    (obj, region, start, end, strand), first, last = runs([remap[rows[0]], *rows[1:5]], rows[5])
    parts = [s.split("\t", 2) for s in acc.regions.values]
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
    """``sessions`` (every mapping session, the newest extract's row winning) and the archive tables (the newest
    archive of each assembly, without duplicates)."""
    sessions = pd.concat(acc.sessions, ignore_index=True)
    sessions = sessions.drop_duplicates("mapping_session_id", keep="last").sort_values("mapping_session_id")
    out = {"sessions": sessions.reset_index(drop=True)}
    for name in ARCHIVE_TABLES:
        parts = [acc.archives[a][name] for a in sorted(acc.archives)]
        table = pd.concat(parts, ignore_index=True).drop_duplicates() if parts else _empty_table(name)
        out[name] = table.sort_values(list(table.columns), kind="stable").reset_index(drop=True)
    return out


def _empty_table(name: str) -> pd.DataFrame:
    columns = EXTRACT_SCHEMAS[name].to_schema().columns
    return pd.DataFrame({c: pd.Series(dtype=str(col.dtype)) for c, col in columns.items()})


def _nullable(version: np.ndarray) -> pd.Series:
    return pd.Series(version, dtype="Int64").mask(version < 0)


def _events(acc: _Accumulator, remap: np.ndarray, changes: pd.DataFrame, obj_types: np.ndarray) -> pd.DataFrame:
    cols = [*_HISTORY_COLUMNS, "old_time", "new_time", "source"]
    if acc.history:
        h = pd.concat(acc.history, ignore_index=True).drop_duplicates()
    else:
        h = pd.DataFrame({c: pd.Series(dtype="object") for c in _HISTORY_COLUMNS})
    for side in ("old", "new"):
        o = h[f"{side}_obj"].to_numpy(dtype=np.int64)
        h[f"{side}_obj"] = np.where(o >= 0, remap[np.maximum(o, 0)], -1).astype(np.int32)
    h["source"] = "stable_id_event"
    derived = _unrecorded(changes, h, obj_types)
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
    h["old_time"] = pd.to_numeric(h["old_release"], errors="coerce").astype("float64")
    h["new_time"] = pd.to_numeric(h["new_release"], errors="coerce").astype("float64")
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


def _version_changes_by_assembly(
    obj: np.ndarray, version: np.ndarray, pos: np.ndarray, releases: list[int], positions_of: dict[str, list[int]]
) -> pd.DataFrame:
    """Version changes between consecutive releases of each assembly (rows: object, version, position)."""
    parts = []
    for positions in positions_of.values():
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
        score=np.nan,
        mapping_session_id=pd.NA,
        source="version_change",
    )
