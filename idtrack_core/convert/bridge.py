"""External-name bridges (IDTrack's "external jump"), in time.

When history leads nowhere alive at the target (a retired gene, an Ensembl re-identification), a gene may
be bridged to another gene that held one of its external names later (forward) or earlier (backward) than
the dead end; the walk then continues from that gene at that release. Kinds, strongest first:

- ``accession``: the same stable accession of the same database (``HGNC:11998``, an NCBI Gene ID);
- ``label``: the same display label of the same database, unless both genes have real accessions for it
  and they differ (a symbol given to another gene is not the same gene);
- ``synonym``: the dead gene's display label is a synonym (previous symbol) of the other gene's xref,
  unless some other gene ever carried that label as its own symbol (then it is a reused symbol, and a
  previous symbol of it may belong to either owner).

A name held by several genes yields all of them (1:n), never a pick.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from idtrack_core.graph.model import Snapshot

BRIDGE_KINDS = ("accession", "label", "synonym")


@dataclass(frozen=True)
class BridgeTarget:
    """Gene ``obj`` held the bridging name at release ``time``; ``via`` names the bridge."""

    obj: int
    time: float
    via: str


class BridgeIndex:
    """Which genes held which external names, and when."""

    def __init__(self, snap: Snapshot) -> None:
        rel = np.asarray(snap.release_list, dtype=np.float64)
        types = snap.tables["objects"]["type"].to_numpy(dtype=object)
        x = snap.tables["xrefs"]
        x = x[types[x["obj"].to_numpy()] == "gene"]
        self.display = dict(zip(x["db_name"].tolist(), x["db_display_name"].tolist(), strict=True))
        self.own: dict[int, list[tuple[str, str, str, float, float]]] = defaultdict(list)
        self.accession: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
        self.label: dict[tuple[str, str], list[tuple[int, str, float, float]]] = defaultdict(list)
        cols = [x[c].tolist() for c in ("obj", "db_name", "accession", "label")]
        firsts, lasts = rel[x["first"].to_numpy()].tolist(), rel[x["last"].to_numpy()].tolist()
        for obj, db, acc, lab, f, la in zip(*cols, firsts, lasts, strict=True):
            self.own[obj].append((db, acc, lab, f, la))
            if acc != lab:
                self.accession[(db, acc)].append((obj, f, la))
            self.label[(db, lab)].append((obj, acc, f, la))
        self.synonym: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
        s = snap.tables["synonyms"].merge(x, on=["db_name", "accession", "label"], suffixes=("_syn", ""))
        lo = np.maximum(s["first_syn"].to_numpy(), s["first"].to_numpy())
        hi = np.minimum(s["last_syn"].to_numpy(), s["last"].to_numpy())
        keep = lo <= hi
        s = s[keep]
        for obj, db, syn, f, la in zip(
            s["obj"].tolist(), s["db_name"].tolist(), s["synonym"].tolist(), rel[lo[keep]], rel[hi[keep]], strict=True
        ):
            self.synonym[(db, syn)].append((obj, float(f), float(la)))

    def targets(self, obj: int, kind: str, start: float, end: float) -> Iterator[BridgeTarget]:
        """Genes (other than ``obj``) holding one of ``obj``'s names of this kind between ``start`` and ``end``.

        ``start`` is the dead end's time and ``end`` the target release. Only names ``obj`` itself held in
        that window count (not names it acquired later, e.g. through a merge); the target time is the
        release in the window closest to the dead end.
        """
        lo, hi = min(start, end), max(start, end)

        def closest(first: float, last: float) -> float | None:
            a, b = max(first, lo), min(last, hi)
            if a > b:
                return None
            return a if end >= start else b

        names = {(db, acc, lab) for db, acc, lab, f, la in self.own.get(obj, ()) if closest(f, la) is not None}
        for db, acc, lab in sorted(names):
            shown = self.display.get(db, db)
            if kind == "accession" and acc != lab:
                for z, f, la in self.accession.get((db, acc), ()):
                    t = closest(f, la)
                    if z != obj and t is not None:
                        yield BridgeTarget(z, t, f"{shown}/{acc}")
            elif kind == "label":
                for z, z_acc, f, la in self.label.get((db, lab), ()):
                    t = closest(f, la)
                    no_contradiction = acc == lab or z_acc in (lab, acc)
                    if z != obj and t is not None and no_contradiction:
                        yield BridgeTarget(z, t, f"{shown}/{lab}")
            elif kind == "synonym":
                if {z for z, *_ in self.label.get((db, lab), ())} != {obj}:
                    continue  # the label was reused: its previous-symbol links are ambiguous
                for z, f, la in self.synonym.get((db, lab), ()):
                    t = closest(f, la)
                    if z != obj and t is not None:
                        yield BridgeTarget(z, t, f"{shown}/{lab} (synonym)")
