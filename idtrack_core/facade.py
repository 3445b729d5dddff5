"""The notebook facade: convert identifiers and harmonize studies in a few lines, without Dagster.

>>> import idtrack_core as idt
>>> h = idt.harmonize({"a": adata_a, "b": "b.h5ad"}, source="../shared/data/human_releases",
...                   species="human", final_database="HGNC Symbol")          # doctest: +SKIP
>>> h.diagnostics; h.failed; h.ambiguous; h.collisions; h.gates()           # doctest: +SKIP
>>> union, intersect = h.union(), h.intersect()                             # doctest: +SKIP

Both functions stand on the library's own steps — the workspace (extracts, snapshot and resolution index, built once
and reused as versions), :func:`~idtrack_core.harmonize.pipeline.match_studies`,
:func:`~idtrack_core.harmonize.pipeline.make_plan` (gates, plan, provenance) and
:func:`~idtrack_core.harmonize.pipeline.write_atlas` (the out-of-core merge) — exactly as the command line and the
Dagster assets do; nothing here decides anything of its own.

``home`` is the folder keeping the versioned extracts, snapshots and indexes (the command line's ``--home``); by
default the platform's storage (``$IDTRACK_STORAGE``, else ``$IDTRACK_HOME/storage``, else ``.idtrack/storage``), so
a notebook, ``idtrack-atlas demo`` and ``dagster dev`` in one folder share them. ``source=None`` is the embedded
default: the simulated mirror generated under ``$IDTRACK_HOME`` (``.idtrack``) on first use.

Studies given as in-memory ``AnnData`` objects are written once to temporary ``.h5ad`` files (removed with the
:class:`Harmonization`), so they go through the same reading, gating and streaming merge as files do and the merge
stays out-of-core; a backed ``AnnData`` is read from its own file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from idtrack_core.convert.index import ResolutionIndex
from idtrack_core.convert.target import ConversionTarget, Strategy
from idtrack_core.demo_data import ensure_demo
from idtrack_core.ensembl import EnsemblSource, open_source
from idtrack_core.ensembl.databases import validate_species
from idtrack_core.errors import ConversionInputError
from idtrack_core.harmonize.drilldown import drilldowns
from idtrack_core.harmonize.gates import GateReport, Thresholds, evaluate_studies
from idtrack_core.harmonize.matchings import diagnose, diagnostics_table
from idtrack_core.harmonize.pipeline import AtlasPlan, make_plan, match_studies, write_atlas
from idtrack_core.harmonize.plan import HarmonizationPlan, HarmonizationPolicy, ManyToOne, Mode, OneToMany, VarNames
from idtrack_core.harmonize.studyio import check_var_names
from idtrack_core.storage import is_local, url_to_fs
from idtrack_core.workspace import Workspace

if TYPE_CHECKING:
    import anndata as ad

    from idtrack_core.report.plot import PNG

log = logging.getLogger(__name__)

SPECIES_ALIASES = {
    "human": "homo_sapiens",
    "mouse": "mus_musculus",
    "rat": "rattus_norvegicus",
    "zebrafish": "danio_rerio",
    "pig": "sus_scrofa",
    "chicken": "gallus_gallus",
    "fruit_fly": "drosophila_melanogaster",
    "worm": "caenorhabditis_elegans",
    "yeast": "saccharomyces_cerevisiae",
}
"""Common names → Ensembl production names (a minimal table; scientific names such as ``Homo sapiens`` need none)."""


def species_name(name: str) -> str:
    """The Ensembl production name of ``name``: a common name (``"human"``), a scientific name
    (``"Homo sapiens"``) or a production name (``"homo_sapiens"``).

    Raises
    ------
    ValueError
        ``name`` cannot be a species name.
    """
    normalized = validate_species(name.replace("-", " "))
    return SPECIES_ALIASES.get(normalized, normalized)


def default_home() -> str:
    """Where versions are kept when ``home`` is not given: the platform's storage root (see module docstring)."""
    return os.environ.get("IDTRACK_STORAGE") or os.path.join(os.environ.get("IDTRACK_HOME", ".idtrack"), "storage")


