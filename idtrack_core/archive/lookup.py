"""Archive lookup: is this ID current, what is its latest version, what replaced it — as Ensembl's archive says.

The rules are those of Ensembl's ``Bio::EnsEMBL::DBSQL::ArchiveStableIdAdaptor`` (``fetch_by_stable_id``,
``fetch_by_stable_id_version``, ``fetch_successors_by_archive_id``) and of the REST endpoint ``/archive/id``
built on it; where ours differ, ``docs/archive.md`` says how and why. For a query:

1. The whole query is tried as a stable ID; failing that, a ``.N`` suffix (1–5 digits) is read as a version.
2. **Current**: the ID (at that version, if one is given) exists in the extract of the archive's release. Then
   ``version`` is its version there, ``release`` that database's release as Ensembl's API reports it (its
   ``meta.schema_version``), ``assembly`` its ``assembly.default``.
3. **Not current**: among the ``stable_id_event`` rows naming the ID (at that version, on either side), the one
   of the newest mapping session (``created``), then of the highest score, decides: when its new side is the ID
   (at that version), the new side's release, assembly and database are reported, else the old side's (the ID
   was last seen there). An unversioned query also takes its version from that row.
4. ``latest`` is the ID's own latest incarnation: the unversioned answer's ``ID.version``.
5. ``possible_replacements`` (not current only): every event leaving the ID from the database where it was last
   seen (``old_stable_id`` = ID, ``old_db_name`` = that database), ``ID.version:score``, best score first —
   version changes of the ID itself included.

When no event names a version the snapshot's extracts still know (NULL-versioned history, derived mirrors), the
last extract holding it answers instead (``evidence`` says ``release_extract``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from idtrack_core.archive.events import ENSEMBL_TYPES, ArchiveEvents
from idtrack_core.graph.model import Snapshot

ARCHIVE_COLUMNS = [
    "query_id",
    "id",
    "version",
    "type",
    "is_current",
    "latest",
    "release",
    "assembly",
    "possible_replacements",
    "db_name",
    "peptide",
    "evidence",
]
_VERSION_SUFFIX = re.compile(r"^(?P<id>.+)\.(?P<version>\d{1,5})$")
_TYPE_BY_PATTERN = (("gene", r".*G\d+$"), ("transcript", r".*T\d+$"), ("translation", r".*P\d+$"))
_TYPE_ORDER = {"gene": 0, "transcript": 1, "translation": 2}
_RECORD_COLUMNS = ["obj", "version", "is_current", "release", "assembly", "db_name", "evidence", "replacements"]


@dataclass(frozen=True, eq=False)
class ArchiveIndex:
    """Precomputed archive answers for every ID and ``ID.version`` a snapshot knows, at one release.

    Build with :meth:`build`; answer batches with :meth:`lookup` (a vectorized join, no per-ID search).
    """

    table: pd.DataFrame = field(repr=False)
    release: int
    assembly: str

    @classmethod
    def build(cls, snap: Snapshot, release: int | None = None, assembly: str | None = None) -> ArchiveIndex:
        """The archive of ``snap`` as the database of ``release`` (default: the newest) knows it.

        Parameters
        ----------
        snap
            An identifier graph snapshot.
        release, assembly
            The release (and assembly, for snapshots combining several) whose database plays Ensembl's current
            database; history after it is ignored.

        Returns
        -------
        ArchiveIndex
            One row per key (``ID`` and ``ID.version``) with the answer columns of :data:`ARCHIVE_COLUMNS`.

        Raises
        ------
        ValueError
            ``release`` (or ``assembly``) is not in the snapshot.
        """
        view = ArchiveEvents.of(snap, release, assembly)
        table = _keyed(view, _records(view, versioned=False), _records(view, versioned=True))
        return cls(table, view.snap.release_list[view.position], view.snap.assembly_list[view.position])

    @cached_property
    def _exact(self) -> pd.Index:
        return pd.Index(self.table["key"].to_numpy(dtype=object))

    @cached_property
    def _lower(self) -> pd.Index:
        keys = self.table["key"].str.lower().to_numpy(dtype=object)
        return pd.Index(keys)

    def positions(self, queries: np.ndarray) -> np.ndarray:
        """Row of each query in ``table`` (-1: unknown). Exact first, then case-insensitive (MySQL compares
        stable IDs without case)."""
        pos = self._exact.get_indexer(queries)
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            lower = pd.Series(queries[missing], dtype=object).str.lower().to_numpy(dtype=object)
            pos[missing] = _first_match(self._lower, lower)
        return pos

    @cached_property
    def _columns(self) -> dict[str, Any]:
        """The answer columns as arrays, with one more all-NULL row at the end (the answer to unknown IDs)."""
        t = self.table
        out: dict[str, Any] = {}
        for col in ARCHIVE_COLUMNS[1:]:
            if col == "version":
                out[col] = pd.array([*t[col], None], dtype="Int64")
            elif col == "is_current":
                out[col] = pd.array([*t[col], None], dtype="boolean")
            else:
                out[col] = np.append(t[col].to_numpy(dtype=object), None)
        return out

    def lookup(self, queries: Iterable[str]) -> pd.DataFrame:
        """One row per query, in order, with :data:`ARCHIVE_COLUMNS`; unknown IDs have only ``query_id``."""
        q = np.asarray([str(x) for x in queries] if not isinstance(queries, np.ndarray) else queries, dtype=object)
        pos = self.positions(q)
        pos[pos < 0] = len(self.table)
        out = {"query_id": q, **{col: values.take(pos) for col, values in self._columns.items()}}
        return pd.DataFrame(out, columns=ARCHIVE_COLUMNS)


def archive_lookup(
    snap: Snapshot, ids: Iterable[str], release: int | None = None, assembly: str | None = None
) -> pd.DataFrame:
    """Look ``ids`` up in the archive of ``snap`` at ``release`` (see :class:`ArchiveIndex`).

    Parameters
    ----------
    snap
        An identifier graph snapshot.
    ids
        Ensembl stable IDs, with or without ``.version``.
    release, assembly
        The archive's release and assembly (default: the snapshot's newest release, primary assembly).

    Returns
    -------
    pandas.DataFrame
        One row per query, in order, with :data:`ARCHIVE_COLUMNS`.

    Examples
    --------
    >>> archive_lookup(snap, ["ENSG00000054598.4"])[["is_current", "latest", "release"]]  # doctest: +SKIP
       is_current               latest release
    0       False  ENSG00000054598.5      67
    """
    return ArchiveIndex.build(snap, release, assembly).lookup(ids)


# ------------------------------------------------------------------------------------------------ records
# Internally a version is an int64 and 0 means "unknown" (NULL); keys and output turn 0 back into NULL.


def _appearances(events: pd.DataFrame, versioned: bool) -> pd.DataFrame:
    """Each event once per side that names an object: obj, version (0 when the query is unversioned), side,
    event row."""
    parts = []
    for side in ("old", "new"):
        known = (events[f"{side}_obj"] >= 0).to_numpy()
        version = events[f"{side}_version"].fillna(0).to_numpy(dtype=np.int64)[known]
        parts.append(
            pd.DataFrame(
                {
                    "obj": events[f"{side}_obj"].to_numpy(dtype=np.int64)[known],
                    "version": version if versioned else np.zeros(len(version), dtype=np.int64),
                    "new_side": side == "new",
                    "event": np.flatnonzero(known),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out[out["version"] > 0] if versioned else out


def _newest(appearances: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per (obj, version), the appearance in the newest session (``created``), then of the highest score; ties
    go to the new side (the ID continues there), then to the lowest event row (deterministic)."""
    ev = events.iloc[appearances["event"].to_numpy()]
    ranked = appearances.assign(
        created=ev["created"].to_numpy(dtype=object), score=ev["score"].fillna(0.0).to_numpy(dtype=np.float64)
    )
    ranked = ranked.sort_values(
        ["obj", "version", "created", "score", "new_side", "event"],
        ascending=[True, True, False, False, False, True],
        kind="stable",
    )
    return ranked.drop_duplicates(["obj", "version"]).reset_index(drop=True)


