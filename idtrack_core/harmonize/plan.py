"""The harmonization plan: from per-study matchings to one atlas feature space (DESIGN §6).

Atlas features are Ensembl genes at the target release (plus, optionally, names that failed conversion
in every study yet appear in all of them, such as ERCC spike-ins). Policies, all reported:

- 1→n (a feature reaching several genes): ``drop`` it; ``keep_all`` (its values go to every gene); or
  ``collapse`` to one gene, by this rule: the gene whose name in the final database equals the feature
  name (case-insensitively), else the smallest Ensembl gene ID.
- n→1 (several features of one study reaching one gene): ``sum`` their values; keep the ``first`` in the
  study's var order; or ``drop`` them all.

The plan's ``mapping`` table (study, feature, feature_position, atlas_id, rule) is the single source of
truth; per-mode var tables and merge layouts are derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata.utils import make_index_unique

from idtrack_core import storage
from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.merge import StudyLayout

OneToMany = Literal["drop", "keep_all", "collapse"]
ManyToOne = Literal["sum", "first", "drop"]
Mode = Literal["union", "intersect"]
VarNames = Literal["ensembl", "symbol"]
ENSEMBL_ID_COLUMN = "ensembl_id"
COLLAPSE_RULE = "gene whose final-database name equals the feature name (case-insensitive), else smallest gene ID"


@dataclass(frozen=True)
class HarmonizationPolicy:
    """How ambiguous matches are handled (see module docstring)."""

    one_to_many: OneToMany = "collapse"
    many_to_one: ManyToOne = "sum"
    keep_consistent_failures: bool = True

    def __post_init__(self) -> None:
        if self.one_to_many not in ("drop", "keep_all", "collapse"):
            raise ValueError(f"one_to_many must be drop, keep_all or collapse, not {self.one_to_many!r}")
        if self.many_to_one not in ("sum", "first", "drop"):
            raise ValueError(f"many_to_one must be sum, first or drop, not {self.many_to_one!r}")

    def describe(self) -> dict[str, str]:
        return {
            "one_to_many": self.one_to_many + (f" ({COLLAPSE_RULE})" if self.one_to_many == "collapse" else ""),
            "many_to_one": self.many_to_one,
            "keep_consistent_failures": str(self.keep_consistent_failures),
        }


@dataclass(frozen=True, eq=False)
class HarmonizationPlan:
    """The atlas feature space and how each study's features map onto it.

    - ``var``: index = atlas feature (Ensembl gene ID at the target release, or a kept unconverted name);
      ``converted_id`` (name in the final database), ``kind`` (``ensembl_gene``/``unconverted``),
      ``converted_id_<study>`` (the study's feature names mapped there, ``;``-joined), ``n_studies``,
      ``intersection`` (present in every included study). Sorted by index.
    - ``presence``: the study × feature presence matrix (index = atlas features, one bool column per study).
    - ``mapping``: study, feature, feature_position, atlas_id, rule (``1:1``, ``1:n <policy>``, ``n:1 <policy>``,
      ``consistent_failure``).
    - ``conversion_failed_identifiers``: per study, its 1:0 features (sorted).
    - ``conversion_failed_but_consistent_identifiers``: 1:0 in every study and present in all (sorted).
    - ``multiple_ensembl``: the 1→n features: study, feature, genes, policy, kept.
    - ``n_to_one``: the n→1 groups: study, atlas_id, features, policy, kept.
    - ``excluded_studies``: study → reason (e.g. no feature converted).
    - ``n_features``: each study's number of features (its var length).
    """

    var: pd.DataFrame
    presence: pd.DataFrame
    mapping: pd.DataFrame
    policy: HarmonizationPolicy
    studies: tuple[str, ...]
    conversion_failed_identifiers: dict[str, list[str]] = field(default_factory=dict)
    conversion_failed_but_consistent_identifiers: list[str] = field(default_factory=list)
    multiple_ensembl: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_to_one: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded_studies: dict[str, str] = field(default_factory=dict)
    n_features: dict[str, int] = field(default_factory=dict)

    def var_for(self, mode: Mode) -> pd.DataFrame:
        """The atlas var of a union (every feature) or intersect (features present in every study)."""
        if mode == "union":
            return self.var
        if mode == "intersect":
            return self.var[self.var["intersection"]]
        raise ValueError(f"mode must be 'union' or 'intersect', not {mode!r}")

    def layouts(self, mode: Mode, urls: Mapping[str, str]) -> list[StudyLayout]:
        """Merge layouts of the included studies for ``mode`` (``urls``: where each study's .h5ad is)."""
        var = self.var_for(mode)
        position = pd.Series(np.arange(len(var)), index=var.index)
        out = []
        for study in self.studies:
            if study in self.excluded_studies:
                continue
            m = self.mapping[(self.mapping["study"] == study) & self.mapping["atlas_id"].isin(var.index)]
            m = m.assign(pos=position.reindex(m["atlas_id"]).to_numpy(dtype=np.int64))
            first = ~m.duplicated("feature_position")
            target = np.full(self.n_features[study], -1, dtype=np.int64)
            target[m.loc[first, "feature_position"].to_numpy()] = m.loc[first, "pos"].to_numpy()
            copies = m.loc[~first, ["feature_position", "pos"]].to_numpy(dtype=np.int64)
            out.append(StudyLayout(study, urls[study], target, copies))
        return out


def atlas_var(var: pd.DataFrame, var_names: VarNames = "ensembl") -> pd.DataFrame:
    """The atlas ``var`` as written: the Ensembl gene ID always in the column ``ensembl_id`` (empty for kept
    unconverted names such as spike-ins), and as index either that ID (``"ensembl"``) or the feature's name in the
    final database (``"symbol"``: ``converted_id``, the name itself for an unconverted feature), made unique the way
    scanpy's ``var_names_make_unique`` does (``TP53``, ``TP53-1``, …).

    Parameters
    ----------
    var
        The plan's var for a mode (:meth:`HarmonizationPlan.var_for`), index = atlas feature.
    var_names
        ``"ensembl"`` or ``"symbol"``.

    Returns
    -------
    pandas.DataFrame
        The same rows in the same order (the merge's column positions do not change).
    """
    if var_names not in ("ensembl", "symbol"):
        raise ValueError(f"var_names must be 'ensembl' or 'symbol', not {var_names!r}")
    out = var.copy()
    genes = out["kind"] == "ensembl_gene"
    out.insert(0, ENSEMBL_ID_COLUMN, pd.Series(out.index, index=out.index, dtype=object).where(genes, None))
    if var_names == "symbol":
        names = (
            out["converted_id"].astype(object).where(out["converted_id"].notna(), pd.Series(out.index, index=out.index))
        )
        out.index = make_index_unique(pd.Index(names.astype(str), dtype=object))
        out.index.name = "symbol"
    return out


def build_plan(
    matchings: Mapping[str, pd.DataFrame],
    gene_names: Mapping[str, str],
    policy: HarmonizationPolicy | None = None,
) -> HarmonizationPlan:
    """Plan the atlas from per-study matching tables (study order is kept).

    ``gene_names`` maps each Ensembl gene reached to its name in the final database (``converted_id``).
    """
    policy = policy or HarmonizationPolicy()
    if not matchings:
        raise StudyInputError("no studies to harmonize")
    studies = tuple(matchings)
    pairs, multiple = [], []
    failed: dict[str, list[str]] = {}
    for study, m in matchings.items():
        genes = m["ensembl_genes"].fillna("").str.split(";").map(lambda g: sorted(x for x in g if x))
        failed[study] = sorted(m.loc[genes.map(len) == 0, "feature"].astype(str))
        for pos, (feature, gs) in enumerate(zip(m["feature"].astype(str), genes, strict=True)):
            if len(gs) == 1:
                pairs.append((study, feature, pos, gs[0], "1:1"))
            elif len(gs) > 1:
                kept = _one_to_many(feature, gs, gene_names, policy.one_to_many)
                multiple.append((study, feature, ";".join(gs), policy.one_to_many, ";".join(kept)))
                pairs += [(study, feature, pos, g, f"1:n {policy.one_to_many}") for g in kept]
    mapping = pd.DataFrame(pairs, columns=["study", "feature", "feature_position", "atlas_id", "rule"])
    mapping = mapping.astype({"feature_position": "int64"})
    mapping, n_to_one = _many_to_one(mapping, policy.many_to_one)
    consistent = _consistent_failures(matchings, failed)
    if policy.keep_consistent_failures and consistent:
        extra = [
            (
                study,
                name,
                int(np.flatnonzero(m["feature"].astype(str).to_numpy() == name)[0]),
                name,
                "consistent_failure",
            )
            for study, m in matchings.items()
            for name in consistent
        ]
        mapping = pd.concat([mapping, pd.DataFrame(extra, columns=mapping.columns)], ignore_index=True)
    excluded = {s: "no feature converted" for s in studies if not (mapping["study"] == s).any()}
    included = [s for s in studies if s not in excluded]
    if not included:
        raise StudyInputError(f"no study has any converted feature: {', '.join(studies)}")
    mapping = mapping.sort_values(["study", "feature_position", "atlas_id"], kind="stable").reset_index(drop=True)
    var, presence = _var_table(mapping, gene_names, consistent if policy.keep_consistent_failures else [], included)
    return HarmonizationPlan(
        var=var,
        presence=presence,
        mapping=mapping,
        policy=policy,
        studies=studies,
        conversion_failed_identifiers=failed,
        conversion_failed_but_consistent_identifiers=consistent,
        multiple_ensembl=pd.DataFrame(multiple, columns=["study", "feature", "genes", "policy", "kept"]),
        n_to_one=n_to_one,
        excluded_studies=excluded,
        n_features={study: len(m) for study, m in matchings.items()},
    )


def _one_to_many(feature: str, genes: list[str], gene_names: Mapping[str, str], policy: OneToMany) -> list[str]:
    if policy == "drop":
        return []
    if policy == "keep_all":
        return genes
    same_name = [g for g in genes if feature.lower() in str(gene_names.get(g, "")).lower().split(";")]
    return [min(same_name or genes)]


def _many_to_one(mapping: pd.DataFrame, policy: ManyToOne) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the n→1 policy; return the mapping and a report of the groups."""
    group = mapping.groupby(["study", "atlas_id"])["feature_position"]
    size = group.transform("size")
    shared = mapping[size > 1]
    if policy == "first":
        keep = (size == 1) | (mapping["feature_position"] == group.transform("min"))
    elif policy == "drop":
        keep = size == 1
    else:
        keep = pd.Series(True, index=mapping.index)
    report = (
        shared.sort_values(["study", "atlas_id", "feature_position"])
        .groupby(["study", "atlas_id"], sort=True)
        .agg(features=("feature", ";".join))
        .reset_index()
    )
    kept = mapping[keep & (size > 1)].groupby(["study", "atlas_id"])["feature"].agg(";".join)
    report["policy"] = policy
    report["kept"] = [kept.get((s, a), "") for s, a in zip(report["study"], report["atlas_id"], strict=True)]
    mapping = mapping[keep].copy()
    mapping.loc[(size > 1)[keep], "rule"] = f"n:1 {policy}"
    return mapping, report


def _consistent_failures(matchings: Mapping[str, pd.DataFrame], failed: Mapping[str, list[str]]) -> list[str]:
    """Names that failed conversion in every study and are present in all of them (e.g. spike-ins); with a
    single study nothing is "consistent"."""
    if len(failed) < 2:
        return []
    sets = [set(v) for v in failed.values()]
    common = set.intersection(*sets) if sets else set()
    present = [set(m["feature"].astype(str)) for m in matchings.values()]
    return sorted(n for n in common if all(n in p for p in present))


def _var_table(
    mapping: pd.DataFrame, gene_names: Mapping[str, str], consistent: list[str], studies: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = sorted(set(mapping["atlas_id"]))
    presence = pd.DataFrame(False, index=pd.Index(ids, name="atlas_id"), columns=studies)
    for study in studies:
        presence.loc[sorted(set(mapping.loc[mapping["study"] == study, "atlas_id"])), study] = True
    unconverted = set(consistent)
    var = pd.DataFrame(index=pd.Index(ids, name="atlas_id"))
    var["converted_id"] = [None if i in unconverted else gene_names.get(i, i) for i in ids]
    var["kind"] = ["unconverted" if i in unconverted else "ensembl_gene" for i in ids]
    for study in studies:
        names = (
            mapping[mapping["study"] == study].groupby("atlas_id")["feature"].agg(lambda f: ";".join(sorted(set(f))))
        )
        var[f"converted_id_{study}"] = names.reindex(var.index).astype(object).where(lambda s: s.notna(), None)
    var["n_studies"] = presence.sum(axis=1).astype("int64")
    var["intersection"] = presence.all(axis=1)
    return var, presence


PLAN_FORMAT_VERSION = 1
PLAN_CODE_VERSION = f"plan-{PLAN_FORMAT_VERSION}.1"
"""Changes whenever the plan made from the same matchings and settings would differ (part of its version id)."""
_PLAN_TABLES = ("var", "presence", "mapping", "multiple_ensembl", "n_to_one")


def plan_files(
    plan: HarmonizationPlan,
    extra: Mapping[str, pd.DataFrame] | None = None,
    extra_manifest: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """A plan as files: Parquet tables + ``manifest.json`` with policies and identifier sets.

    ``extra`` tables (e.g. the diagnostics) are stored beside it; ``extra_manifest`` entries (e.g. the provenance)
    go into the manifest.
    """
    files: dict[str, bytes] = {}
    for name in _PLAN_TABLES:
        files[f"{name}.parquet"] = storage.parquet_bytes(getattr(plan, name), keep_index=name in ("var", "presence"))
    for name, df in (extra or {}).items():
        files[f"{name}.parquet"] = storage.parquet_bytes(df, keep_index=True)
    manifest = {
        **dict(extra_manifest or {}),
        "format_version": PLAN_FORMAT_VERSION,
        "studies": list(plan.studies),
        "policy": {
            "one_to_many": plan.policy.one_to_many,
            "many_to_one": plan.policy.many_to_one,
            "keep_consistent_failures": plan.policy.keep_consistent_failures,
        },
        "policy_description": plan.policy.describe(),
        "conversion_failed_identifiers": plan.conversion_failed_identifiers,
        "conversion_failed_but_consistent_identifiers": plan.conversion_failed_but_consistent_identifiers,
        "excluded_studies": plan.excluded_studies,
        "n_features": plan.n_features,
        "extra_tables": sorted(extra or {}),
    }
    files[storage.MANIFEST] = storage.json_bytes(manifest)
    return files


def write_plan(
    plan: HarmonizationPlan, url: str, extra: Mapping[str, pd.DataFrame] | None = None, **storage_options: Any
) -> None:
    """Publish a plan (:func:`plan_files`) at ``url`` atomically."""
    storage.publish_dir(url, plan_files(plan, extra), **storage_options)


def read_plan_manifest(url: str, **storage_options: Any) -> dict[str, Any]:
    """The manifest of the plan published at ``url``."""
    return storage.read_manifest(url, "harmonization plan", PLAN_FORMAT_VERSION, **storage_options)


def read_plan(url: str, **storage_options: Any) -> tuple[HarmonizationPlan, dict[str, pd.DataFrame]]:
    """Load a published plan and its extra tables."""
    manifest = read_plan_manifest(url, **storage_options)

    def frame(name: str) -> pd.DataFrame:
        return storage.read_parquet_file(storage.join(url, f"{name}.parquet"), **storage_options)

    tables = {name: frame(name) for name in _PLAN_TABLES}
    extra = {name: frame(name) for name in manifest["extra_tables"]}
    p = manifest["policy"]
    plan = HarmonizationPlan(
        var=tables["var"],
        presence=tables["presence"],
        mapping=tables["mapping"],
        policy=HarmonizationPolicy(p["one_to_many"], p["many_to_one"], p["keep_consistent_failures"]),
        studies=tuple(manifest["studies"]),
        conversion_failed_identifiers=manifest["conversion_failed_identifiers"],
        conversion_failed_but_consistent_identifiers=manifest["conversion_failed_but_consistent_identifiers"],
        multiple_ensembl=tables["multiple_ensembl"],
        n_to_one=tables["n_to_one"],
        excluded_studies=manifest["excluded_studies"],
        n_features=manifest["n_features"],
    )
    return plan, extra
