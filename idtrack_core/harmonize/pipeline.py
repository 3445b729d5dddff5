"""Harmonize several studies end to end: features → matchings → gates → plan (with provenance) → atlas.

The steps are shared by the command line (:func:`harmonize` runs them all) and the Dagster assets (which run one
step each): :func:`match_studies`, :func:`make_plan` (gates, plan, the studies' records, the provenance and the plan's
version) and :func:`write_atlas` (the out-of-core merge with the provenance in ``uns["idtrack"]``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from idtrack_core import storage
from idtrack_core.convert.index import ResolutionIndex
from idtrack_core.errors import QualityGateError
from idtrack_core.harmonize.admission import admit, study_records
from idtrack_core.harmonize.gates import GateReport, Thresholds
from idtrack_core.harmonize.matchings import Lookup, diagnose, diagnostics_table, match_features
from idtrack_core.harmonize.merge import ATLAS_CODE_VERSION, MergeResult, merge_studies
from idtrack_core.harmonize.plan import (
    PLAN_CODE_VERSION,
    HarmonizationPlan,
    HarmonizationPolicy,
    Mode,
    VarNames,
    atlas_var,
    build_plan,
)
from idtrack_core.harmonize.registry import study_file_identity, validate_study_names
from idtrack_core.harmonize.studyio import StudyFeatures, read_study_features
from idtrack_core.harmonize.zarr_atlas import CHUNK_ENTRIES, merge_studies_zarr
from idtrack_core.progress import progress as show_progress
from idtrack_core.provenance import PROVENANCE_KEY, atlas_provenance, plan_provenance
from idtrack_core.versions import version_id

log = logging.getLogger(__name__)

AtlasFormat = Literal["h5ad", "zarr"]
ATLAS_FORMATS: tuple[str, ...] = ("h5ad", "zarr")


def gene_names(lookup: Lookup, genes: Sequence[str]) -> dict[str, str]:
    """Each Ensembl gene's name(s) in the final database (``;``-joined), by converting the gene ID itself."""
    if not genes:
        return {}
    res = lookup(sorted(genes))
    return dict(zip(res["query_id"], res["target_ids"].astype(str), strict=True))


def index_version(index: ResolutionIndex) -> str:
    """A resolution index's version: the workspace's (its ``version`` in the manifest lineage) or, for an index
    made in memory, a hash of its manifest."""
    return index.manifest.get("version") or hashlib.sha256(storage.json_bytes(index.manifest)).hexdigest()[:20]


@dataclass(frozen=True, eq=False)
class AtlasPlan:
    """A harmonization plan with everything an atlas made from it needs to be checked and traced.

    Attributes
    ----------
    plan
        The plan (feature space, policies, mappings).
    diagnostics
        One row per study (the demo's columns).
    gates
        Every study's gate report (studies that failed are left out of ``plan``).
    records
        What the plan records of each study it includes (file identity, matching hash, gates, diagnostics).
    provenance
        The plan's provenance record.
    version
        The plan's content address.
    """

    plan: HarmonizationPlan
    diagnostics: pd.DataFrame
    gates: dict[str, GateReport]
    records: dict[str, dict[str, Any]]
    provenance: dict[str, Any]
    version: str

    def files(self) -> dict[str, bytes]:
        """The plan as files, with diagnostics and provenance (see :func:`~idtrack_core.harmonize.plan.plan_files`)."""
        from idtrack_core.harmonize.plan import plan_files

        return plan_files(self.plan, {"diagnostics": self.diagnostics}, {"provenance": self.provenance})