def _from_events(view: ArchiveEvents, versioned: bool) -> pd.DataFrame:
    """Records of every object (or object version) an event names: the side of the newest event where the ID
    (at that version) was last seen."""
    chosen = _newest(_appearances(view.events, versioned), view.events)
    ev = view.events.iloc[chosen["event"].to_numpy()]
    obj = chosen["obj"].to_numpy()
    new_version = ev["new_version"].fillna(0).to_numpy(dtype=np.int64)
    on_new = ev["new_obj"].to_numpy() == obj
    if versioned:
        on_new &= new_version == chosen["version"].to_numpy()
    out = pd.DataFrame({"obj": obj})
    out["version"] = (
        chosen["version"].to_numpy()
        if versioned
        else np.where(on_new, new_version, ev["old_version"].fillna(0).to_numpy(dtype=np.int64))
    )
    for col in ("release", "assembly", "db_name"):
        out[col] = np.where(on_new, ev[f"new_{col}"].to_numpy(dtype=object), ev[f"old_{col}"].to_numpy(dtype=object))
    out["evidence"] = "stable_id_event"
    return out


def _from_extracts(view: ArchiveEvents, versioned: bool) -> pd.DataFrame:
    """Records from the extracts: the last release holding the object (at that version)."""
    v = view.snap.tables["versions"]
    v = pd.DataFrame({"obj": v["obj"], "version": v["version"].fillna(0).astype(np.int64), "last": v["last"]})
    if versioned:
        v = v[v["version"] > 0]
    by = ["obj", "version"] if versioned else ["obj"]
    last = v.sort_values([*by, "last"], kind="stable").drop_duplicates(by, keep="last")
    info = [view.release_info(p) for p in range(len(view.snap.release_list))]
    pos = last["last"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "obj": last["obj"].to_numpy(dtype=np.int64),
            "version": last["version"].to_numpy(dtype=np.int64),
            "release": [str(view.snap.release_list[p]) for p in pos],
            "assembly": [info[p][1] for p in pos],
            "db_name": [info[p][2] for p in pos],
            "evidence": "release_extract",
        }
    )


