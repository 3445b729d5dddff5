"""Build an identifier graph snapshot from release extracts (DESIGN §4).

Extracts are consumed one at a time; every string is interned to an integer code on the way, so memory
holds integer rows, not per-release copies of the tables. Release sets are collapsed into runs.
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
from idtrack_core.ensembl.extract import EXTRACT_FORMAT_VERSION, ReleaseExtract, extract_files, history_of
from idtrack_core.errors import SnapshotError
from idtrack_core.graph.interning import Interner, ObjectInterner, plain_strings
from idtrack_core.graph.intervals import runs
from idtrack_core.graph.model import SNAPSHOT_FORMAT_VERSION, Snapshot

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
class _Accumulator:
    """Integer rows of every extract added so far (strings interned; see :mod:`.interning`)."""

    ids: ObjectInterner = field(default_factory=ObjectInterner)
    names: Interner = field(default_factory=Interner)
    dbs: Interner = field(default_factory=Interner)
    versions: list[np.ndarray] = field(default_factory=list)
    parents: list[np.ndarray] = field(default_factory=list)
    xrefs: list[np.ndarray] = field(default_factory=list)
    synonyms: list[np.ndarray] = field(default_factory=list)
    history: list[pd.DataFrame] = field(default_factory=list)
    session_rows: dict[int, int] = field(default_factory=dict)

    def add(self, t: dict[str, pa.Table], pos: int) -> None:
        """Add one extract's tables (Arrow) as release position ``pos``."""
        x, s = t["xrefs"], t["synonyms"]
        tx = t["transcripts"].filter(pc.is_valid(t["transcripts"]["gene_stable_id"]))
        tl = t["translations"].filter(pc.is_valid(t["translations"]["transcript_stable_id"]))
        history = self._fresh_history(t["history"])
        old = history.filter(pc.is_valid(history["old_stable_id"]))
        new = history.filter(pc.is_valid(history["new_stable_id"]))
        refs = {
            "genes": (t["genes"]["stable_id"], "gene"),
            "transcripts": (t["transcripts"]["stable_id"], "transcript"),
            "translations": (t["translations"]["stable_id"], "translation"),
            "transcript_child": (tx["stable_id"], "transcript"),
            "transcript_parent": (tx["gene_stable_id"], "gene"),
            "translation_child": (tl["stable_id"], "translation"),
            "translation_parent": (tl["transcript_stable_id"], "transcript"),
            "xrefs": (x["ensembl_id"], x["object_type"]),
            "old": (old["old_stable_id"], old["type"]),
            "new": (new["new_stable_id"], new["type"]),
        }
        obj = dict(zip(refs, self.ids.batch(list(refs.values())), strict=True))
        for table in ("genes", "transcripts", "translations"):
            version = t[table]["version"].fill_null(-1).to_numpy().astype(np.int64)
            self.versions.append(np.stack([obj[table], version, np.full(len(version), pos)]))
        for child in ("transcript", "translation"):
            codes = obj[f"{child}_child"]
            self.parents.append(np.stack([codes, obj[f"{child}_parent"], np.full(len(codes), pos)]))
        x_db, s_db = self.dbs.batch([_db_pairs(x["db_name"], x), _db_pairs(s["db_name"], x)])
        columns = [x["primary_accession"], x["display_label"], s["primary_accession"], s["display_label"], s["synonym"]]
        acc, label, s_acc, s_label, s_syn = self.names.batch(columns)
        self.xrefs.append(np.stack([obj["xrefs"], x_db, acc, label, np.full(len(acc), pos)]))
        self.synonyms.append(np.stack([s_db, s_acc, s_label, s_syn, np.full(len(s_db), pos)]))
        self._add_history(history, obj["old"], obj["new"])

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

    All extracts must be of one species and assembly, one per release. An extract holding only the history new
    since an earlier release (``extract_release(..., history="new")``) needs that release's extract among the
    inputs; the history is the union of every extract's mapping sessions.

    Raises
    ------
    SnapshotError
        No extracts, mixed species/assemblies, two extracts of one release, an unknown ``snapshot_release``, or a
        broken history chain (the message names the extract and the release it needs).
    """
    started = time.perf_counter()
    extracts = list(extracts)
    opts = storage_options or {}
    headers = _headers(extracts, opts)
    if not headers:
        raise SnapshotError("no release extracts to build a snapshot from")
    species = {h[1] for h in headers}
    assemblies = {h[2] for h in headers}
    if len(species) > 1 or len(assemblies) > 1:
        raise SnapshotError(f"extracts mix species/assemblies: {sorted(species)} {sorted(assemblies)}")
    releases = sorted(h[0] for h in headers)
    if len(set(releases)) != len(releases):
        raise SnapshotError(f"two extracts of one release in {releases}")
    if snapshot_release is not None:
        if snapshot_release not in releases:
            raise SnapshotError(f"snapshot release {snapshot_release} has no extract (have {releases})")
        releases = [r for r in releases if r <= snapshot_release]
    _check_history_chain({h[0]: h[3] for h in headers if h[0] in releases})
    by_release = {h[0]: e for h, e in zip(headers, extracts, strict=True)}
    acc = _Accumulator()
    rows = []
    for pos, release in enumerate(releases):
        database, digest, tables = _arrow_extract(by_release[release], opts)
        acc.add(tables, pos)
        rows.append((release, database, digest))
        log.info("snapshot: added release %s (%d/%d)", release, pos + 1, len(releases))
    tables = _finish(acc, releases)
    tables["releases"] = pd.DataFrame(rows, columns=["release", "database", "extract_sha256"]).astype(
        {"release": "int64"}
    )
    first = headers[0]
    identity = {
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "producer": f"idtrack-atlas {__version__}",
        "species": first[1],
        "assembly": first[2],
        "snapshot_release": releases[-1],
        "releases": [{"release": r, "database": d, "extract_sha256": s} for r, d, s in rows],
    }
    manifest = {
        **identity,
        "content_sha256": hashlib.sha256(storage.json_bytes(identity)).hexdigest(),
        "rows": {name: len(df) for name, df in sorted(tables.items())},
    }
    log.info("snapshot built in %.1fs: %s", time.perf_counter() - started, manifest["rows"])
    return Snapshot(tables, manifest)


_NEEDED = {
    "genes": ["stable_id", "version"],
    "transcripts": ["stable_id", "version", "gene_stable_id"],
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


def _arrow_extract(item: ReleaseExtract | str, opts: dict[str, Any]) -> tuple[str, str, dict[str, pa.Table]]:
    """(database, manifest digest, the tables a snapshot needs as Arrow) of an extract object or URL."""
    if isinstance(item, ReleaseExtract):
        tables = {n: pa.Table.from_pandas(item.tables[n][c], preserve_index=False) for n, c in _NEEDED.items()}
        return item.database, extract_digest(item), tables
    manifest = storage.read_manifest(item, "release extract", EXTRACT_FORMAT_VERSION, **opts)
    tables = {}
    for name, columns in _NEEDED.items():
        fs, path = storage.url_to_fs(storage.join(item, manifest["tables"][name]["file"]), **opts)
        with fs.open(path, "rb") as f:
            tables[name] = pq.read_table(f, columns=columns)
    return manifest["database"], hashlib.sha256(storage.json_bytes(manifest)).hexdigest(), tables


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


def _db_pairs(db_names: pa.ChunkedArray, xrefs: pa.Table) -> pa.Array:
    """``db_name<TAB>db_display_name`` of each database name (the display name the extract's xrefs give it last;
    the name itself when they do not name it)."""
    last = xrefs.group_by("db_name", use_threads=False).aggregate([("db_display_name", "last")])
    found = pc.index_in(db_names, value_set=last["db_name"])
    display = pc.coalesce(last["db_display_name_last"].take(found), db_names)
    return pc.binary_join_element_wise(db_names, display, "\t")


def _check_history_chain(history: dict[int, dict[str, Any]]) -> None:
    """Every extract holding only the history new since a release needs that release's extract too."""
    for release, entry in sorted(history.items()):
        if entry["scope"] == "all":
            continue
        since = int(entry["since"]["release"])
        if since not in history or since >= release:
            raise SnapshotError(
                f"the extract of release {release} holds only the history new since release {since} "
                f"({entry['since']['database']}), whose extract is not among the inputs {sorted(history)}: add it, "
                f"or extract release {release} with history='all'"
            )


