"""Resolve names to a target release and database (DESIGN §5): match → history → bridge → final hop.

One :class:`Resolver` answers for one :class:`ConversionTarget`. Answers are computed per distinct starting
node (Ensembl object anchored in a span of time) and memoized, so resolving every name of a snapshot (the
resolution index) costs one history walk per starting node, not per name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from idtrack_core.convert.answers import candidate_keys, lookup
from idtrack_core.convert.bridge import BRIDGE_KINDS, BridgeHops, BridgeIndex
from idtrack_core.convert.history import Candidate, HistoryWalker, State, best_candidates
from idtrack_core.convert.keys import key_answers
from idtrack_core.convert.names import NameTable, repeated_strings
from idtrack_core.convert.starts import Answer, StartAnswers, StringPool, joined_per_key, split
from idtrack_core.convert.target import ENSEMBL_DATABASES, ConversionTarget
from idtrack_core.graph.intervals import holds_at
from idtrack_core.graph.model import Snapshot
from idtrack_core.parallel import in_background

_PARALLEL_WALKS = 2000
"""Starts to walk from which on the walks are split between two processes (when a CPU is free)."""


@dataclass(frozen=True)
class Bridged:
    """What the bridges of one walk found: candidates, the ``bridge`` kind and ``via`` (the evidence).

    ``bridge`` is a name kind (``accession``, ``label``, ``synonym``), ``coordinates``, ``<kind>+coordinates``
    (both kinds of evidence found the same genes), ``<kind>|coordinates`` (they disagree: every candidate of
    both is kept, ``disagree``), ``refused`` (no bridge taken; ``via`` lists the refused ones with their
    reasons) or None.
    """

    found: dict[int, Candidate]
    bridge: str | None = None
    via: str | None = None
    disagree: bool = False

    @classmethod
    def combine(
        cls,
        names: tuple[dict[int, Candidate], set[str]],
        kind: str | None,
        places: tuple[dict[int, Candidate], set[str]],
        refused: set[str],
    ) -> Bridged:
        (by_name, name_vias), (by_place, place_vias) = names, places
        vias = ";".join(sorted(name_vias | place_vias))
        if by_name and by_place:
            agree = set(by_name) == set(by_place)
            found = {**by_place, **by_name}
            if agree:
                found = {o: max(by_name[o], by_place[o], key=lambda c: c.rank) for o in by_name}
            return cls(found, f"{kind}{'+' if agree else '|'}coordinates", vias, disagree=not agree)
        if by_name or by_place:
            return cls(by_name or by_place, kind if by_name else "coordinates", vias)
        if refused:
            return cls({}, "refused", ";".join(sorted(refused)))
        return cls({})


class Resolver:
    """Answers names for one snapshot and one conversion target."""

    def __init__(
        self,
        snap: Snapshot,
        target: ConversionTarget,
        names: NameTable | Callable[[], NameTable] | None = None,
        bridges: BridgeIndex | None = None,
    ) -> None:
        """``names``: the snapshot's name table, or a call returning it when first needed (e.g. the result of
        a computation running in another process meanwhile), or None to build it then."""
        self.snap = snap
        self.target = target.validated(snap)
        self._names_of: Callable[[], NameTable] = (
            (lambda: names) if isinstance(names, NameTable) else names or (lambda: NameTable.from_snapshot(snap))
        )
        self._names: NameTable | None = None
        self.pos = snap.position(self.target.to_release, self.target.to_assembly)
        self.target_time = snap.history_time(self.pos)
        self.from_time = self._from_time()
        objs = snap.tables["objects"]
        self.ids = bridges.ids if bridges is not None else objs["stable_id"].to_numpy(dtype=object)
        self.types = repeated_strings(objs["type"])
        v = snap.tables["versions"]
        self.alive = np.zeros(len(objs), dtype=bool)
        self.alive[v["obj"].to_numpy()[holds_at(v["first"].to_numpy(), v["last"].to_numpy(), self.pos)]] = True
        p = snap.tables["parents"]
        p = p[holds_at(p["first"].to_numpy(), p["last"].to_numpy(), self.pos)]
        self.parent = dict(zip(p["child"].tolist(), p["parent"].tolist(), strict=True))
        self.children: dict[int, list[int]] = defaultdict(list)
        for child, parent in sorted(zip(p["child"].tolist(), p["parent"].tolist(), strict=True)):
            self.children[parent].append(child)
        x = snap.tables["xrefs"]
        self._xrefs_now = x[holds_at(x["first"].to_numpy(), x["last"].to_numpy(), self.pos)]
        self.gene_level = self.target.final_database not in ("ensembl_transcript", "ensembl_translation")
        self.last_gene = self._last_genes(snap.tables["parents"])
        self.final_genes, self.final_targets, self.final_fallback = self._final_arrays()
        self.final_gene_codes, genes = pd.factorize(self.final_genes)
        self.final_target_codes, targets = pd.factorize(self.final_targets)
        self.strings = {
            "ensembl_genes": StringPool(genes),
            "target_ids": StringPool(targets),
            "bridge": StringPool(),
            "bridge_via": StringPool(),
        }
        self.non_primary_genes = (
            frozenset() if self.target.keep_non_primary else non_primary_genes(snap, self.pos, self.ids, self.types)
        )
        self._walker: HistoryWalker | None = None  # built on first need
        self._bridges = bridges  # built on first need when not given
        self._lowercase: NameTable | None = None
        self._start_memo: dict[tuple[int, float, float], Answer] = {}

    @property
    def names(self) -> NameTable:
        """The names the target's source databases give (all names without ``source_databases``)."""
        if self._names is None:
            self._names = self._names_of().restricted_to(list(self.target.source_databases or ()))
            self._names_of = lambda: self._names  # the full table is not kept
        return self._names

    @property
    def walker(self) -> HistoryWalker:
        """The history walker towards the target release."""
        if self._walker is None:
            self._walker = HistoryWalker(self.snap, self.target_time, self.alive)
        return self._walker

    def forget_walks(self) -> None:
        """Free what only walks use (history edges, bridge index, answers of starts); they are rebuilt when
        needed again."""
        self._walker = self._bridges = None
        self._start_memo = {}

    def _from_time(self) -> float | None:
        """Where ``from_release`` (of ``from_assembly``) stands in history: an extract's history release when the
        snapshot has that release, else the number itself."""
        frm = self.target.from_release
        if frm is None:
            return None
        try:
            return self.snap.history_time(self.snap.position(frm, self.target.from_assembly))
        except ValueError:
            return float(frm)

    # ------------------------------------------------------------------ final hop
    def _final_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per object alive at the target: its gene ID, its target IDs (``;``-joined) and the fallback flag."""
        n = len(self.ids)
        parent = np.full(n, -1, dtype=np.int64)
        if self.parent:
            parent[np.fromiter(self.parent.keys(), dtype=np.int64)] = np.fromiter(self.parent.values(), dtype=np.int64)
        gene = np.full(n, -1, dtype=np.int64)
        is_gene = self.types == "gene"
        gene[is_gene] = np.flatnonzero(is_gene)
        for typ in ("transcript", "translation"):  # a translation's gene is its transcript's gene
            sel = np.flatnonzero((self.types == typ) & (parent >= 0))
            gene[sel] = gene[parent[sel]]
        gene[~self.alive] = -1
        genes = np.where(gene >= 0, self.ids[np.maximum(gene, 0)], "").astype(object)
        db = self.target.final_database
        if db == "ensembl_gene":
            return genes, genes.copy(), np.zeros(n, dtype=bool)
        targets = np.full(n, "", dtype=object)
        if db in ENSEMBL_DATABASES:
            for obj in np.flatnonzero(self.alive):
                targets[obj] = ";".join(sorted(self.ids[d] for d in self._descendants(int(obj), ENSEMBL_DATABASES[db])))
            return genes, targets, np.zeros(n, dtype=bool)
        x = self._xrefs_now[self._xrefs_now["db_display_name"] == db]
        col = "label" if self.target.target_field == "label" else "accession"
        names = x[["obj", col]].drop_duplicates().sort_values(["obj", col], kind="stable")
        owners, own = joined_per_key(names["obj"].to_numpy(), names[col].to_numpy(dtype=object))
        has_own = np.zeros(n, dtype=bool)
        has_own[owners] = True
        joined = np.full(n, "", dtype=object)
        joined[owners] = own
        targets = np.where(gene >= 0, joined[np.maximum(gene, 0)], "").astype(object)
        for obj in np.flatnonzero(has_own & ~is_gene & self.alive):  # e.g. names on transcripts
            both = {*targets[obj].split(";"), *joined[obj].split(";")} - {""}
            targets[obj] = ";".join(sorted(both))
        fallback = (targets == "") & (gene >= 0)
        targets[fallback] = genes[fallback]
        return genes, targets, fallback

    def _last_genes(self, parents: pd.DataFrame) -> np.ndarray:
        """Per object, the gene it belonged to in the last release that records its parent (genes: itself)."""
        last_parent = np.full(len(self.ids), -1, dtype=np.int64)
        p = parents.sort_values(["child", "last"], kind="stable").drop_duplicates("child", keep="last")
        last_parent[p["child"].to_numpy()] = p["parent"].to_numpy()
        gene = np.full(len(self.ids), -1, dtype=np.int64)
        is_gene = self.types == "gene"
        gene[is_gene] = np.flatnonzero(is_gene)
        for typ in ("transcript", "translation"):
            sel = np.flatnonzero((self.types == typ) & (last_parent >= 0))
            gene[sel] = gene[last_parent[sel]]
        return gene

    def _descendants(self, obj: int, typ: str) -> list[int]:
        """Objects of type ``typ`` related to ``obj`` at the target release: itself, its ancestor of that
        type (translation → transcript) or its descendants (gene → transcripts → translations)."""
        level = {"gene": 0, "transcript": 1, "translation": 2}
        while level[self.types[obj]] > level[typ]:
            parent = self.parent.get(obj)
            if parent is None or level[self.types[parent]] >= level[self.types[obj]]:
                return []
            obj = parent
        found, frontier = [], [obj]
        while frontier:
            found += [o for o in frontier if self.types[o] == typ]
            frontier = [
                c
                for o in frontier
                if self.types[o] != typ
                for c in self.children.get(o, ())
                if level[self.types[c]] > level[self.types[o]]
            ]
        return found

    def final(self, obj: int) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """(ensembl genes, target ids, fallback used) for an object alive at the target release."""
        genes, targets, fallback = self.final_genes[obj], self.final_targets[obj], self.final_fallback[obj]
        return split(genes), split(targets), bool(fallback)

    # ------------------------------------------------------------------ starts
    def answer_start(self, obj: int, lo: float, hi: float) -> Answer:
        """The answer for one Ensembl object anchored at times ``lo``..``hi``."""
        key = (obj, lo, hi)
        memo = self._start_memo.get(key)
        if memo is not None:
            return memo
        visited: list[State] = []
        found = self.walker.walk(obj, lo, hi, visited)
        bridge = via = None
        if not found and self.types[obj] != "gene" and self.gene_level and self.last_gene[obj] >= 0:
            gene = int(self.last_gene[obj])
            via_gene = self.answer_start(gene, lo, hi)
            answer = replace(
                via_gene,
                path_length=None if via_gene.path_length is None else via_gene.path_length + 1,
                bridge="+".join(b for b in ("parent_gene", via_gene.bridge) if b),
                bridge_via=";".join(v for v in (f"ensembl_gene/{self.ids[gene]}", via_gene.bridge_via) if v),
            )
            self._start_memo[key] = answer
            return answer
        keep_all = self.target.strategy == "all"
        if not found or keep_all:
            bridged = self._bridge([s for s in visited if not self.alive[s.obj]])
            found = {**bridged.found, **found}
            bridge, via = bridged.bridge, bridged.via
            keep_all |= bridged.disagree  # disagreeing evidence: every candidate is reported, none picked
        cands = sorted(found.values(), key=lambda c: c.obj) if keep_all else best_candidates(found)
        answer = self._answer(cands, bridge, via)
        self._start_memo[key] = answer
        return answer

    def _answer(self, cands: list[Candidate], bridge: str | None, via: str | None) -> Answer:
        if self.non_primary_genes:
            primary = [c for c in cands if self.final_genes[c.obj] not in self.non_primary_genes]
            cands = primary or cands
        genes: set[str] = set()
        targets: set[str] = set()
        fallback = False
        for c in cands:
            g, t, f = self.final(c.obj)
            genes.update(g)
            targets.update(t)
            fallback |= f
        return Answer(
            known=True,
            ensembl_genes=tuple(sorted(genes)),
            target_ids=tuple(sorted(targets)),
            fallback=fallback,
            path_length=min((c.steps for c in cands), default=None),
            min_score=min((c.score for c in cands), default=None),
            bridge=bridge,
            bridge_via=via,
        )

    def _bridge(self, dead_ends: list[State]) -> Bridged:
        """Bridges from the dead ends of a walk: the strongest kind of name bridge that finds something, and the
        coordinate bridge, combined (see :class:`Bridged`).

        ``strategy="best"`` bridges only when history reached nothing alive; ``"all"`` also bridges the
        dead-end branches of a walk that did."""
        if self._bridges is None:
            self._bridges = BridgeIndex(self.snap)
        bridges, target = self._bridges, self.walker.target
        starts = {(s.obj, s.time, s.forward): s for s in dead_ends if self.types[s.obj] == "gene"}
        refused: set[str] = set()
        names: tuple[dict[int, Candidate], set[str]] = ({}, set())
        kind = None
        for kind in BRIDGE_KINDS:
            names = self._hops(starts, lambda obj, time, k=kind: bridges.names(obj, k, time, target), refused)
            if names[0]:
                break
        places = self._hops(starts, lambda obj, time: bridges.coordinates(obj, time, target), refused)
        return Bridged.combine(names, kind, places, refused)

    def _hops(
        self,
        starts: dict[tuple[int, float, bool], State],
        hops_of: Callable[[int, float], BridgeHops],
        refused: set[str],
    ) -> tuple[dict[int, Candidate], set[str]]:
        """Continue the walk from every bridge target of every dead end; the candidates and the bridges used."""
        found: dict[int, Candidate] = {}
        vias: set[str] = set()
        for (obj, time, forward), state in sorted(starts.items()):
            hops = hops_of(obj, time)
            refused.update(hops.refused)
            for hop in hops.targets:
                before = dict(found)
                score = min(state.score, hop.score)
                self.walker.search(State(hop.obj, hop.time, score, state.steps + 1, forward), found)
                if found != before:
                    vias.add(hop.via)
        return found, vias

    # ------------------------------------------------------------------ names
    def start_answers(self, obj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> StartAnswers:
        """Answers of distinct starting nodes, as columns (strings as codes into :attr:`strings`).

        The common cases are vectorized: an object without ID-changing history that is alive at the target
        (itself), or a dead transcript/translation whose gene is such an object (its gene, for gene-level
        targets). Everything else walks the history, the parent gene and the bridges one by one.
        """
        n = len(obj)
        noev = ~self.walker.has_events_mask
        direct = noev[obj] & self.alive[obj]
        via_gene = np.zeros(n, dtype=bool)
        gene = np.full(n, -1, dtype=np.int64)
        if self.gene_level:
            gene = self.last_gene[obj]
            g = np.maximum(gene, 0)
            via_gene = ~direct & noev[obj] & (self.types[obj] != "gene") & (gene >= 0) & noev[g] & self.alive[g]
        src = np.where(via_gene, gene, obj)
        answered = direct | via_gene
        pools = self.strings
        via = np.full(n, -1, dtype=np.int64)
        gene_code, distinct_genes = pd.factorize(gene[via_gene])  # the text of each distinct gene made once
        via[via_gene] = pools["bridge_via"].codes("ensembl_gene/" + self.ids[distinct_genes])[gene_code]
        out = StartAnswers(
            genes=np.where(answered, self.final_gene_codes[src], pools["ensembl_genes"].code("")),
            targets=np.where(answered, self.final_target_codes[src], pools["target_ids"].code("")),
            fallback=answered & self.final_fallback[src],
            path_length=np.where(direct, 0, np.where(via_gene, 1, -1)),
            min_score=np.where(answered, 1.0, np.nan),
            bridge=np.where(via_gene, pools["bridge"].code("parent_gene"), -1),
            bridge_via=via,
        )
        walked = np.flatnonzero(~answered)
        for i, answer in zip(walked, self._walk_answers(obj[walked], lo[walked], hi[walked]), strict=True):
            out.set(int(i), answer, pools)
        return out

    def _walk_answers(self, obj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[Answer]:
        """:meth:`answer_start` of each start; when there are many and a CPU is free, the starts of every other
        gene in a forked child (:func:`~idtrack_core.parallel.in_background`). The starts of one gene (the gene,
        and the transcripts and translations it last had) share work memoized per process (the gene's answer,
        its bridges), so they stay in one process; answers depend only on the start, so the split does not
        change them."""
        if len(obj) < _PARALLEL_WALKS:
            return self._answers_of(obj, lo, hi)
        odd = self._gene_ranks(obj) % 2 == 1
        mine, theirs = np.flatnonzero(~odd), np.flatnonzero(odd)
        second = in_background(self._answers_of, obj[theirs], lo[theirs], hi[theirs])
        answers: list[Answer] = [None] * len(obj)  # type: ignore[list-item]  # every slot is filled below
        for part, found in ((mine, self._answers_of(obj[mine], lo[mine], hi[mine])), (theirs, second.result())):
            for i, answer in zip(part.tolist(), found, strict=True):
                answers[i] = answer
        return answers

    def _gene_ranks(self, obj: np.ndarray) -> np.ndarray:
        """Per object, the rank of its gene (itself for a gene, the gene it last belonged to otherwise) among the
        distinct genes of ``obj``."""
        gene = self.last_gene[obj]
        return np.unique(np.where(gene >= 0, gene, obj), return_inverse=True)[1]

    def _answers_of(self, obj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[Answer]:
        return [self.answer_start(o, a, b) for o, a, b in zip(obj.tolist(), lo.tolist(), hi.tolist(), strict=True)]

    def resolve_rows(self, rows: pd.DataFrame, last: bool = False) -> pd.DataFrame:
        """Answers (one row per key, indexed by key, with ``ANSWER_COLUMNS``) for name rows sorted by ``kid``;
        ``last``: no more names will be resolved, the walks are forgotten (:meth:`forget_walks`) as soon as they
        are done, before the answers are assembled."""
        return key_answers(self, rows, last)

    def prefer_primary(self, answers: list[Answer]) -> list[Answer]:
        """The answers that reach a primary-assembly gene, when some do (else all of them)."""
        if not self.non_primary_genes:
            return answers
        primary = [a for a in answers if any(g not in self.non_primary_genes for g in a.ensembl_genes)]
        return primary or answers

    def resolve(self, queries: Iterable[str]) -> pd.DataFrame:
        """Convert ``queries`` (any names) one row each, in input order; unknown names are 1:0.

        Resolves only the keys these queries can reach, with the same lookup as the resolution index.
        """
        queries = [str(q) for q in queries]
        exact_keys, lower_keys = candidate_keys(queries)
        rows = self.names.rows
        exact = self.resolve_rows(rows[rows["key"].isin(exact_keys)])
        lowered = self.lowercase_names().rows
        lower = self.resolve_rows(lowered[lowered["key"].isin(lower_keys)])
        return lookup(exact, lower, queries)

    def lowercase_names(self) -> NameTable:
        if self._lowercase is None:
            self._lowercase = self.names.lowercased()
        return self._lowercase


def non_primary_genes(snap: Snapshot, pos: int, ids: np.ndarray, types: np.ndarray) -> frozenset[str]:
    """Stable IDs of the genes on patches, haplotypes, LRGs or other non-reference regions, by the region class of
    their location nearest before (else after) release position ``pos``."""
    loc = snap.tables["locations"]
    loc = loc[(types[loc["obj"].to_numpy()] == "gene") & loc["region_class"].notna().to_numpy()]
    if loc.empty:
        return frozenset()
    after = (loc["first"] > pos).to_numpy()
    order = loc.assign(_after=after, _d=np.where(after, loc["first"] - pos, pos - loc["last"]))
    nearest = order.sort_values(["obj", "_after", "_d"], kind="stable").drop_duplicates("obj")
    flagged = nearest.loc[nearest["region_class"] != "primary", "obj"].to_numpy()
    return frozenset(ids[flagged].tolist())


__all__ = ["Answer", "ConversionTarget", "Resolver"]