def _replacements(view: ArchiveEvents, records: pd.DataFrame) -> np.ndarray:
    """``ID.version:score;…`` of the events leaving each record's object from the database it was last seen in."""
    e = view.events
    leaving = e[(e["old_obj"] >= 0) & (e["new_obj"] >= 0) & e["old_db_name"].notna()]
    succ = pd.DataFrame(
        {
            "obj": leaving["old_obj"].to_numpy(dtype=np.int64),
            "db_name": leaving["old_db_name"].to_numpy(dtype=object),
            "target": view.ids[leaving["new_obj"].to_numpy()] + _version_suffix(leaving["new_version"]),
            "score": leaving["score"].fillna(0.0).to_numpy(dtype=np.float64),
        }
    )
    succ = succ.sort_values(["obj", "db_name", "score", "target"], ascending=[True, True, False, True])
    succ = succ.drop_duplicates(["obj", "db_name", "target"])
    text = (succ["target"] + ":" + succ["score"].map(_format_score)).tolist()
    obj, db = succ["obj"].to_numpy(), succ["db_name"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, (obj[1:] != obj[:-1]) | (db[1:] != db[:-1])]) if len(succ) else []
    bounds = [*starts, len(succ)]
    joined = pd.Series(
        [";".join(text[a:b]) for a, b in pairwise(bounds)],
        index=pd.MultiIndex.from_arrays([obj[starts], db[starts]]),
        dtype=object,
    )
    keys = pd.MultiIndex.from_arrays([records["obj"].to_numpy(), records["db_name"].to_numpy(dtype=object)])
    return joined.reindex(keys).fillna("").to_numpy(dtype=object)


def _records(view: ArchiveEvents, versioned: bool) -> pd.DataFrame:
    """Every object (``versioned``: object version) the archive knows: current ones from the archive's extract,
    the others from their newest event, else from the last extract holding them."""
    by = ["obj", "version"] if versioned else ["obj"]
    known = pd.concat([_from_events(view, versioned), _from_extracts(view, versioned)], ignore_index=True)
    known = known.drop_duplicates(by, keep="first").reset_index(drop=True)
    current = view.current_version[known["obj"].to_numpy()]
    alive = current >= 0
    if versioned:
        alive &= known["version"].to_numpy() == current
    else:
        known.loc[alive, "version"] = current[alive]
    release, assembly, db_name = view.release_info(view.position)
    known["is_current"] = alive
    known.loc[alive, ["release", "assembly", "db_name", "evidence"]] = [release, assembly, db_name, "current"]
    known["replacements"] = ""
    known.loc[~alive, "replacements"] = _replacements(view, known[~alive])
    return known[_RECORD_COLUMNS]


