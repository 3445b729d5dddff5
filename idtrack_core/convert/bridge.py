"""Bridges (IDTrack's "external jump"), in time: from a gene whose history leads nowhere alive to genes that took
over its names or its place, never confidently wrong.

When history leads nowhere alive at the target (a retired gene, an Ensembl re-identification), a gene may be
bridged to another gene that held one of its external names later (forward) or earlier (backward) than the dead
end, or that lies where it lay; the walk then continues from that gene at that release.

Name bridges, strongest kind first:

- ``accession``: the same stable accession of the same database (``HGNC:11998``, an NCBI Gene ID);
- ``label``: the same display label of the same database, unless both genes have real accessions for it and they
  differ (a symbol given to another gene is not the same gene);
- ``synonym``: the dead gene's display label is a synonym (previous symbol) of the other gene's xref, unless some
  other gene ever carried that label as its own symbol (a reused symbol).

A name is evidence of identity only where it points at one gene. A label or synonym bridge is therefore refused
(with the reason, in the answer's evidence) when, within the releases the name could refer to (from the first
release the dead gene held it to the target):

- a gene other than the dead gene and the bridge's candidates held the name (``shared``);
- the candidate existed in a release together with the dead gene (two genes at once are two genes: the rule of
  the Lattice/cellxgene gene maps) (``coexisted``);
- both genes have locations in one assembly and they do not overlap by the threshold (``locations differ``);
- the name is clone-based (``Clone_based_*`` databases: Ensembl names genes after the clone they lie on and
  reassigns those names) and no overlap of locations corroborates it (``clone-based name not corroborated``).

``coordinates``: a dead gene maps to the genes of the same assembly, seq_region and strand whose reciprocal
overlap with it is at least :data:`COORDINATE_OVERLAP` (the share of the longer gene covered by both: at 0.5 each
gene overlaps the other by at least half) and that never coexisted with it; the overlap is the bridge's score.
Ensembl's own ID mapping scores candidates by overlap, and the Lattice/cellxgene maps require identical
coordinates (overlap 1) and no coexistence. The resolver combines name and coordinate evidence (agreement,
disagreement: both candidates kept): see :mod:`.resolve`.

A name or place held by several genes yields all of them (1:n), never a pick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from idtrack_core.convert.names import repeated_strings
from idtrack_core.ensembl.regions import reciprocal_overlap
from idtrack_core.graph.model import Snapshot, assembly_key

BRIDGE_KINDS = ("accession", "label", "synonym")
COORDINATE_OVERLAP = 0.5


@dataclass(frozen=True)
class BridgeTarget:
    """Gene ``obj`` held the bridging name (or lay at the bridging place) at release ``time``; ``via`` names the
    bridge; ``score`` is 1 for names and the overlap for coordinates."""

    obj: int
    time: float
    via: str
    score: float = 1.0


@dataclass(frozen=True)
class BridgeHops:
    """The bridge targets of one dead gene, and the bridges refused (``"<via>: <reason>"``)."""

    targets: tuple[BridgeTarget, ...] = ()
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Place:
    assembly: str  # compared by assembly_key
    name: str  # the assembly's name, for the evidence
    region: str
    strand: int
    start: int
    end: int
    first: float
    last: float


class _Region:
    """The gene locations on one (assembly, seq_region, strand): obj, start, end, first, last (arrays in row
    order), and the rows in order of their start."""

    def __init__(self, obj: np.ndarray, start: np.ndarray, end: np.ndarray, first: np.ndarray, last: np.ndarray):
        self.obj, self.start, self.end, self.first, self.last = obj, start, end, first, last
        self._by_start = np.argsort(start, kind="stable")
        self._starts = start[self._by_start]

    def around(self, start: int, end: int) -> np.ndarray:
        """The rows (in row order) that may overlap ``start``..``end`` by :data:`COORDINATE_OVERLAP` of the longer
        of both: such a gene is at most ``length / COORDINATE_OVERLAP`` long and ends at or after ``start``, so it
        starts in ``start - length / COORDINATE_OVERLAP``..``end``."""
        length = end - start + 1
        if length < 1:
            return np.arange(len(self.obj))
        lo = np.searchsorted(self._starts, start - int(np.ceil(length / COORDINATE_OVERLAP)), "left")
        hi = np.searchsorted(self._starts, end, "right")
        return np.sort(self._by_start[lo:hi])


class BridgeIndex:
    """Which genes held which external names, where genes lay, and when.

    Built column-wise (sorted arrays): the per-gene and per-name rows a walk asks for are read out on first need,
    since a snapshot's walks reach only a few percent of its genes and names. A name is an integer code
    (:meth:`_name_codes`) of a (database, name) pair."""

    def __init__(self, snap: Snapshot) -> None:
        self.rel = np.asarray(snap.release_list, dtype=np.float64)
        self.ids = snap.tables["objects"]["stable_id"].to_numpy(dtype=object)
        types = repeated_strings(snap.tables["objects"]["type"])
        x = snap.tables["xrefs"]
        x = x[types[x["obj"].to_numpy()] == "gene"].reset_index(drop=True)
        shown = x[["db_name", "db_display_name"]].drop_duplicates("db_name", keep="last")
        self.display = dict(zip(shown["db_name"].tolist(), shown["db_display_name"].tolist(), strict=True))
        self.clone_dbs = {db for db in self.display if "clone_based" in db.lower()}
        s = snap.tables["synonyms"].merge(x, on=["db_name", "accession", "label"], suffixes=("_syn", ""))
        lo = np.maximum(s["first_syn"].to_numpy(), s["first"].to_numpy())
        hi = np.minimum(s["last_syn"].to_numpy(), s["last"].to_numpy())
        keep = lo <= hi
        s = s[keep]
        acc_code, lab_code, syn_code, n_names = _name_codes(
            x["db_name"], x["accession"], x["label"], s["db_name"], s["synonym"]
        )
        obj, first, last = x["obj"].to_numpy(np.int64), self.rel[x["first"].to_numpy()], self.rel[x["last"].to_numpy()]
        db = repeated_strings(x["db_name"])
        acc, lab = (x[c].to_numpy(dtype=object) for c in ("accession", "label"))
        n_objects = len(self.ids)
        self._own = _Groups(obj, n_objects, (db, acc, lab, first, last, acc_code, lab_code))
        distinct = acc != lab
        self._accession = _Groups(acc_code[distinct], n_names, (obj[distinct], first[distinct], last[distinct]))
        self._label = _Groups(lab_code, n_names, (obj, acc, first, last))
        s_obj, s_first, s_last = s["obj"].to_numpy(np.int64), self.rel[lo[keep]], self.rel[hi[keep]]
        self._synonym = _Groups(syn_code, n_names, (s_obj, s_first, s_last))
        self._holders = _Groups(
            np.concatenate([acc_code[distinct], lab_code, syn_code]),
            n_names,
            tuple(
                np.concatenate([c[distinct], c, c_syn]) for c, c_syn in ((obj, s_obj), (first, s_first), (last, s_last))
            ),
        )
        self._lives = _lives(snap, types)
        self._places, self.by_region = _places(snap, types, self.rel)
        self._near: dict[tuple[int, float, str | None], _Place | None] = {}
        self._held_memo: dict[tuple[int, float, float], list[tuple[str, str, str, float, float, int, int]]] = {}
        self._coexisted: dict[tuple[int, int], bool] = {}
        self._hops_memo: dict[tuple[str, int, float, float], BridgeHops] = {}

    # ------------------------------------------------------------------------------------------ facts
    def coexisted(self, a: int, b: int) -> bool:
        """Whether genes ``a`` and ``b`` both existed in some release of the snapshot."""
        key = (a, b)
        if key not in self._coexisted:
            lives_a, lives_b = self._lives.get(a), self._lives.get(b)
            self._coexisted[key] = any(f1 <= l2 and f2 <= l1 for f1, l1 in lives_a for f2, l2 in lives_b)
        return self._coexisted[key]

    def place_near(self, obj: int, time: float, assembly: str | None = None) -> _Place | None:
        """Where ``obj`` lay (on ``assembly``, when given) at the release nearest to ``time`` (None: unknown)."""
        key = (obj, time, assembly)
        if key in self._near:
            return self._near[key]
        places = [p for p in self._places.get(obj) if assembly is None or p.assembly == assembly]

        def distance(p: _Place) -> tuple[float, float]:
            return (0.0 if p.first <= time <= p.last else min(abs(p.first - time), abs(p.last - time)), -p.last)

        near = self._near[key] = min(places, key=distance) if places else None
        return near

    def overlap(self, a: int, a_time: float, b: int, b_time: float) -> float | None:
        """Reciprocal overlap of two genes where they lay near those times, compared on the candidate ``b``'s
        assembly (else on ``a``'s); None when they have no locations in one assembly (no evidence either way),
        0 when on other regions or strands."""
        pb = self.place_near(b, b_time)
        pa = None if pb is None else self.place_near(a, a_time, pb.assembly)
        if pa is None:
            pa = self.place_near(a, a_time)
            pb = None if pa is None else self.place_near(b, b_time, pa.assembly)
        if pa is None or pb is None:
            return None
        if (pa.region, pa.strand) != (pb.region, pb.strand):
            return 0.0
        return _scalar_overlap(pa.start, pa.end, pb.start, pb.end)

    # ------------------------------------------------------------------------------------------ names
    def names(self, obj: int, kind: str, start: float, end: float) -> BridgeHops:
        """Name bridges of one kind from gene ``obj`` (dead at ``start``) towards the target release ``end``
        (computed once per distinct call: dead ends recur across the walks of a snapshot)."""
        key = (kind, obj, start, end)
        hops = self._hops_memo.get(key)
        if hops is None:
            hops = self._hops_memo[key] = self._names(obj, kind, start, end)
        return hops

    def _names(self, obj: int, kind: str, start: float, end: float) -> BridgeHops:
        lo, hi = min(start, end), max(start, end)

        def closest(first: float, last: float) -> float | None:
            a, b = max(first, lo), min(last, hi)
            if a > b:
                return None
            return a if end >= start else b

        targets: list[BridgeTarget] = []
        refused: list[str] = []
        for db, acc, lab, f_own, l_own, acc_code, lab_code in self._held(obj, lo, hi):
            shown = self.display.get(db, db)
            if kind == "accession" and acc != lab:
                hops = [
                    BridgeTarget(z, t, f"{shown}/{acc}")
                    for z, f, la in self._accession.get(acc_code)
                    if z != obj and (t := closest(f, la)) is not None
                ]
                targets += self._flag_places(obj, start, hops)
                continue
            if kind == "label":
                hops = [
                    BridgeTarget(z, t, f"{shown}/{lab}")
                    for z, z_acc, f, la in self._label.get(lab_code)
                    if z != obj and (t := closest(f, la)) is not None and (acc == lab or z_acc in (lab, acc))
                ]
            elif kind == "synonym":
                if {z for z, *_ in self._label.get(lab_code)} != {obj}:
                    continue  # the label was reused: its previous-symbol links are ambiguous
                hops = [
                    BridgeTarget(z, t, f"{shown}/{lab} (synonym)")
                    for z, f, la in self._synonym.get(lab_code)
                    if z != obj and (t := closest(f, la)) is not None
                ]
            else:
                continue
            kept, why = self._exclusive(obj, db, lab_code, (min(f_own, end), max(l_own, end)), start, hops)
            targets += kept
            refused += why
        return BridgeHops(_unique(targets), tuple(sorted(set(refused))))

    def _held(self, obj: int, lo: float, hi: float) -> list[tuple[str, str, str, float, float, int, int]]:
        """The names gene ``obj`` held at some release in ``lo..hi``, sorted: database, accession, label, the first
        and last release it held them, and the codes of the accession and the label."""
        key = (obj, lo, hi)
        if key in self._held_memo:
            return self._held_memo[key]
        held: dict[tuple[str, str, str], list[Any]] = {}
        for db, acc, lab, f, la, acc_code, lab_code in self._own.get(obj):
            if max(f, lo) <= min(la, hi):
                name = (db, acc, lab)
                f0, l0 = held[name][:2] if name in held else (f, la)
                held[name] = [min(f0, f), max(l0, la), acc_code, lab_code]
        rows = self._held_memo[key] = [(*name, *rest) for name, rest in sorted(held.items())]
        return rows

    def _exclusive(
        self,
        obj: int,
        db: str,
        name: int,
        window: tuple[float, float],
        start: float,
        hops: list[BridgeTarget],
    ) -> tuple[list[BridgeTarget], list[str]]:
        """The hops of a label or synonym bridge that survive the rules of the module docstring, and the
        refusals (``name``: the code of the bridging name)."""
        if not hops:
            return [], []
        via = hops[0].via
        candidates = {h.obj for h in hops}
        others = {
            z
            for z, f, la in self._holders.get(name)
            if z != obj and z not in candidates and f <= window[1] and la >= window[0]
        }
        if others:
            names = ", ".join(sorted(self.ids[z] for z in others)[:3]) + (", …" if len(others) > 3 else "")
            return [], [f"{via}: shared with {names}"]
        kept, refused = [], []
        for h in hops:
            overlap = self.overlap(obj, start, h.obj, h.time)
            if self.coexisted(obj, h.obj):
                refused.append(f"{via}: {self.ids[h.obj]} coexisted")
            elif overlap is not None and overlap < COORDINATE_OVERLAP:
                refused.append(f"{via}: {self.ids[h.obj]} locations differ")
            elif db in self.clone_dbs and overlap is None:
                refused.append(f"{via}: {self.ids[h.obj]} clone-based name not corroborated")
            else:
                kept.append(h)
        return kept, refused

    def _flag_places(self, obj: int, start: float, hops: list[BridgeTarget]) -> list[BridgeTarget]:
        """Accession hops are kept (curated evidence), but a disagreement of locations is written into ``via``."""
        out = []
        for h in hops:
            overlap = self.overlap(obj, start, h.obj, h.time)
            disagrees = overlap is not None and overlap < COORDINATE_OVERLAP
            out.append(BridgeTarget(h.obj, h.time, h.via + (" (locations differ)" if disagrees else ""), h.score))
        return out

    # ------------------------------------------------------------------------------------ coordinates
    def coordinates(self, obj: int, start: float, end: float) -> BridgeHops:
        """Coordinate bridges from gene ``obj`` (dead at ``start``) towards the target release ``end``, on every
        assembly it has a location in (where it lay nearest to ``start`` there); computed once per distinct call."""
        key = ("coordinates", obj, start, end)
        hops = self._hops_memo.get(key)
        if hops is None:
            hops = self._hops_memo[key] = self._coordinates(obj, start, end)
        return hops

    def _coordinates(self, obj: int, start: float, end: float) -> BridgeHops:
        lo, hi = min(start, end), max(start, end)
        targets = []
        for assembly in sorted({p.assembly for p in self._places.get(obj)}):
            here = self.place_near(obj, start, assembly)
            region = self.by_region.get((assembly, here.region, here.strand)) if here else None
            if here is None or region is None:
                continue
            rows = region.around(here.start, here.end)
            z, zs, ze, zf, zl = (c[rows] for c in (region.obj, region.start, region.end, region.first, region.last))
            overlap = reciprocal_overlap(np.int64(here.start), np.int64(here.end), zs, ze)
            hit = (overlap >= COORDINATE_OVERLAP) & (z != obj) & (zf <= hi) & (zl >= lo)
            for i in np.flatnonzero(hit):
                if self.coexisted(obj, int(z[i])):
                    continue
                time = max(zf[i], lo) if end >= start else min(zl[i], hi)
                where = f"{here.name}:{here.region}:{zs[i]}-{ze[i]}:{'+' if here.strand > 0 else '-'}"
                targets.append(BridgeTarget(int(z[i]), float(time), f"coordinates/{where}", float(overlap[i])))
        return BridgeHops(_unique(targets))


def _scalar_overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> float:
    """:func:`~idtrack_core.ensembl.regions.reciprocal_overlap` of one pair of intervals, in Python integers (the
    same float: both divide integers below 2**53 with one correctly rounded division), without NumPy's per-call
    cost."""
    overlap = min(a_end, b_end) - max(a_start, b_start) + 1
    return overlap / max(a_end - a_start + 1, b_end - b_start + 1, 1) if overlap > 0 else 0.0


def _unique(targets: list[BridgeTarget]) -> tuple[BridgeTarget, ...]:
    return tuple(sorted(set(targets), key=lambda t: (t.obj, t.time, t.via)))


class _Groups:
    """Rows of some columns grouped by an integer key, read out (as tuples of Python values, or ``make(*row)``) on
    first need and kept."""

    def __init__(
        self, keys: np.ndarray, size: int, columns: tuple[np.ndarray, ...], make: Callable[..., Any] | None = None
    ) -> None:
        """``keys``: one per row, in ``0..size-1``."""
        order = np.argsort(keys, kind="stable")  # the rows of a key keep their order
        self._bounds = np.searchsorted(np.asarray(keys)[order], np.arange(size + 1))
        self._columns = tuple(np.asarray(c)[order] for c in columns)
        self._make = make
        self._read: dict[int, list[Any]] = {}

    def get(self, key: int) -> list[Any]:
        """The rows of ``key``, in their order (empty when none)."""
        rows = self._read.get(key)
        if rows is None:
            lo, hi = self._bounds[key], self._bounds[key + 1]
            rows = list(zip(*(c[lo:hi].tolist() for c in self._columns), strict=True))
            if self._make is not None:
                rows = [self._make(*row) for row in rows]
            self._read[key] = rows
        return rows


def _name_codes(
    db: pd.Series, accession: pd.Series, label: pd.Series, synonym_db: pd.Series, synonym: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Codes of the (database, name) pairs of accessions, labels and synonyms, in one space (equal pairs, equal
    codes, ``0..n-1``), and ``n``."""
    db_code, _ = pd.factorize(np.concatenate([c.to_numpy(dtype=object) for c in (db, db, synonym_db)]), False)
    names = np.concatenate([c.to_numpy(dtype=object) for c in (accession, label, synonym)])
    name_code, distinct = pd.factorize(names, use_na_sentinel=False)
    pair, pairs = pd.factorize(db_code.astype(np.int64) * max(len(distinct), 1) + name_code)
    n = len(db)
    return pair[:n], pair[n : 2 * n], pair[2 * n :], len(pairs)


def _lives(snap: Snapshot, types: np.ndarray) -> _Groups:
    """Per gene, the runs of snapshot positions it existed in."""
    v = snap.tables["versions"]
    v = v[types[v["obj"].to_numpy()] == "gene"]
    return _Groups(v["obj"].to_numpy(np.int64), len(types), (v["first"].to_numpy(), v["last"].to_numpy()))


def _places(snap: Snapshot, types: np.ndarray, rel: np.ndarray) -> tuple[_Groups, dict[tuple[str, str, int], _Region]]:
    """Gene locations per gene, and per (assembly, seq_region, strand)."""
    loc = snap.tables["locations"]
    loc = loc[types[loc["obj"].to_numpy()] == "gene"]
    names = repeated_strings(loc["assembly"])
    code, distinct = pd.factorize(names)
    assembly = np.array([assembly_key(a) for a in distinct], dtype=object)[code]
    first, last = rel[loc["first"].to_numpy()], rel[loc["last"].to_numpy()]
    frame = pd.DataFrame(
        {
            "assembly": assembly,
            "name": names,
            "region": repeated_strings(loc["seq_region"]),
            "strand": loc["strand"].to_numpy(dtype=np.int64),
            "start": loc["start"].to_numpy(dtype=np.int64),
            "end": loc["end"].to_numpy(dtype=np.int64),
            "first": first,
            "last": last,
            "obj": loc["obj"].to_numpy(dtype=np.int64),
        }
    )
    places = _Groups(frame["obj"].to_numpy(), len(types), tuple(frame[c].to_numpy() for c in list(frame)[:-1]), _Place)
    by_region = {
        key: _Region(*(g[c].to_numpy() for c in ("obj", "start", "end", "first", "last")))
        for key, g in frame.groupby(["assembly", "region", "strand"], sort=True)
    }
    return places, by_region
