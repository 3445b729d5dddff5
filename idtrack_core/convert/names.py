"""Every name the snapshot knows, and where it points (DESIGN §5, name matching).

A name is looked up among Ensembl stable IDs (unversioned, and ``ID.version`` for every known version),
external primary names (accession and display label of every xref, in every database) and synonyms. Each
row says which Ensembl object the name points to and in which span of releases (``first``..``last``, as
release numbers) the link holds. Tiers rank the kinds of match: Ensembl ID, then external primary name,
then synonym; a lower tier is used only when no higher one matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.convert.name_kinds import ENSEMBL_SOURCE, TIER_ENSEMBL, TIER_EXTERNAL, TIER_SYNONYM
from idtrack_core.graph.model import Snapshot

MATCH_BY_TIER = {TIER_ENSEMBL: "exact", TIER_EXTERNAL: "exact", TIER_SYNONYM: "synonym"}
_LINK_COLUMNS = ("key", "tier", "obj", "first", "last", "source", "node")


@dataclass(frozen=True)
class NameTable:
    """Rows sorted by key: key, kid (integer code of the key, increasing with it), tier, obj, first, last
    (release numbers, float), source (database display name or ``ensembl``), node (how the match is
    reported, e.g. ``HGNC Symbol/TP53``) and node_id (equal for equal nodes). Within a key, rows are ordered by
    tier, obj, first, then the order in which they were made (Ensembl IDs, versioned IDs, accessions, labels,
    synonyms). Strings are Arrow-backed (``string[pyarrow]``)."""

    rows: pd.DataFrame

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> NameTable:
        """Every name of ``snap`` (empty names left out; a link listed twice kept once)."""
        rel = np.asarray(snap.release_list, dtype=np.float64)
        objects = snap.tables["objects"]
        ids, types = _strings(objects["stable_id"]), _strings(objects["type"])
        span = object_spans(snap)
        obj = pa.array(span["obj"].to_numpy())
        base = _links(ids.take(obj), TIER_ENSEMBL, span, ENSEMBL_SOURCE, _ensembl_node(types.take(obj), ids.take(obj)))
        vspan = version_spans(snap)
        obj = pa.array(vspan["obj"].to_numpy())
        vkey = pc.binary_join_element_wise(ids.take(obj), pa.array(vspan["version"].to_numpy()).cast(pa.string()), ".")
        versioned = _links(vkey, TIER_ENSEMBL, vspan, ENSEMBL_SOURCE, _ensembl_node(types.take(obj), vkey))
        x = snap.tables["xrefs"]
        xspan = pd.DataFrame({"obj": x["obj"], "first": rel[x["first"].to_numpy()], "last": rel[x["last"].to_numpy()]})
        db = _strings(x["db_display_name"])
        external = []
        for col in ("accession", "label"):
            names = _strings(x[col])
            external.append(_links(names, TIER_EXTERNAL, xspan, db, pc.binary_join_element_wise(db, names, "/")))
        table = pa.concat_tables([base, versioned, *external, _synonym_links(snap, rel)])
        table = table.filter(pc.greater(pc.utf8_length(table["key"]), 0))
        if len(set(snap.assembly_list)) > 1:
            table = _with_assemblies(table, snap)
        return cls(_keyed(table, distinct=True))

    def restricted_to(self, sources: list[str] | None) -> NameTable:
        """Only names from these databases (display names; ``ensembl`` for Ensembl IDs)."""
        if not sources:
            return self
        return NameTable(self.rows[self.rows["source"].isin(sources)].reset_index(drop=True))

    def lowercased(self) -> NameTable:
        """The same links under lower-cased keys (for case-insensitive matching); rows of one lower-cased key keep
        the order of their exact keys, whose codes they carry as ``exact_kid``."""
        table = pa.table(
            {
                c: _strings(self.rows[c]) if c in ("key", "source", "node") else self.rows[c].to_numpy()
                for c in (*_LINK_COLUMNS, "node_id")
            }
        )
        table = table.set_column(0, "key", pc.utf8_lower(table["key"]))
        return NameTable(_keyed(table.append_column("exact_kid", pa.array(self.rows["kid"].to_numpy())), False))


def _strings(column: pd.Series) -> pa.Array:
    """A string column as one Arrow array (zero-copy when it is Arrow-backed)."""
    array = pa.array(column.array, type=pa.string()) if isinstance(column.dtype, pd.StringDtype) else None
    if array is None:
        array = pa.array(column.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def repeated_strings(column: pd.Series) -> np.ndarray:
    """A string column as an object array in which equal strings are one Python object: a column of few distinct
    values (types, databases, regions) costs a pointer per row, not a string."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    return np.asarray(distinct, dtype=object)[codes]


