"""The simulated genome and its evolution from one release to the next.

State lives in numpy arrays indexed by object number (gene ``SIMG00000000042`` is gene number 41);
numbers are never reused, so stable IDs are never reused either. Per-transition work is vectorized over
the living genes; Python loops only run over the genes an event touches. Every random draw comes from one
``numpy.random.Generator`` in a fixed order and no decision iterates over a ``set``, so a seed fixes the
whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idtrack_core.simulation.config import COUNT_KEYS, SimulationRates

GENE_BIOTYPES = ("protein_coding", "lncRNA", "processed_pseudogene", "miRNA", "snRNA")
_NONCODING_P = (0.6, 0.25, 0.08, 0.07)  # lncRNA, processed_pseudogene, miRNA, snRNA
TRANSCRIPT_BIOTYPES = (*GENE_BIOTYPES, "retained_intron", "nonsense_mediated_decay")
_CODING_TX = 0
_EXTRA_CODING_TX = 0.6  # share of a coding gene's further transcripts that are coding
_TX_PER_GENE_P = (0.4, 0.35, 0.25)  # 1, 2 or 3 transcripts

# Synthetic name spaces. None of these prefixes starts a real HGNC symbol or synonym (checked against
# the HGNC 2024 snapshot used by ../shared/data/human_releases: only SIM1, SIM2, SIMC1, SIMA135,
# SIMALR, SIMP, SIMPL, SIMRP7 … exist there).
SYMBOL_PREFIXES = ("SIMX", "SIMQ", "SIMZ", "SIMK", "SIMV")
ALIAS_PREFIX = "SIMW"
CLONE_PREFIXES = ("AC", "AL", "AP")
_CLONE_BASE = 900_000  # beyond the clone accession numbers GenBank has issued for human
_HGNC_BASE = 900_001
_ENTREZ_BASE = 900_000_001
_SYMBOL_SUFFIX_P = 0.12
# Loci: every gene gets its own slot (slots are never reused, so a new gene never overlaps an older one, except a
# re-identified gene, which takes over its predecessor's locus). Slot k lies on chromosome k % CHROMOSOMES + 1.
CHROMOSOMES = 5
_SLOT_BP = 100_000
_SLOT_OFFSET = 10_000
_GENE_BP = (2_000, 60_000)

# Event tuple: (object type, old stable id, old version, new stable id, new version, score)
Event = tuple[str, str | None, int | None, str | None, int | None, float]
_TYPE_ORDER = {"gene": 0, "transcript": 1, "translation": 2}


class _Grow:
    """A numpy array that grows by doubling."""

    def __init__(self, dtype: type, fill: int | bool | None) -> None:
        self._a = np.full(1024, fill, dtype=dtype)
        self._fill = fill
        self.n = 0

    def append(self, value: object) -> int:
        if self.n == len(self._a):
            self._a = np.concatenate([self._a, np.full(len(self._a), self._fill, dtype=self._a.dtype)])
        self._a[self.n] = value
        self.n += 1
        return self.n - 1

    @property
    def a(self) -> np.ndarray:
        return self._a[: self.n]


@dataclass
class Transition:
    """What happened between two consecutive releases.

    ``events`` are the ``stable_id_event`` rows (changes only); the ``truth_*`` columns are the true
    gene correspondence, one row per gene alive at the older release plus one per birth.
    """

    events: list[Event]
    truth_old_id: list[str | None]
    truth_old_version: list[int | None]
    truth_new_id: list[str | None]
    truth_new_version: list[int | None]
    truth_event: list[str]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ReleaseView:
    """The living objects of one release, in stable-ID order, with positions linking them.

    Positions are 0-based indexes into these arrays (the dump's internal ids are position + 1).
    """

    gene_ids: np.ndarray  # object arrays of str below
    gene_versions: np.ndarray
    gene_biotypes: np.ndarray
    gene_canonical_tx: np.ndarray  # position of the gene's lowest-numbered transcript
    gene_region: np.ndarray  # chromosome index (0-based), start, end (1-based inclusive), strand ±1
    gene_start: np.ndarray
    gene_end: np.ndarray
    gene_strand: np.ndarray
    tx_ids: np.ndarray
    tx_versions: np.ndarray
    tx_biotypes: np.ndarray
    tx_gene: np.ndarray
    tx_translation: np.ndarray  # position of the translation, -1 if none
    tx_start: np.ndarray  # inside the gene's locus, on its region and strand
    tx_end: np.ndarray
    tl_ids: np.ndarray
    tl_versions: np.ndarray
    tl_tx: np.ndarray
    # names (gene positions ascending within each group)
    hgnc_genes: np.ndarray
    hgnc_symbols: np.ndarray
    hgnc_accessions: np.ndarray
    entrez_genes: np.ndarray
    entrez_ids: np.ndarray
    entrez_symbols: np.ndarray
    clone_genes: np.ndarray
    clone_names: np.ndarray
    # synonyms of HGNC records: gene position, name, kind ("previous_symbol" or "alias");
    # in gene order, previous symbols before aliases
    synonym_genes: np.ndarray
    synonyms: np.ndarray
    synonym_kinds: np.ndarray


class _TruthRows:
    """Accumulates the true gene correspondence of one transition."""

    def __init__(self, gene_ids: _Grow) -> None:
        self._ids = gene_ids  # read through .a on every call: the array may be reallocated meanwhile
        self.old_id: list[str | None] = []
        self.old_version: list[int | None] = []
        self.new_id: list[str | None] = []
        self.new_version: list[int | None] = []
        self.event: list[str] = []

    def add(self, old: int | None, ov: int | None, new: int | None, nv: int | None, event: str) -> None:
        self.old_id.append(None if old is None else self._ids.a[old])
        self.old_version.append(ov)
        self.new_id.append(None if new is None else self._ids.a[new])
        self.new_version.append(nv)
        self.event.append(event)

    def add_unchanged(self, genes: np.ndarray, versions: np.ndarray) -> None:
        same = self._ids.a[genes].tolist()
        kept = versions[genes].tolist()
        self.old_id.extend(same)
        self.old_version.extend(kept)
        self.new_id.extend(same)
        self.new_version.extend(kept)
        self.event.extend(["unchanged"] * len(same))


class GenomeModel:
    """The genome of one simulated species across releases."""

    def __init__(self, rates: SimulationRates, seed: int, target_genes: int) -> None:
        self.rates = rates
        self.rng = np.random.default_rng(seed)
        # loci and the name reassignments draw from their own streams: the events and names of the main stream
        # do not depend on them
        self.place_rng = np.random.default_rng([seed, 1])
        self.reuse_rng = np.random.default_rng([seed, 2])
        self.target = target_genes
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        # genes
        self.g_version = _Grow(np.int32, 0)
        self.g_alive = _Grow(np.bool_, False)
        self.g_biotype = _Grow(np.int8, 0)
        self.g_record = _Grow(np.int32, -1)
        self.g_clone = _Grow(np.int32, -1)
        self.g_ids = _Grow(object, None)
        self.g_tx: list[list[int]] = []
        self.g_region = _Grow(np.int64, 0)
        self.g_start = _Grow(np.int64, 0)
        self.g_end = _Grow(np.int64, 0)
        self.g_strand = _Grow(np.int64, 1)
        self._next_slot = 0
        # transcripts and translations
        self.t_gene = _Grow(np.int32, -1)
        self.t_version = _Grow(np.int32, 0)
        self.t_alive = _Grow(np.bool_, False)
        self.t_biotype = _Grow(np.int8, 0)
        self.t_translation = _Grow(np.int32, -1)
        self.t_ids = _Grow(object, None)
        self.p_transcript = _Grow(np.int32, -1)
        self.p_version = _Grow(np.int32, 0)
        self.p_alive = _Grow(np.bool_, False)
        self.p_ids = _Grow(object, None)
        # HGNC-like records: one per named gene lineage; a re-identified gene keeps its record
        self.r_symbol = _Grow(object, None)
        self.r_accession = _Grow(object, None)
        self.r_entrez = _Grow(object, None)
        self.r_active = _Grow(np.bool_, False)
        self.r_previous: dict[int, list[str]] = {}
        self.r_aliases: dict[int, list[str]] = {}
        self.clone_names = _Grow(object, None)
        self.free_clones: list[int] = []
        # name bookkeeping (sets only for membership tests, never iterated)
        self.symbol_owner: dict[str, int] = {}
        self.used_symbols: set[str] = set()
        self.free_symbols: list[str] = []
        self.alias_pool: list[str] = []
        self._next_symbol = 0
        self._next_alias = 1
        self._next_clone = 0
        self._next_hgnc = _HGNC_BASE
        self._next_entrez = _ENTREZ_BASE
        self._events: list[Event] | None = None

    # ------------------------------------------------------------------------------------ objects
    def _event(self, kind: str, old: str | None, ov: int | None, new: str | None, nv: int | None, s: float):
        if self._events is not None:
            self._events.append((kind, old, ov, new, nv, s))

    def _score(self) -> float:
        """A mapping score in (0.5, 1), three decimals."""
        return round(0.501 + 0.498 * float(self.rng.random()), 3)

    def _add_gene(self, biotype: int) -> int:
        g = self.g_alive.append(True)
        self.g_version.append(1)
        self.g_biotype.append(biotype)
        self.g_record.append(-1)
        self.g_clone.append(-1)
        self.g_ids.append(f"SIMG{g + 1:011d}")
        self.g_tx.append([])
        self._place(g)
        return g

    def _place(self, g: int, like: int | None = None) -> None:
        """A new locus for gene ``g`` (its own slot), or the locus of gene ``like`` nudged by under 5 %."""
        rng = self.place_rng
        if like is None:
            slot = self._next_slot
            self._next_slot += 1
            start = _SLOT_OFFSET + (slot // CHROMOSOMES) * _SLOT_BP + int(rng.integers(0, _SLOT_OFFSET))
            end = start + int(rng.integers(*_GENE_BP))
            values = (slot % CHROMOSOMES, start, end, 1 if rng.random() < 0.5 else -1)
        else:
            start, end = int(self.g_start.a[like]), int(self.g_end.a[like])
            nudge = int(rng.integers(0, max(1, (end - start) // 20)))
            values = (int(self.g_region.a[like]), start + nudge, end + nudge, int(self.g_strand.a[like]))
        for column, value in zip((self.g_region, self.g_start, self.g_end, self.g_strand), values, strict=True):
            if column.n <= g:
                column.append(value)
            else:
                column.a[g] = value

    def _add_transcript(self, gene: int, biotype: int) -> int:
        t = self.t_alive.append(True)
        self.t_gene.append(gene)
        self.t_version.append(1)
        self.t_biotype.append(biotype)
        self.t_ids.append(f"SIMT{t + 1:011d}")
        self.g_tx[gene].append(t)
        self.counts["transcript"] += 1
        self._event("transcript", None, None, self.t_ids.a[t], 1, 0.0)
        if biotype == _CODING_TX:
            p = self.p_alive.append(True)
            self.p_transcript.append(t)
            self.p_version.append(1)
            self.p_ids.append(f"SIMP{p + 1:011d}")
            self.t_translation.append(p)
            self.counts["translation"] += 1
            self._event("translation", None, None, self.p_ids.a[p], 1, 0.0)
        else:
            self.t_translation.append(-1)
        return t

    def _transcript_biotypes(self, gene_biotype: int, count: int) -> list[int]:
        if gene_biotype != _CODING_TX:
            return [gene_biotype] * count
        out = [_CODING_TX]
        for _ in range(count - 1):
            if self.rng.random() < _EXTRA_CODING_TX:
                out.append(_CODING_TX)
            else:
                out.append(len(GENE_BIOTYPES) + int(self.rng.integers(2)))
        return out

    def _retire_transcript(self, t: int) -> None:
        self.t_alive.a[t] = False
        self._event("transcript", self.t_ids.a[t], int(self.t_version.a[t]), None, None, 0.0)
        p = int(self.t_translation.a[t])
        if p >= 0:
            self.p_alive.a[p] = False
            self._event("translation", self.p_ids.a[p], int(self.p_version.a[p]), None, None, 0.0)

    def _new_genes(self, count: int, reuse: bool) -> list[int]:
        """Create ``count`` genes (version 1, 1–3 transcripts, a name drawn from the naming rates)."""
        rng, r = self.rng, self.rates
        coding = rng.random(count) < r.protein_coding
        other = rng.choice(len(_NONCODING_P), size=count, p=_NONCODING_P) + 1
        biotypes = np.where(coding, 0, other)
        n_tx = rng.choice(len(_TX_PER_GENE_P), size=count, p=_TX_PER_GENE_P) + 1
        naming = rng.random(count)
        created = []
        for biotype, k, u in zip(biotypes.tolist(), n_tx.tolist(), naming.tolist(), strict=True):
            g = self._add_gene(biotype)
            self._event("gene", None, None, self.g_ids.a[g], 1, 0.0)
            for tb in self._transcript_biotypes(biotype, k):
                self._add_transcript(g, tb)
            self._name_gene(g, u, reuse)
            created.append(g)
        return created

    # -------------------------------------------------------------------------------------- names
    def _name_gene(self, g: int, u: float, reuse: bool) -> None:
        r = self.rates
        if u < r.no_symbol:
            self.counts["no_symbol"] += 1
        elif u < r.no_symbol + r.clone_name:
            self.g_clone.a[g] = self._clone_name(reuse)
        else:
            self.g_record.a[g] = self._new_record(reuse)

    def _clone_name(self, reuse: bool) -> int:
        """A freed clone name (Ensembl reassigns clone-based names to other genes), else a new one."""
        if reuse and self.free_clones and self.reuse_rng.random() < self.rates.clone_reuse:
            self.counts["clone_reuse"] += 1
            return self.free_clones.pop(int(self.reuse_rng.integers(len(self.free_clones))))
        return self._new_clone_name()

    def _new_clone_name(self) -> int:
        k = self._next_clone
        self._next_clone += 1
        number = _CLONE_BASE + k // len(CLONE_PREFIXES)
        self.clone_names.append(f"{CLONE_PREFIXES[k % len(CLONE_PREFIXES)]}{number}.{1 + number % 2}")
        self.counts["clone_name"] += 1
        return self.clone_names.n - 1

    def _fresh_symbol(self) -> str:
        while True:
            k = self._next_symbol
            self._next_symbol += 1
            symbol = f"{SYMBOL_PREFIXES[k % len(SYMBOL_PREFIXES)]}{k // len(SYMBOL_PREFIXES) + 1}"
            if self.rng.random() < _SYMBOL_SUFFIX_P:
                symbol += "AB"[int(self.rng.integers(2))]
            if symbol not in self.used_symbols:
                self.used_symbols.add(symbol)
                return symbol

    def _take_free_symbol(self) -> str | None:
        """A symbol whose owner retired, was renamed or merged away, and that nobody holds now."""
        while self.free_symbols:
            i = int(self.rng.integers(len(self.free_symbols)))
            self.free_symbols[i], self.free_symbols[-1] = self.free_symbols[-1], self.free_symbols[i]
            symbol = self.free_symbols.pop()
            if symbol not in self.symbol_owner:
                return symbol
        return None

    def _case_variant(self) -> str | None:
        """``SIMX5A`` → ``Simx5a`` for a living record's symbol (a different gene, same letters)."""
        for _ in range(8):
            rec = int(self.rng.integers(self.r_symbol.n)) if self.r_symbol.n else -1
            if rec < 0 or not self.r_active.a[rec]:
                continue
            symbol = self.r_symbol.a[rec]
            variant = symbol[:1] + symbol[1:].lower()
            if variant != symbol and variant not in self.used_symbols:
                self.used_symbols.add(variant)
                return variant
        return None

    def _new_record(self, reuse: bool) -> int:
        rng, r = self.rng, self.rates
        symbol = None
        if reuse and self.free_symbols and rng.random() < r.symbol_reuse:
            symbol = self._take_free_symbol()
            if symbol is not None:
                self.counts["symbol_reuse"] += 1
        if symbol is None and rng.random() < r.case_variant:
            symbol = self._case_variant()
            if symbol is not None:
                self.counts["case_variant"] += 1
        if symbol is None:
            symbol = self._fresh_symbol()
        rec = self.r_active.append(True)
        self.r_symbol.append(symbol)
        self.r_accession.append(f"HGNC:{self._next_hgnc}")
        self._next_hgnc += int(rng.integers(1, 4))
        if rng.random() < r.entrez:
            self.r_entrez.append(str(self._next_entrez))
            self._next_entrez += int(rng.integers(1, 8))
            self.counts["entrez_id"] += 1
        else:
            self.r_entrez.append(None)
        self.symbol_owner[symbol] = rec
        self.counts["hgnc_symbol"] += 1
        if rng.random() < r.initial_alias:
            self._add_alias(rec)
        return rec

    def _add_alias(self, rec: int) -> None:
        aliases = self.r_aliases.setdefault(rec, [])
        if self.alias_pool and self.rng.random() < self.rates.shared_alias:
            alias = self.alias_pool[int(self.rng.integers(len(self.alias_pool)))]
            if alias not in aliases:
                aliases.append(alias)
                self.counts["alias"] += 1
                self.counts["shared_alias"] += 1
                return
        alias = f"{ALIAS_PREFIX}{self._next_alias}"
        self._next_alias += 1
        aliases.append(alias)
        self.alias_pool.append(alias)
        self.counts["alias"] += 1

    def _share_as_synonym(self, symbol: str) -> None:
        """With rate ``shared_synonym``, a retired gene's symbol lives on as an alias of two unrelated genes."""
        if self.reuse_rng.random() >= self.rates.shared_synonym:
            return
        living = np.flatnonzero(self.r_active.a)
        if len(living) < 2:
            return
        for rec in self.reuse_rng.choice(living, size=2, replace=False).tolist():
            aliases = self.r_aliases.setdefault(rec, [])
            if symbol not in aliases and symbol != self.r_symbol.a[rec]:
                aliases.append(symbol)
        self.counts["shared_synonym"] += 1

    def _add_previous(self, rec: int, symbol: str) -> None:
        previous = self.r_previous.setdefault(rec, [])
        if symbol not in previous and symbol != self.r_symbol.a[rec]:
            previous.append(symbol)

    def _withdraw(self, rec: int) -> None:
        """The record's gene is gone: its symbol becomes free for reuse."""
        self.r_active.a[rec] = False
        symbol = self.r_symbol.a[rec]
        if self.symbol_owner.get(symbol) == rec:
            del self.symbol_owner[symbol]
        self.free_symbols.append(symbol)

    def _rename(self, rec: int) -> None:
        old = self.r_symbol.a[rec]
        new = self._fresh_symbol()
        self.r_symbol.a[rec] = new
        del self.symbol_owner[old]
        self.symbol_owner[new] = rec
        self._add_previous(rec, old)
        self.free_symbols.append(old)
        self.counts["rename"] += 1

    # -------------------------------------------------------------------------------- life cycle
    def populate(self, genes: int) -> None:
        """Create the genes of the first release (no events are recorded for them)."""
        self._new_genes(genes, reuse=False)

    def advance(self) -> Transition:
        """Evolve to the next release; return its events and the true gene correspondence."""
        rng, r = self.rng, self.rates
        before = dict(self.counts)
        self._events = []
        truth = _TruthRows(self.g_ids)
        alive = np.flatnonzero(self.g_alive.a)
        n_alive = len(alive)
        cuts = np.cumsum([r.retirement, r.version_bump, r.merge, r.split, r.reid])
        # 0 retirement, 1 version bump, 2 merged away, 3 split, 4 re-identified, 5 unchanged, 6 merge survivor
        category = np.searchsorted(cuts, rng.random(n_alive), side="right")
        absorbed_pos = np.flatnonzero(category == 2)
        unchanged_pos = np.flatnonzero(category == 5)
        m = min(len(absorbed_pos), len(unchanged_pos))
        survivor_pos = rng.choice(unchanged_pos, size=m, replace=False) if m else unchanged_pos[:0]
        category[absorbed_pos[m:]] = 5
        category[survivor_pos] = 6

        for g in alive[category == 0].tolist():
            self._retire_gene(g, truth)
        for b, a in zip(alive[absorbed_pos[:m]].tolist(), alive[survivor_pos].tolist(), strict=True):
            self._merge(b, a, truth)
        for a in alive[category == 3].tolist():
            self._split(a, truth)
        for a in alive[category == 4].tolist():
            self._reidentify(a, truth)
        for a in alive[category == 1].tolist():
            self._bump(a, truth)
        truth.add_unchanged(alive[category == 5], self.g_version.a)

        # name changes on genes that keep their stable ID
        kept = alive[(category == 5) | (category == 1)]
        kept_rec = self.g_record.a[kept]
        named = kept_rec[kept_rec >= 0]
        for rec in named[rng.random(len(named)) < r.rename].tolist():
            self._rename(rec)
        living = np.flatnonzero(self.g_alive.a)
        living_rec = self.g_record.a[living]
        named = living_rec[living_rec >= 0]
        for rec in named[rng.random(len(named)) < r.alias].tolist():
            self._add_alias(rec)

        # births, pulled towards the target gene count
        mean = max(0.0, r.birth * n_alive + 0.5 * (self.target - n_alive))
        births = int(rng.poisson(mean))
        if births == 0 and len(living) == 0:
            births = 1
        for g in self._new_genes(births, reuse=True):
            truth.add(None, None, g, 1, "birth")
        self.counts["birth"] += births

        events = sorted(
            self._events,
            key=lambda e: (_TYPE_ORDER[e[0]], e[1] or "", e[3] or "", e[2] or 0, e[4] or 0),
        )
        self._events = None
        delta = {k: self.counts[k] - before[k] for k in COUNT_KEYS}
        return Transition(events, truth.old_id, truth.old_version, truth.new_id, truth.new_version, truth.event, delta)

    def _retire_gene(self, g: int, truth: _TruthRows) -> None:
        v = int(self.g_version.a[g])
        self.g_alive.a[g] = False
        self._event("gene", self.g_ids.a[g], v, None, None, 0.0)
        for t in self.g_tx[g]:
            self._retire_transcript(t)
        self.g_tx[g] = []
        rec = int(self.g_record.a[g])
        if rec >= 0:
            self._withdraw(rec)
            self._share_as_synonym(self.r_symbol.a[rec])
        if self.g_clone.a[g] >= 0:
            self.free_clones.append(int(self.g_clone.a[g]))
        self.g_record.a[g] = -1
        self.g_clone.a[g] = -1
        truth.add(g, v, None, None, "retirement")
        self.counts["retirement"] += 1

    def _merge(self, b: int, a: int, truth: _TruthRows) -> None:
        """Gene ``b`` is absorbed into gene ``a``: ``B.v → A.v+1`` and ``A.v → A.v+1``."""
        vb, va = int(self.g_version.a[b]), int(self.g_version.a[a])
        self.g_version.a[a] = va + 1
        self.g_alive.a[b] = False
        self._event("gene", self.g_ids.a[b], vb, self.g_ids.a[a], va + 1, self._score())
        self._event("gene", self.g_ids.a[a], va, self.g_ids.a[a], va + 1, self._score())
        for t in self.g_tx[b]:
            self.t_gene.a[t] = a
        self.g_tx[a].extend(self.g_tx[b])
        self.g_tx[b] = []
        rb, ra = int(self.g_record.a[b]), int(self.g_record.a[a])
        if rb >= 0 and ra < 0:  # the survivor takes over the absorbed gene's record
            self.g_record.a[a] = rb
            self.g_clone.a[a] = -1
        elif rb >= 0:  # HGNC withdraws B's symbol; it lives on as a previous symbol of A
            self._withdraw(rb)
            self._add_previous(ra, self.r_symbol.a[rb])
        self.g_record.a[b] = -1
        self.g_clone.a[b] = -1
        truth.add(b, vb, a, va + 1, "merge")
        truth.add(a, va, a, va + 1, "merge")
        self.counts["merge"] += 1

    def _split(self, a: int, truth: _TruthRows) -> None:
        """A new gene ``c`` is split off ``a``: ``A.v → A.v+1`` and ``A.v → C.1``."""
        va = int(self.g_version.a[a])
        self.g_version.a[a] = va + 1
        biotype = int(self.g_biotype.a[a])
        c = self._add_gene(biotype)
        if len(self.g_tx[a]) >= 2:
            t = self.g_tx[a].pop()
            self.t_gene.a[t] = c
            self.g_tx[c].append(t)
        else:
            self._add_transcript(c, biotype)
        self._name_gene(c, float(self.rng.random()), reuse=True)
        self._event("gene", self.g_ids.a[a], va, self.g_ids.a[a], va + 1, self._score())
        self._event("gene", self.g_ids.a[a], va, self.g_ids.a[c], 1, self._score())
        truth.add(a, va, a, va + 1, "split")
        truth.add(a, va, c, 1, "split")
        self.counts["split"] += 1

    def _reidentify(self, a: int, truth: _TruthRows) -> None:
        """Ensembl gives gene ``a`` a new stable ID; names and biotype move to the new gene."""
        va = int(self.g_version.a[a])
        n = self._add_gene(int(self.g_biotype.a[a]))
        self._place(n, like=a)
        self.g_alive.a[a] = False
        self.g_record.a[n] = self.g_record.a[a]
        self.g_clone.a[n] = self.g_clone.a[a]
        self.g_record.a[a] = -1
        self.g_clone.a[a] = -1
        self._event("gene", self.g_ids.a[a], va, None, None, 0.0)
        self._event("gene", None, None, self.g_ids.a[n], 1, 0.0)
        old_tx = self.g_tx[a]
        self.g_tx[a] = []
        for t in old_tx:
            self._retire_transcript(t)
        for t in old_tx:
            self._add_transcript(n, int(self.t_biotype.a[t]))
        truth.add(a, va, n, 1, "reid")
        self.counts["reid"] += 1

    def _bump(self, a: int, truth: _TruthRows) -> None:
        va = int(self.g_version.a[a])
        self.g_version.a[a] = va + 1
        self._event("gene", self.g_ids.a[a], va, self.g_ids.a[a], va + 1, self._score())
        tx = self.g_tx[a]
        t = tx[int(self.rng.integers(len(tx)))]
        vt = int(self.t_version.a[t])
        self.t_version.a[t] = vt + 1
        self._event("transcript", self.t_ids.a[t], vt, self.t_ids.a[t], vt + 1, self._score())
        p = int(self.t_translation.a[t])
        if p >= 0:
            vp = int(self.p_version.a[p])
            self.p_version.a[p] = vp + 1
            self._event("translation", self.p_ids.a[p], vp, self.p_ids.a[p], vp + 1, self._score())
        truth.add(a, va, a, va + 1, "version_bump")
        self.counts["version_bump"] += 1

    # ------------------------------------------------------------------------------------ views
    def view(self) -> ReleaseView:
        """The current release's living objects and names, vectorized."""
        genes = np.flatnonzero(self.g_alive.a)
        gene_pos = np.full(self.g_alive.n, -1, dtype=np.int64)
        gene_pos[genes] = np.arange(len(genes))
        txs = np.flatnonzero(self.t_alive.a)
        tx_pos = np.full(self.t_alive.n, -1, dtype=np.int64)
        tx_pos[txs] = np.arange(len(txs))
        tls = np.flatnonzero(self.p_alive.a)
        tl_pos = np.full(self.p_alive.n, -1, dtype=np.int64)
        tl_pos[tls] = np.arange(len(tls))

        tx_gene = gene_pos[self.t_gene.a[txs]]
        tl_tx = tx_pos[self.p_transcript.a[tls]]
        tx_tl_raw = self.t_translation.a[txs]
        tx_translation = np.full(len(txs), -1, dtype=np.int64)
        coding = tx_tl_raw >= 0
        tx_translation[coding] = tl_pos[tx_tl_raw[coding]]
        if len(txs) and (tx_gene < 0).any():
            raise AssertionError("a living transcript belongs to a dead gene")
        order = np.argsort(tx_gene, kind="stable")
        owners, first = np.unique(tx_gene[order], return_index=True)
        canonical = np.full(len(genes), -1, dtype=np.int64)
        canonical[owners] = order[first]
        if (canonical < 0).any():
            raise AssertionError("a living gene has no transcript")

        gene_biotype_names = np.array(GENE_BIOTYPES, dtype=object)
        tx_biotype_names = np.array(TRANSCRIPT_BIOTYPES, dtype=object)

        records = self.g_record.a[genes]
        hgnc_genes = np.flatnonzero(records >= 0)
        hgnc_recs = records[hgnc_genes]
        symbols = self.r_symbol.a[hgnc_recs]
        entrez_all = self.r_entrez.a[hgnc_recs]
        has_entrez = np.not_equal(entrez_all, None).astype(bool)
        clones = self.g_clone.a[genes]
        clone_genes = np.flatnonzero(clones >= 0)

        syn_genes: list[int] = []
        syn_names: list[str] = []
        syn_kinds: list[str] = []
        previous, aliases = self.r_previous, self.r_aliases
        for pos, rec in zip(hgnc_genes.tolist(), hgnc_recs.tolist(), strict=True):
            if rec in previous:
                for name in previous[rec]:
                    syn_genes.append(pos)
                    syn_names.append(name)
                    syn_kinds.append("previous_symbol")
            if rec in aliases:
                for name in aliases[rec]:
                    syn_genes.append(pos)
                    syn_names.append(name)
                    syn_kinds.append("alias")

        g_start, g_end = self.g_start.a[genes], self.g_end.a[genes]
        tx_number = txs.astype(np.int64)
        length = (g_end - g_start)[tx_gene]
        return ReleaseView(
            gene_ids=self.g_ids.a[genes],
            gene_versions=self.g_version.a[genes].copy(),
            gene_biotypes=gene_biotype_names[self.g_biotype.a[genes]],
            gene_canonical_tx=canonical,
            gene_region=self.g_region.a[genes].copy(),
            gene_start=g_start.copy(),
            gene_end=g_end.copy(),
            gene_strand=self.g_strand.a[genes].copy(),
            tx_start=g_start[tx_gene] + (tx_number % 7) * length // 20,
            tx_end=g_end[tx_gene] - (tx_number % 5) * length // 20,
            tx_ids=self.t_ids.a[txs],
            tx_versions=self.t_version.a[txs].copy(),
            tx_biotypes=tx_biotype_names[self.t_biotype.a[txs]],
            tx_gene=tx_gene,
            tx_translation=tx_translation,
            tl_ids=self.p_ids.a[tls],
            tl_versions=self.p_version.a[tls].copy(),
            tl_tx=tl_tx,
            hgnc_genes=hgnc_genes,
            hgnc_symbols=symbols,
            hgnc_accessions=self.r_accession.a[hgnc_recs],
            entrez_genes=hgnc_genes[has_entrez],
            entrez_ids=entrez_all[has_entrez],
            entrez_symbols=symbols[has_entrez],
            clone_genes=clone_genes,
            clone_names=self.clone_names.a[clones[clone_genes]],
            synonym_genes=np.asarray(syn_genes, dtype=np.int64),
            synonyms=np.asarray(syn_names, dtype=object),
            synonym_kinds=np.asarray(syn_kinds, dtype=object),
        )