def match_studies(
    studies: Mapping[str, str],
    lookup: Lookup,
    storage_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    id_namespace: str | Mapping[str, str | None] | None = None,
) -> tuple[dict[str, StudyFeatures], dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """Read every study's features (without X), note its file identity, and match the features.

    All-numeric var names are refused unless ``id_namespace`` says which database they come from (see
    :mod:`~idtrack_core.harmonize.namespaces`): one namespace for every study, or one per study name (a study
    left out has none); a study with 0 cells is reported with a warning.

    Returns
    -------
    tuple
        Features, matchings and file identities (:func:`~idtrack_core.harmonize.registry.study_file_identity`),
        each by study.
    """
    validate_study_names(list(studies))
    opts = dict(storage_options or {})
    features, matchings, files = {}, {}, {}
    with show_progress("matching studies", total=len(studies), unit="studies") as bar:
        for name, url in studies.items():
            files[name] = study_file_identity(url, opts)
            features[name] = read_study_features(url, opts)
            if features[name].n_obs == 0:
                log.warning("study %s (%s) has 0 cells: it adds features to the plan but no cells", name, url)
            study = f"study {name!r} ({features[name].url})"
            namespace = id_namespace.get(name) if isinstance(id_namespace, Mapping) else id_namespace
            matchings[name] = match_features(list(features[name].var_names), lookup, namespace, study)
            log.info("study %s: %d features matched", name, len(matchings[name]))
            bar.update(note=name)
            if progress:
                progress(name)
    return features, matchings, files


def plan_studies(
    matchings: Mapping[str, pd.DataFrame], lookup: Lookup, policy: HarmonizationPolicy
) -> HarmonizationPlan:
    """Plan the atlas from matchings, naming every gene reached in the final database."""
    genes = sorted(
        {g for m in matchings.values() for gs in m["ensembl_genes"].dropna() for g in str(gs).split(";") if g}
    )
    return build_plan(matchings, gene_names(lookup, genes), policy)


def make_plan(
    matchings: Mapping[str, pd.DataFrame],
    index: ResolutionIndex,
    files: Mapping[str, Mapping[str, Any]],
    policy: HarmonizationPolicy,
    thresholds: Mapping[str, Thresholds],
    defaults: Thresholds,
    exclude_failing: bool = False,
) -> AtlasPlan:
    """Gate the studies, plan the atlas from those that pass, and record what it was made from.

    Parameters
    ----------
    matchings
        Study → its matching table, made with ``index``.
    index
        The resolution index the studies were matched with (its manifest's lineage feeds the provenance).
    files
        Study → the identity of its file when it was read.
    policy
        The 1→n / n→1 policies.
    thresholds
        Study → its gate limits; ``defaults`` are the limits without per-study overrides (for the record).
    defaults
        See ``thresholds``.
    exclude_failing
        Leave studies failing a gate out of the plan instead of refusing.

    Returns
    -------
    AtlasPlan

    Raises
    ------
    QualityGateError
        A study fails a gate (and ``exclude_failing`` is False), or no study passes.
    """
    reports = admit(matchings, thresholds, exclude_failing)
    admitted = {s: m for s, m in sorted(matchings.items()) if reports[s].passed}
    if not admitted:
        raise QualityGateError(
            "no study passes its quality gates: " + "; ".join(r.describe() for r in reports.values())
        )
    records = study_records(admitted, reports, files)
    plan = plan_studies(admitted, index.lookup, policy)
    failed = {s: f"fails its quality gates: {r.describe()}" for s, r in reports.items() if not r.passed}
    plan = replace(plan, excluded_studies={**failed, **plan.excluded_studies})
    for study, reason in plan.excluded_studies.items():
        log.warning("study %s is left out of the atlas: %s", study, reason)
    warn_many_to_one(plan)
    planned = {s: r for s, r in records.items() if s not in plan.excluded_studies}
    index_v = index_version(index)
    inputs = {
        "index": index_v,
        "studies": {s: [r["matching_sha256"], r["file"]["fingerprint"], r["thresholds"]] for s, r in records.items()},
        "policy": policy.describe(),
    }
    version = version_id("harmonization_plan", PLAN_CODE_VERSION, inputs)
    provenance = plan_provenance(index.manifest, index_v, version, policy.describe(), defaults.as_dict(), planned)
    diagnostics = diagnostics_table([diagnose(s, m) for s, m in sorted(matchings.items())])
    return AtlasPlan(plan, diagnostics, reports, planned, provenance, version)


N_TO_ONE_SHOWN = 10
"""n→1 groups named in a warning before "… and k more"."""
_N_TO_ONE_VERBS = {"sum": "summed", "first": "only the first kept", "drop": "all dropped"}


def warn_many_to_one(plan: HarmonizationPlan) -> None:
    """Log a warning per study whose features are summed or dropped because several reach one gene (n→1), naming
    the gene and the features of each group."""
    report = plan.n_to_one
    if report.empty:
        return
    verb = _N_TO_ONE_VERBS[plan.policy.many_to_one]
    for study, groups in report.groupby("study", sort=True):
        shown = [f"{g} ← {f.replace(';', ' + ')}" for g, f in zip(groups["atlas_id"], groups["features"], strict=True)]
        more = len(shown) - N_TO_ONE_SHOWN
        log.warning(
            "study %s: %d gene(s) reached by several features (n→1 policy %r: %s): %s%s",
            study,
            len(shown),
            plan.policy.many_to_one,
            verb,
            "; ".join(shown[:N_TO_ONE_SHOWN]),
            f"; … and {more} more (see the collisions drill-down)" if more > 0 else "",
        )


def atlas_version(
    plan_version: str,
    mode: Mode,
    obs_columns: Sequence[str],
    var_names: VarNames = "ensembl",
    atlas_format: AtlasFormat = "h5ad",
    chunk_entries: int = CHUNK_ENTRIES,
) -> str:
    """The content address of an atlas made from a plan (which fixes the studies' files and matchings); a Zarr
    atlas's address also holds its chunking (``chunk_entries``), an ``.h5ad``'s does not."""
    inputs: dict[str, Any] = {"plan": plan_version, "obs_columns": list(obs_columns)}
    if var_names != "ensembl":
        inputs["var_names"] = var_names
    if atlas_format == "zarr":
        inputs["zarr"] = {"chunk_entries": chunk_entries}
    return version_id(f"atlas_{mode}", ATLAS_CODE_VERSION, inputs)


def atlas_record(
    plan_record: Mapping[str, Any],
    mode: Mode,
    obs_columns: Sequence[str],
    var_names: VarNames = "ensembl",
    atlas_format: AtlasFormat = "h5ad",
    chunk_entries: int = CHUNK_ENTRIES,
) -> tuple[str, dict[str, Any]]:
    """An atlas's version and provenance record (a Zarr atlas's record names its format and chunking).

    Parameters
    ----------
    plan_record
        The plan's provenance (:attr:`AtlasPlan.provenance`, or the ``provenance`` of a published plan's manifest).
    mode
        ``union`` or ``intersect``.
    obs_columns
        ``obs`` columns kept.
    var_names
        ``ensembl`` or ``symbol`` (see :func:`~.plan.atlas_var`).
    atlas_format
        ``h5ad`` (one file) or ``zarr`` (a store written block by block).
    chunk_entries
        Chunk length of a Zarr atlas's ``X/data`` and ``X/indices``.

    Returns
    -------
    tuple
        The version and the record.
    """
    if atlas_format not in ATLAS_FORMATS:
        raise ValueError(f"atlas format must be one of {ATLAS_FORMATS}, not {atlas_format!r}")
    version = atlas_version(plan_record["plan"]["version"], mode, obs_columns, var_names, atlas_format, chunk_entries)
    record = atlas_provenance(plan_record, mode, list(obs_columns), version, ATLAS_CODE_VERSION, var_names)
    if atlas_format == "zarr":
        record["atlas"]["store"] = {"format": "zarr", "chunk_entries": chunk_entries}
    return version, record


def write_atlas(
    plan: HarmonizationPlan,
    plan_record: Mapping[str, Any],
    mode: Mode,
    urls: Mapping[str, str],
    out: str,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    var_names: VarNames = "ensembl",
    atlas_format: AtlasFormat = "h5ad",
    workers: int = 1,
    chunk_entries: int = CHUNK_ENTRIES,
) -> tuple[MergeResult, dict[str, Any]]:
    """Merge the planned studies into one ``mode`` atlas at ``out``, its provenance in ``uns["idtrack"]``.

    Parameters
    ----------
    plan
        The harmonization plan.
    plan_record
        The plan's provenance (:attr:`AtlasPlan.provenance`, or the ``provenance`` of a published plan's manifest).
    mode
        ``union`` or ``intersect``.
    urls
        Study → its ``.h5ad``.
    out
        Where the atlas goes (local path or ``s3://``), written atomically.
    obs_columns
        ``obs`` columns to keep.
    storage_options
        fsspec options for the studies and ``out``.
    var_names
        The atlas's var names: Ensembl gene IDs (``"ensembl"``) or names in the final database made unique
        (``"symbol"``); the Ensembl ID is in ``var["ensembl_id"]`` either way (:func:`~.plan.atlas_var`).
    atlas_format
        ``h5ad`` (default: one file, streamed study by study) or ``zarr`` (a store written block by block,
        :mod:`~idtrack_core.harmonize.zarr_atlas`).
    workers
        Processes writing a Zarr atlas's blocks.
    chunk_entries
        Chunk length of a Zarr atlas's ``X/data`` and ``X/indices``.

    Returns
    -------
    tuple
        The merge result and the atlas's provenance record.
    """
    _, record = atlas_record(plan_record, mode, obs_columns, var_names, atlas_format, chunk_entries)
    if atlas_format == "zarr":
        stored = merge_studies_zarr(
            plan.layouts(mode, urls),
            atlas_var(plan.var_for(mode), var_names),
            out,
            obs_columns,
            dict(storage_options or {}),
            uns={PROVENANCE_KEY: record},
            workers=workers,
            chunk_entries=chunk_entries,
        )
        return stored.merge, record
    result = merge_studies(
        plan.layouts(mode, urls),
        atlas_var(plan.var_for(mode), var_names),
        out,
        obs_columns=obs_columns,
        storage_options=dict(storage_options or {}),
        uns={PROVENANCE_KEY: record},
    )
    return result, record


@dataclass(frozen=True, eq=False)
class HarmonizeResult:
    """Everything a harmonization produced (``merged``: mode → merge result, when an output was written)."""

    features: dict[str, StudyFeatures]
    matchings: dict[str, pd.DataFrame]
    atlas_plan: AtlasPlan
    merged: dict[str, MergeResult] = field(default_factory=dict)

    @property
    def plan(self) -> HarmonizationPlan:
        """The harmonization plan."""
        return self.atlas_plan.plan

    @property
    def diagnostics_table(self) -> pd.DataFrame:
        """One row per study."""
        return self.atlas_plan.diagnostics


def harmonize(
    studies: Mapping[str, str],
    index: ResolutionIndex,
    out: str | None = None,
    mode: Mode = "union",
    policy: HarmonizationPolicy | None = None,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    thresholds: Thresholds | Mapping[str, Thresholds] | None = None,
    exclude_failing: bool = False,
    id_namespace: str | Mapping[str, str | None] | None = None,
    atlas_format: AtlasFormat = "h5ad",
) -> HarmonizeResult:
    """Match every study, gate, plan, and (with ``out``) write the merged ``mode`` atlas out-of-core.

    ``thresholds`` is one set of gate limits for every study or a mapping study → limits (default
    :class:`Thresholds`); a study failing a gate is refused (``QualityGateError``) unless ``exclude_failing``.
    ``id_namespace`` is the database of all-numeric var names, for every study or per study (see
    :func:`match_studies`). ``atlas_format`` is ``h5ad`` (default) or ``zarr``.
    """
    policy = policy or HarmonizationPolicy()
    features, matchings, files = match_studies(studies, index.lookup, storage_options, progress, id_namespace)
    defaults = thresholds if isinstance(thresholds, Thresholds) else Thresholds()
    limits = {s: thresholds[s] if isinstance(thresholds, Mapping) else defaults for s in matchings}
    atlas_plan = make_plan(matchings, index, files, policy, limits, defaults, exclude_failing)
    merged = {}
    if out is not None:
        merged[mode], _ = write_atlas(
            atlas_plan.plan,
            atlas_plan.provenance,
            mode,
            studies,
            out,
            obs_columns,
            storage_options,
            atlas_format=atlas_format,
        )
    return HarmonizeResult(features, matchings, atlas_plan, merged)