def _finish(acc: _Accumulator, releases: list[int]) -> dict[str, pd.DataFrame]:
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

    def stacked(parts: list[np.ndarray], width: int) -> np.ndarray:
        return np.concatenate(parts, axis=1) if parts else np.zeros((width, 0), dtype=np.int64)

    v = stacked(acc.versions, 3)
    (obj, version), first, last = runs([remap(v[0]), v[1]], v[2])
    versions = pd.DataFrame({"obj": obj.astype(np.int32), "version": _nullable(version), "first": first, "last": last})

    p = stacked(acc.parents, 3)
    (child, parent), first, last = runs([remap(p[0]), remap(p[1])], p[2])
    parents = pd.DataFrame(
        {"child": child.astype(np.int32), "parent": parent.astype(np.int32), "first": first, "last": last}
    )

    x = stacked(acc.xrefs, 5)
    (obj, db, a, lab), first, last = runs([remap(x[0]), x[1], x[2], x[3]], x[4])
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

    s = stacked(acc.synonyms, 5)
    (db, a, lab, syn), first, last = runs([s[0], s[1], s[2], s[3]], s[4])
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
    events = _events(acc, remap, versions, releases, types)
    return {
        "objects": objects,
        "versions": versions,
        "parents": parents,
        "events": events,
        "xrefs": xrefs,
        "synonyms": synonyms,
    }


def _nullable(version: np.ndarray) -> pd.Series:
    return pd.Series(version, dtype="Int64").mask(version < 0)


def _events(
    acc: _Accumulator,
    remap: Callable[[np.ndarray], np.ndarray],
    versions: pd.DataFrame,
    releases: list[int],
    obj_types: np.ndarray,
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
    derived = _version_changes(versions, releases, h, obj_types)
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


def _version_changes(
    versions: pd.DataFrame, releases: list[int], history: pd.DataFrame, obj_types: np.ndarray
) -> pd.DataFrame:
    """Version changes between consecutive snapshot releases that no ``stable_id_event`` row records."""
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
