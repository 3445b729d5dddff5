"""Parameters and results of a simulation run (frozen dataclasses)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SPECIES = "idtrack_simulans"
SCIENTIFIC_NAME = "Idtrack simulans"
ASSEMBLY = "SIM1"
ASSEMBLY_SUFFIX = "1"
# The older assembly of a simulation with an assembly switch (like GRCh37 before GRCh38), and the folder of its
# frozen databases republished after the switch (Ensembl's ``grch37/`` tree, the name DumpSource reads).
OLD_ASSEMBLY = "SIM0"
OLD_ASSEMBLY_SUFFIX = "0"
OLD_ASSEMBLY_TREE = "grch37"

# Event types of the ground-truth transitions table.
TRANSITION_EVENTS = ("unchanged", "version_bump", "retirement", "birth", "merge", "split", "reid")
# Every counter reported in SimulationSummary.counts and truth.json, in a fixed order.
COUNT_KEYS = (
    "birth",
    "retirement",
    "version_bump",
    "merge",
    "split",
    "reid",
    "rename",
    "symbol_reuse",
    "alias",
    "shared_alias",
    "case_variant",
    "hgnc_symbol",
    "entrez_id",
    "clone_name",
    "clone_reuse",
    "shared_synonym",
    "no_symbol",
    "transcript",
    "translation",
)
_STRUCTURAL = ("retirement", "version_bump", "merge", "split", "reid")


@dataclass(frozen=True)
class SimulationRates:
    """Probabilities of the simulated events.

    Structural rates are per gene alive at the older release of a consecutive pair; they are mutually
    exclusive (a gene undergoes at most one of them per transition) so their sum must be <= 1.

    Attributes
    ----------
    retirement
        The gene disappears without successor.
    version_bump
        ``A.v -> A.v+1`` (one of its transcripts, and that transcript's translation, are bumped too).
    merge
        The gene is absorbed into another unchanged gene.
    split
        A new gene is split off this gene.
    reid
        Ensembl gives the gene a new stable ID; its HGNC record (accession, symbol, Entrez ID) moves along.
    birth
        Expected new genes per alive gene and transition. Births additionally pull the gene count back
        towards ``genes``: ``births ~ Poisson(birth * alive + (genes - alive) / 2)``.
    rename
        Per HGNC-named gene that keeps its ID: the symbol changes, the old one becomes a previous symbol.
    symbol_reuse
        Share of new HGNC genes that take a symbol freed by a retirement, rename or merge (when one is
        free), under a new HGNC accession.
    alias
        Per HGNC-named gene and transition: the gene gains an alias.
    initial_alias
        Share of newly created HGNC records that start with one alias.
    shared_alias
        Share of new aliases that copy an alias another gene already has (one alias, several genes).
    case_variant
        Share of new HGNC symbols that differ only in case from another living gene's symbol.
    clone_name
        Share of new genes named by a ``Clone_based_ensembl_gene`` name (``AC912345.1``) instead of HGNC.
    clone_reuse
        Share of new clone-named genes that take the clone name of a retired gene, when one is free (Ensembl
        reassigns clone-based names; the new gene lies elsewhere).
    shared_synonym
        Per retirement of an HGNC-named gene: its symbol lives on as an alias of two unrelated living genes.
    no_symbol
        Share of new genes without any name.
    entrez
        Share of new HGNC records with an NCBI Gene (Entrez) ID.
    protein_coding
        Share of new genes with biotype ``protein_coding`` (the rest: lncRNA, pseudogenes, small RNAs).
    """

    retirement: float = 0.012
    version_bump: float = 0.05
    merge: float = 0.008
    split: float = 0.008
    reid: float = 0.008
    birth: float = 0.012
    rename: float = 0.02
    symbol_reuse: float = 0.5
    alias: float = 0.02
    initial_alias: float = 0.2
    shared_alias: float = 0.1
    case_variant: float = 0.03
    clone_name: float = 0.15
    clone_reuse: float = 0.5
    shared_synonym: float = 0.1
    no_symbol: float = 0.03
    entrez: float = 0.9
    protein_coding: float = 0.55

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"SimulationRates.{f.name} must be a number, got {value!r}")
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"SimulationRates.{f.name} must lie in [0, 1], got {value!r}")
        total = sum(float(getattr(self, name)) for name in _STRUCTURAL)
        if total > 1.0:
            raise ValueError(f"structural rates {_STRUCTURAL} sum to {total:.3f} > 1")
        if self.clone_name + self.no_symbol > 1.0:
            raise ValueError("SimulationRates.clone_name + no_symbol must be <= 1")

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`idtrack_core.simulation.simulate_mirror` wrote.

    ``counts`` holds one counter per key of ``COUNT_KEYS`` (events over all transitions; the naming
    counters ``hgnc_symbol``, ``entrez_id``, ``clone_name``, ``no_symbol``, ``alias``, ``case_variant``
    and the object counters ``transcript``, ``translation`` include the objects created for the first
    release). ``files`` is the number of files in the mirror, ground truth included.
    """

    out: str
    species: str
    assembly: str
    releases: tuple[int, ...]
    counts: Mapping[str, int]
    files: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "species": self.species,
            "assembly": self.assembly,
            "releases": list(self.releases),
            "counts": dict(self.counts),
            "files": self.files,
        }
