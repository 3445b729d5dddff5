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

from idtrack_core.graph.model import Snapshot

TIER_ENSEMBL, TIER_EXTERNAL, TIER_SYNONYM = 0, 1, 2
ENSEMBL_SOURCE = "ensembl"
MATCH_BY_TIER = {TIER_ENSEMBL: "exact", TIER_EXTERNAL: "exact", TIER_SYNONYM: "synonym"}


@dataclass(frozen=True)
class NameTable:
    """Rows sorted by key: key, kid (integer code of the key, increasing with it), tier, obj, first, last
    (release numbers, float), source (database display name or ``ensembl``), node (how the match is
    reported, e.g. ``HGNC Symbol/TP53``)."""

    rows: pd.DataFrame

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> NameTable:
        rel = np.asarray(snap.release_list, dtype=np.float64)
        objects = snap.tables["objects"]
        ids = objects["stable_id"].to_numpy(dtype=object)
        types = objects["type"].to_numpy(dtype=object)
        span = object_spans(snap)
        base = pd.DataFrame(
            {
                "key": ids[span["obj"]],
                "tier": TIER_ENSEMBL,
                "obj": span["obj"].to_numpy(),
                "first": span["first"].to_numpy(),
                "last": span["last"].to_numpy(),
                "source": ENSEMBL_SOURCE,
                "node": "ensembl_" + types[span["obj"]] + "/" + ids[span["obj"]],
            }
        )
        vspan = version_spans(snap)
        vkey = ids[vspan["obj"]] + "." + vspan["version"].astype(str).to_numpy(dtype=object)
        versioned = pd.DataFrame(
            {
                "key": vkey,
                "tier": TIER_ENSEMBL,
                "obj": vspan["obj"].to_numpy(),
                "first": vspan["first"].to_numpy(),
                "last": vspan["last"].to_numpy(),
                "source": ENSEMBL_SOURCE,
                "node": "ensembl_" + types[vspan["obj"]] + "/" + vkey,
            }
        )
        x = snap.tables["xrefs"]
        xfirst, xlast = rel[x["first"].to_numpy()], rel[x["last"].to_numpy()]
        db = x["db_display_name"].to_numpy(dtype=object)
        external = []
        for col in ("accession", "label"):
            names = x[col].to_numpy(dtype=object)
            external.append(
                pd.DataFrame(
                    {
                        "key": names,
                        "tier": TIER_EXTERNAL,
                        "obj": x["obj"].to_numpy(),
                        "first": xfirst,
                        "last": xlast,
                        "source": db,
                        "node": db + "/" + names,
                    }
                )
            )
        syn = _synonym_links(snap, rel)
        rows = pd.concat([base, versioned, *external, syn], ignore_index=True)
        rows = rows[rows["key"].astype(bool)]
        rows = rows.drop_duplicates(["key", "tier", "obj", "first", "last", "source"])
        rows = rows.astype({"tier": "int8", "obj": "int32", "first": "float64", "last": "float64"})
        if len(set(snap.assembly_list)) > 1:  # the evidence says which assemblies the object is known in
            label = object_assemblies(snap)
            rows["node"] = (
                rows["node"] + " @" + label.reindex(rows["obj"].to_numpy()).fillna("?").to_numpy(dtype=object)
            )
        return cls(_keyed(rows))

    def restricted_to(self, sources: list[str] | None) -> NameTable:
        """Only names from these databases (display names; ``ensembl`` for Ensembl IDs)."""
        if not sources:
            return self
        return NameTable(self.rows[self.rows["source"].isin(sources)].reset_index(drop=True))

    def lowercased(self) -> NameTable:
        """The same links under lower-cased keys (for case-insensitive matching)."""
        return NameTable(_keyed(self.rows.assign(key=self.rows["key"].str.lower())))


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by key (then tier, obj, first) and number the distinct keys in that order."""
    rows = rows.drop(columns=["kid"], errors="ignore")
    rows = rows.sort_values(["key", "tier", "obj", "first"], kind="stable").reset_index(drop=True)
    keys = rows["key"].to_numpy(dtype=object)
    change = np.ones(len(keys), dtype=bool)
    change[1:] = keys[1:] != keys[:-1]
    rows.insert(1, "kid", (np.cumsum(change) - 1).astype(np.int64))
    return rows


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


def _synonym_links(snap: Snapshot, rel: np.ndarray) -> pd.DataFrame:
    """Synonyms attached to the Ensembl objects of their xref, over the releases both hold."""
    x = snap.tables["xrefs"]
    s = snap.tables["synonyms"]
    m = s.merge(x, on=["db_name", "accession", "label"], suffixes=("_syn", ""))
    lo = np.maximum(m["first_syn"].to_numpy(), m["first"].to_numpy())
    hi = np.minimum(m["last_syn"].to_numpy(), m["last"].to_numpy())
    m = m[lo <= hi].assign(lo=lo[lo <= hi], hi=hi[lo <= hi])
    db = m["db_display_name"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "key": m["synonym"].to_numpy(dtype=object),
            "tier": TIER_SYNONYM,
            "obj": m["obj"].to_numpy(),
            "first": rel[m["lo"].to_numpy()],
            "last": rel[m["hi"].to_numpy()],
            "source": db,
            "node": db
            + "/"
            + m["label"].to_numpy(dtype=object)
            + " (synonym "
            + m["synonym"].to_numpy(dtype=object)
            + ")",
        }
    )