def _source(source: str | os.PathLike | EnsemblSource | None, species: str | None, assembly: str | None):
    """The opened source, species and assembly (``None`` → the embedded default and its species)."""
    if source is None:
        demo = ensure_demo(os.environ.get("IDTRACK_HOME", ".idtrack"))
        return open_source(demo.mirror), species_name(species or demo.species), assembly or demo.assembly
    if species is None:
        raise ConversionInputError("give species= (e.g. 'human' or 'homo_sapiens') with a source")
    opened = open_source(os.fspath(source)) if isinstance(source, str | os.PathLike) else source
    return opened, species_name(species), assembly


@lru_cache(maxsize=4)
def _read_index(url: str, version: str) -> ResolutionIndex:
    """A published index, loaded once per process (a version never changes)."""
    return ResolutionIndex.read(url)


def resolution_index(
    *,
    source: str | os.PathLike | EnsemblSource | None = None,
    species: str | None = None,
    assembly: str | None = None,
    to_release: int | str = "latest",
    final_database: str = "ensembl_gene",
    from_release: int | None = None,
    strategy: Strategy = "best",
    home: str | os.PathLike | None = None,
) -> ResolutionIndex:
    """The resolution index for a target, built into ``home`` unless that version is there (see
    :func:`convert_ids` for the parameters)."""
    opened, species, assembly = _source(source, species, assembly)
    release = "latest" if to_release == "latest" else int(to_release)
    target = ConversionTarget(release, final_database, from_release, strategy)  # type: ignore[arg-type]
    handle = Workspace(os.fspath(home or default_home()), species, assembly).resolution_index(opened, target)
    return _read_index(handle.url, handle.version)