def _with_assemblies(table: pa.Table, snap: Snapshot) -> pa.Table:
    """Nodes followed by `` @`` and the assemblies their object is known in (:func:`object_assemblies`): in a
    snapshot combining assemblies the evidence says which."""
    label = object_assemblies(snap).reindex(table["obj"].to_numpy()).fillna("?").to_numpy(dtype=object)
    node = pc.binary_join_element_wise(table["node"].combine_chunks(), pa.array(label, type=pa.string()), " @")
    return table.set_column(table.column_names.index("node"), "node", node)


def _ensembl_node(types: pa.Array, names: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pc.binary_join_element_wise("ensembl", types, "_"), names, "/")


def _links(keys: pa.Array, tier: int, span: pd.DataFrame, source: str | pa.Array, node: pa.Array) -> pa.Table:
    """Name rows in the :class:`NameTable` layout (``span``: obj, first, last)."""
    n = len(keys)
    return pa.table(
        {
            "key": keys,
            "tier": pa.array(np.full(n, tier, dtype=np.int8)),
            "obj": pa.array(span["obj"].to_numpy(dtype=np.int32)),
            "first": pa.array(span["first"].to_numpy(dtype=np.float64)),
            "last": pa.array(span["last"].to_numpy(dtype=np.float64)),
            "source": pa.array(np.full(n, source, dtype=object), type=pa.string())
            if isinstance(source, str)
            else source,
            "node": node,
        }
    )