def _keyed(view: ArchiveEvents, unversioned: pd.DataFrame, versioned: pd.DataFrame) -> pd.DataFrame:
    """One answer row per key: ``ID`` (unversioned records) then ``ID.version`` (versioned ones); a stable ID that
    itself ends in ``.N`` keeps its own row; a stable ID of several types answers with its Ensembl-pattern type
    (``…G<digits>`` a gene, ``…T`` a transcript, ``…P`` a translation), else the first of gene, transcript,
    translation."""
    ids, types = view.ids, view.types
    latest = pd.Series(
        ids[unversioned["obj"].to_numpy()] + _version_suffix(unversioned["version"]),
        index=unversioned["obj"].to_numpy(),
    )
    parts = []
    for records, is_versioned in ((unversioned, False), (versioned, True)):
        obj = records["obj"].to_numpy()
        key = ids[obj] + (_version_suffix(records["version"]) if is_versioned else "")
        parts.append(
            records.assign(
                key=key,
                id=ids[obj],
                type=pd.Series(types[obj]).map(ENSEMBL_TYPES).to_numpy(dtype=object),
                latest=latest.reindex(obj).to_numpy(dtype=object),
                rank=_type_rank(ids[obj], types[obj]) + (10 if is_versioned else 0),
            )
        )
    table = pd.concat(parts, ignore_index=True)
    table["peptide"] = _peptides(view, table)
    table = table.sort_values(["key", "rank"], kind="stable").drop_duplicates("key")
    table = table.rename(columns={"replacements": "possible_replacements"})
    table["version"] = pd.array(table["version"].to_numpy(dtype=np.int64), dtype="Int64").fillna(0)
    table["version"] = table["version"].mask(table["version"] == 0)
    columns = ["key", *[c for c in ARCHIVE_COLUMNS if c != "query_id"]]
    return table[columns].reset_index(drop=True)


def _type_rank(ids: np.ndarray, types: np.ndarray) -> np.ndarray:
    """0 when the ID's pattern names its type (Ensembl's ``_resolve_type``), else 1 + the type's order; only IDs
    of several types need the pattern."""
    rank = 1 + pd.Series(types, dtype=object).map(_TYPE_ORDER).to_numpy(dtype=np.int64)
    shared = np.flatnonzero(pd.Series(ids, dtype=object).duplicated(keep=False).to_numpy())
    for typ, pattern in _TYPE_BY_PATTERN:
        named = pd.Series(ids[shared], dtype=object).str.match(pattern).to_numpy(dtype=bool)
        rank[shared[named & (types[shared] == typ)]] = 0
    return rank


def _peptides(view: ArchiveEvents, table: pd.DataFrame) -> np.ndarray:
    """The archived peptide of non-current translations (``gene_archive`` → ``peptide_archive``), like REST."""
    ga, pa_ = view.snap.tables["gene_archive"], view.snap.tables["peptide_archive"]
    out = np.full(len(table), None, dtype=object)
    if ga.empty or pa_.empty:
        return out
    seqs = ga.merge(pa_, on="peptide_archive_id")[["translation_stable_id", "translation_version", "peptide_seq"]]
    seqs = seqs.dropna().drop_duplicates(["translation_stable_id", "translation_version"])
    key = seqs["translation_stable_id"].astype(object) + "." + seqs["translation_version"].astype(str)
    by_key = dict(zip(key, seqs["peptide_seq"], strict=True))
    wanted = (table["type"] == "Translation") & ~table["is_current"].astype(bool)
    versioned = table["id"].astype(object) + _version_suffix(table["version"])
    for i in np.flatnonzero(wanted.to_numpy()):
        out[i] = by_key.get(versioned.iloc[i])
    return out


# ------------------------------------------------------------------------------------------------ helpers


def _version_suffix(versions: pd.Series | Sequence[Any] | np.ndarray) -> np.ndarray:
    """``.N`` for each known version, ``""`` for unknown ones (NULL or 0)."""
    v = pd.Series(versions).fillna(0).to_numpy(dtype=np.int64)
    return np.where(v > 0, np.char.add(".", v.astype(str)).astype(object), "")


def _format_score(score: float) -> str:
    return f"{score:.6g}"


def _first_match(index: pd.Index, values: np.ndarray) -> np.ndarray:
    """Position of each value in a possibly non-unique index (the first occurrence), -1 when absent."""
    if index.is_unique:
        return index.get_indexer(values)
    first = pd.Series(np.arange(len(index)), index=index)
    first = first[~first.index.duplicated()]
    return first.reindex(values).fillna(-1).to_numpy(dtype=np.int64)


def split_version(query: str) -> tuple[str, int | None]:
    """``ENSG00000054598.4`` → ``("ENSG00000054598", 4)``; a query without a 1–5 digit suffix → ``(query, None)``."""
    m = _VERSION_SUFFIX.match(query)
    return (m.group("id"), int(m.group("version"))) if m else (query, None)


__all__ = ["ARCHIVE_COLUMNS", "ArchiveIndex", "archive_lookup", "split_version"]