def convert_ids(
    ids: str | Iterable[str],
    *,
    source: str | os.PathLike | EnsemblSource | None = None,
    species: str | None = None,
    assembly: str | None = None,
    to_release: int | str = "latest",
    final_database: str,
    from_release: int | None = None,
    strategy: Strategy = "best",
    home: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Convert gene identifiers of any release and database to one release and database.

    Parameters
    ----------
    ids
        Identifiers (Ensembl IDs with or without version, symbols, previous symbols, aliases, NCBI Gene IDs, …);
        one string is one identifier.
    source
        An Ensembl source: a dump root (folder, ``http(s)://``, ``s3://``), ``mysql://user@host:port`` or an opened
        source; None for the embedded simulated default.
    species
        ``"human"``, ``"Homo sapiens"`` or ``"homo_sapiens"``; required with a ``source``.
    assembly
        E.g. ``"GRCh38"``; None for any.
    to_release
        The release to convert to, or ``"latest"`` (the newest the source has).
    final_database
        ``"ensembl_gene"`` (also ``_transcript``, ``_translation``) or an external database's display name, e.g.
        ``"HGNC Symbol"``.
    from_release
        The release the identifiers come from, when known (names then count as of that release).
    strategy
        ``"best"``: the top-ranked candidates; ``"all"``: every candidate.
    home
        Folder keeping the versions (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per identifier, in order: ``query_id, category`` (``1:1``, ``1:n``, ``1:0``), ``target_ids``,
        ``ensembl_genes``, ``reason`` (for 1:0), ``fallback``, ``matched_node`` and the evidence ``match,
        path_length, min_score, bridge, bridge_via``.

    Raises
    ------
    IdtrackError
        An unknown species, release or database, an unreadable source.

    Examples
    --------
    >>> idtrack_core.convert_ids(["TP53", "ENSG00000141510.19", "NOT_A_REAL_GENE"], species="human",
    ...     source="../shared/data/human_releases", final_database="HGNC Symbol")  # doctest: +SKIP
    """
    queries = [ids] if isinstance(ids, str) else [str(i) for i in ids]
    index = resolution_index(
        source=source,
        species=species,
        assembly=assembly,
        to_release=to_release,
        final_database=final_database,
        from_release=from_release,
        strategy=strategy,
        home=home,
    )
    return index.lookup(queries)


def harmonize(
    studies: Mapping[str, ad.AnnData | str | os.PathLike],
    *,
    source: str | os.PathLike | EnsemblSource | None = None,
    species: str | None = None,
    assembly: str | None = None,
    to_release: int | str = "latest",
    final_database: str,
    from_release: int | None = None,
    strategy: Strategy = "best",
    home: str | os.PathLike | None = None,
    one_to_many: OneToMany = "collapse",
    many_to_one: ManyToOne = "sum",
    keep_consistent_failures: bool = True,
    max_failure_rate: float = Thresholds.max_failure_rate,
    max_ambiguity_rate: float = Thresholds.max_ambiguity_rate,
    max_collisions: int = Thresholds.max_collisions,
    thresholds: Mapping[str, Thresholds] | None = None,
    exclude_failing: bool = False,
    obs_columns: Sequence[str] = (),
    var_names: VarNames = "ensembl",
    id_namespace: str | Mapping[str, str | None] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Harmonization:
    """Match every feature of every study once; inspect the result, then build union and intersect atlases.

    Parameters
    ----------
    studies
        Study name → an ``AnnData`` (in memory or backed) or the path/URL of an ``.h5ad`` (local, ``http(s)://``,
        ``s3://``). Names become obs prefixes and var column suffixes: letters, digits, ``_ . -``.
    source, species, assembly, to_release, final_database, from_release, strategy, home
        The conversion target and where the identifiers come from, as in :func:`convert_ids`.
    one_to_many
        A feature reaching several genes: ``"drop"``, ``"keep_all"`` or ``"collapse"`` (to the gene named like
        the feature, else the smallest ID).
    many_to_one
        Several features of a study reaching one gene: ``"sum"``, ``"first"`` or ``"drop"`` (a warning names them).
    keep_consistent_failures
        Keep names that fail in every study (e.g. ERCC spike-ins) as features.
    max_failure_rate, max_ambiguity_rate, max_collisions
        The quality gates for every study (1:0 share, 1:n share, genes reached by several features).
    thresholds
        Per-study gate limits overriding the three above.
    exclude_failing
        Leave studies failing a gate out of the atlases instead of refusing to build them.
    obs_columns
        ``obs`` columns kept in the atlases.
    var_names
        The atlases' var names: ``"ensembl"`` (gene IDs) or ``"symbol"`` (names in ``final_database``, made unique);
        the Ensembl ID is in ``var["ensembl_id"]`` either way.
    id_namespace
        The database of all-numeric var names (``"entrez"`` for NCBI Gene IDs, or a database display name), for
        every study or per study name; such studies are refused without it (they may be row numbers).
    storage_options
        fsspec options for study URLs and atlas outputs.

    Returns
    -------
    Harmonization
        The matchings with their diagnostics, drill-downs and gates; ``.union()`` / ``.intersect()`` build atlases.

    Raises
    ------
    IdtrackError
        A study cannot be read (``StudyInputError``), an unknown species, release or database.

    Examples
    --------
    >>> h = idtrack_core.harmonize({"a": adata_a, "b": adata_b}, source="../shared/data/human_releases",
    ...     species="human", final_database="HGNC Symbol", max_failure_rate=0.3)  # doctest: +SKIP
    >>> h.union().shape, h.intersect().shape  # doctest: +SKIP
    ((110, 5), (110, 2))
    """
    index = resolution_index(
        source=source,
        species=species,
        assembly=assembly,
        to_release=to_release,
        final_database=final_database,
        from_release=from_release,
        strategy=strategy,
        home=home,
    )
    defaults = Thresholds(max_failure_rate, max_ambiguity_rate, max_collisions)
    limits = {name: (thresholds or {}).get(name, defaults) for name in studies}
    settings = _Settings(
        HarmonizationPolicy(one_to_many, many_to_one, keep_consistent_failures),
        defaults,
        limits,
        exclude_failing,
        tuple(obs_columns),
        var_names,
        id_namespace,
        dict(storage_options or {}),
    )
    return Harmonization(studies, index, settings)


@dataclass(frozen=True)
class _Settings:
    policy: HarmonizationPolicy
    defaults: Thresholds
    thresholds: dict[str, Thresholds]
    exclude_failing: bool
    obs_columns: tuple[str, ...]
    var_names: VarNames
    id_namespace: str | Mapping[str, str | None] | None
    storage_options: dict[str, Any]


class Harmonization:
    """Studies matched once against one target: what changed, failed or is ambiguous, and the atlases.

    Made by :func:`harmonize`. Attributes: ``matchings`` (study → one row per feature), ``index`` (the resolution
    index used), ``features`` (study → its var and X layout). The plan (gates, policies) is made when first needed
    and shared by both modes.
    """

    def __init__(
        self, studies: Mapping[str, ad.AnnData | str | os.PathLike], index: ResolutionIndex, settings: _Settings
    ) -> None:
        self.index = index
        self._settings = settings
        self._scratch = tempfile.mkdtemp(prefix="idtrack-harmonization-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._scratch, True)
        self.urls, in_memory = self._study_files(studies)
        self.features, self.matchings, files = match_studies(
            self.urls, index.lookup, settings.storage_options, id_namespace=settings.id_namespace
        )
        for name in in_memory:  # the file read is a scratch copy: say so in the provenance
            files[name] = {**files[name], "url": f"<in-memory AnnData {name!r}>"}
        self._files = files

    def _study_files(self, studies: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
        """Study → the ``.h5ad`` to read: the path given, a backed object's file, or a scratch copy of an in-memory
        object (written once)."""
        urls, in_memory = {}, []
        for name, study in studies.items():
            if isinstance(study, str | os.PathLike):
                urls[name] = os.fspath(study)
            elif getattr(study, "isbacked", False):
                urls[name] = os.fspath(study.filename)
            elif hasattr(study, "write_h5ad") and hasattr(study, "var_names"):
                check_var_names(study.var_names, f"study {name!r} (in-memory AnnData)")
                path = Path(self._scratch) / f"study-{len(urls)}.h5ad"
                study.write_h5ad(path)
                urls[name], in_memory = str(path), [*in_memory, name]
            else:
                raise ConversionInputError(
                    f"study {name!r}: expected an AnnData or the path/URL of an .h5ad, not {type(study).__name__}"
                )
        return urls, in_memory

    # ------------------------------------------------------------------------------------------ inspection
    @cached_property
    def diagnostics(self) -> pd.DataFrame:
        """One row per study: ``input_ids``, 1:1 / fallback / 1:n / 1:0 counts, success, ambiguity and failure
        rates, n→1 ``collisions`` (genes) and ``collided_features``."""
        return diagnostics_table([diagnose(s, m) for s, m in sorted(self.matchings.items())])

    @cached_property
    def _drilldowns(self) -> dict[str, pd.DataFrame]:
        return drilldowns(self.matchings)

    @property
    def failed(self) -> pd.DataFrame:
        """Every feature that converts to nothing (1:0): ``study, feature, reason, candidates, targets, evidence``."""
        return self._drilldowns["failed"]

    @property
    def ambiguous(self) -> pd.DataFrame:
        """Every feature that reaches several genes (1:n); ``candidates`` are the genes."""
        return self._drilldowns["ambiguous"]

    @property
    def collisions(self) -> pd.DataFrame:
        """Every feature sharing a gene with another feature of its study (n→1); ``candidates`` are the genes."""
        return self._drilldowns["collisions"]

    def gates(self) -> dict[str, GateReport]:
        """Every study's quality gates (the shared :func:`~idtrack_core.harmonize.gates.evaluate_gates` results),
        with this harmonization's limits."""
        return evaluate_studies(self.matchings, self._settings.thresholds)

    def gates_table(self) -> pd.DataFrame:
        """:meth:`gates` as one row per study: passed, and each gate's value against its limit."""
        from idtrack_core.report.summary import gates_table

        return gates_table(self.gates())

    def plot(self) -> PNG:
        """The report's plot (rates with counts, each gate against its limit); shown inline in a notebook."""
        from idtrack_core.report.plot import PNG, rates_png

        return PNG(rates_png(self.diagnostics, self.gates()))

    # -------------------------------------------------------------------------------------------- atlases
    @cached_property
    def atlas_plan(self) -> AtlasPlan:
        """The gated plan with its provenance (made once, for both modes).

        Raises
        ------
        QualityGateError
            A study fails its gates (unless ``exclude_failing``), naming the study and the gate.
        """
        s = self._settings
        return make_plan(self.matchings, self.index, self._files, s.policy, s.thresholds, s.defaults, s.exclude_failing)

    @property
    def plan(self) -> HarmonizationPlan:
        """The harmonization plan: feature space, policies, identifier sets, studies left out."""
        return self.atlas_plan.plan

    def union(self, out: str | os.PathLike | None = None) -> ad.AnnData:
        """All studies on the union of their features (missing genes are structural zeros).

        Parameters
        ----------
        out
            A local ``.h5ad`` path to write the atlas to, out-of-core; None to get it in memory.

        Returns
        -------
        anndata.AnnData
            In memory, or backed on ``out``; its provenance is in ``uns["idtrack"]``.
        """
        return self._atlas("union", out)

    def intersect(self, out: str | os.PathLike | None = None) -> ad.AnnData:
        """All studies on the features every study has (see :meth:`union` for ``out``)."""
        return self._atlas("intersect", out)

    def _atlas(self, mode: Mode, out: str | os.PathLike | None) -> ad.AnnData:
        import anndata as ad

        s = self._settings
        target = os.fspath(out) if out is not None else os.path.join(self._scratch, f"{mode}.h5ad")
        if out is not None and not is_local(url_to_fs(target)[0]):
            raise ConversionInputError(f"out must be a local path, not {target!r} (use the CLI or the platform)")
        plan = self.atlas_plan
        write_atlas(plan.plan, plan.provenance, mode, self.urls, target, s.obs_columns, s.storage_options, s.var_names)
        if out is not None:
            return ad.read_h5ad(target, backed="r")
        try:
            return ad.read_h5ad(target)
        finally:
            os.remove(target)

    def report(self, folder: str | os.PathLike, data_docs: bool = False) -> list[str]:
        """Write the report folder (summary, plot, diagnostics, per-study drill-downs; Data Docs on request).

        Returns
        -------
        list[str]
            The files written, relative to ``folder``.
        """
        from idtrack_core import storage
        from idtrack_core.report.bundle import report_files

        plan = self.atlas_plan
        shapes = {
            mode: (sum(f.n_obs for s, f in self.features.items() if s in plan.records), len(plan.plan.var_for(mode)))
            for mode in ("union", "intersect")
        }
        files = report_files(plan.plan, plan.diagnostics, shapes, self.matchings, plan.gates, data_docs=data_docs)
        storage.publish_dir(os.fspath(folder), files)
        return sorted(files)

    def close(self) -> None:
        """Remove the scratch copies of in-memory studies now (otherwise when this object goes)."""
        self._finalizer()

    def __repr__(self) -> str:
        t = self.index.target
        d = self.diagnostics
        failing = sorted(s for s, r in self.gates().items() if not r.passed)
        return (
            f"<Harmonization of {len(d)} studies ({', '.join(d.index)}) to {t.final_database} @ {t.to_release}: "
            f"{int(d['input_ids'].sum()):,} features, {len(self.failed):,} failed, {len(self.ambiguous):,} "
            f"ambiguous, {len(self.collisions):,} colliding; gates failing: {', '.join(failing) or 'none'}>"
        )