def _codes(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values (sorted)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[np.argsort(np.asarray(distinct), kind="stable")] = np.arange(len(distinct))
    return rank[codes]


def _packed(codes: list[np.ndarray]) -> list[np.ndarray]:
    """Non-negative integer codes (most significant first) packed into as few int64 words as hold them (most
    significant first): the words sort as the codes do, lexicographically, and are equal when all codes are."""
    words: list[np.ndarray] = []
    bits = 0
    for code in codes:
        width = max(int(code.max()).bit_length(), 1) if len(code) else 1
        if words and bits + width <= 62:
            words[-1] = (words[-1] << width) | code
            bits += width
        else:
            words.append(code.astype(np.int64))
            bits = width
    return words


def _stable_order(words: list[np.ndarray]) -> np.ndarray:
    """The stable sort order of rows by ``words`` (most significant first; ties keep their order)."""
    return np.argsort(words[0], kind="stable") if len(words) == 1 else np.lexsort(words[::-1])


def _ranks(strings: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Each string's rank among the distinct strings in sorted (code point) order."""
    encoded = (strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings).dictionary_encode()
    rank = np.empty(len(encoded.dictionary), dtype=np.int64)
    rank[pc.sort_indices(encoded.dictionary).to_numpy()] = np.arange(len(encoded.dictionary))
    return rank[encoded.indices.to_numpy()]


def _keyed(table: pa.Table, distinct: bool) -> pd.DataFrame:
    """Rows sorted by key (then tier, obj, first, then their order in ``table``) with the key codes ``kid``; with
    ``distinct`` a (key, tier, obj, first, last, source) link listed twice is kept at its first occurrence."""
    kid = _ranks(table["key"])
    tier, obj, first = (_codes(table[c].to_numpy()) for c in ("tier", "obj", "first"))
    rows = np.arange(table.num_rows)
    if distinct:
        words = _packed([kid, tier, obj, first, _codes(table["last"].to_numpy()), _ranks(table["source"])])
        order = _stable_order(words)
        repeat = np.ones(len(order), dtype=bool)
        for word in words:
            ordered = word[order]
            repeat[1:] &= ordered[1:] == ordered[:-1]
        repeat[:1] = False
        rows = np.sort(order[~repeat])
    rows = rows[_stable_order(_packed([kid[rows], tier[rows], obj[rows], first[rows]]))]
    table = table.take(pa.array(rows))
    if "node_id" not in table.column_names:
        table = table.append_column("node_id", table["node"].combine_chunks().dictionary_encode().indices)
    return pd.DataFrame(
        {
            "key": pd.arrays.ArrowStringArray(plain(table["key"])),
            "kid": kid[rows],
            **{c: table[c].to_numpy() for c in ("tier", "obj", "first", "last")},
            "source": pd.arrays.ArrowStringArray(plain(table["source"])),
            "node": pd.arrays.ArrowStringArray(plain(table["node"])),
            "node_id": table["node_id"].to_numpy(),
            **({"exact_kid": table["exact_kid"].to_numpy()} if "exact_kid" in table.column_names else {}),
        }
    )


def plain(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``string`` values (large strings cast down), as pandas' Arrow-backed strings hold them."""
    return values if values.type == pa.string() else values.cast(pa.string())


def object_assemblies(snap: Snapshot) -> pd.Series:
    """Per object, the assemblies (names, e.g. ``GRCh37``) of the extracts it exists in, ``+``-joined, older first."""
    v = snap.tables["versions"]
    assemblies = snap.tables["releases"]["assembly_name"].to_numpy(dtype=object)
    order = {a: i for i, a in enumerate(dict.fromkeys(assemblies.tolist()))}
    seen: dict[int, set[str]] = {}
    for obj, first, last in zip(v["obj"].tolist(), v["first"].tolist(), v["last"].tolist(), strict=True):
        seen.setdefault(obj, set()).update(assemblies[first : last + 1].tolist())
    return pd.Series({obj: "+".join(sorted(a, key=order.__getitem__)) for obj, a in seen.items()}, dtype=object)


def object_spans(snap: Snapshot) -> pd.DataFrame:
    """obj, first, last: the first and last release (number) each Ensembl object is known to exist in."""
    rel = np.asarray(snap.release_list, dtype=np.float64)
    v = snap.tables["versions"]
    e = snap.tables["events"]
    parts = [
        pd.DataFrame({"obj": v["obj"].to_numpy(), "t": rel[v["first"].to_numpy()]}),
        pd.DataFrame({"obj": v["obj"].to_numpy(), "t": rel[v["last"].to_numpy()]}),
    ]
    for side in ("old", "new"):
        known = (e[f"{side}_obj"] >= 0) & e[f"{side}_time"].notna()
        parts.append(
            pd.DataFrame({"obj": e.loc[known, f"{side}_obj"].to_numpy(), "t": e.loc[known, f"{side}_time"].to_numpy()})
        )
    t = pd.concat(parts, ignore_index=True)
    return t.groupby("obj")["t"].agg(first="min", last="max").reset_index()


def version_spans(snap: Snapshot) -> pd.DataFrame:
    """obj, version, first, last for every known (non-NULL) version, from extracts and history events."""
    rel = np.asarray(snap.release_list, dtype=np.float64)
    v = snap.tables["versions"]
    v = v[v["version"].notna()]
    e = snap.tables["events"]
    parts = [
        pd.DataFrame({"obj": v["obj"].to_numpy(), "version": v["version"].to_numpy(), "t": rel[v["first"].to_numpy()]}),
        pd.DataFrame({"obj": v["obj"].to_numpy(), "version": v["version"].to_numpy(), "t": rel[v["last"].to_numpy()]}),
    ]
    for side in ("old", "new"):
        known = (e[f"{side}_obj"] >= 0) & e[f"{side}_version"].notna() & e[f"{side}_time"].notna()
        sel = e[known]
        parts.append(
            pd.DataFrame(
                {
                    "obj": sel[f"{side}_obj"].to_numpy(),
                    "version": sel[f"{side}_version"].to_numpy(),
                    "t": sel[f"{side}_time"].to_numpy(),
                }
            )
        )
    t = pd.concat(parts, ignore_index=True).astype({"version": "int64"})
    return t.groupby(["obj", "version"])["t"].agg(first="min", last="max").reset_index()


def _synonym_links(snap: Snapshot, rel: np.ndarray) -> pa.Table:
    """Synonyms attached to the Ensembl objects of their xref, over the releases both hold."""
    x = snap.tables["xrefs"]
    s = snap.tables["synonyms"]
    m = s.merge(x, on=["db_name", "accession", "label"], suffixes=("_syn", ""))
    lo = np.maximum(m["first_syn"].to_numpy(), m["first"].to_numpy())
    hi = np.minimum(m["last_syn"].to_numpy(), m["last"].to_numpy())
    m = m[lo <= hi]
    span = pd.DataFrame({"obj": m["obj"], "first": rel[lo[lo <= hi]], "last": rel[hi[lo <= hi]]})
    db = pa.array(m["db_display_name"].to_numpy(dtype=object), type=pa.string())
    synonym = pa.array(m["synonym"].to_numpy(dtype=object), type=pa.string())
    label = pa.array(m["label"].to_numpy(dtype=object), type=pa.string())
    node = pc.binary_join_element_wise(db, "/", label, " (synonym ", synonym, ")", "")
    return _links(synonym, TIER_SYNONYM, span, db, node)
