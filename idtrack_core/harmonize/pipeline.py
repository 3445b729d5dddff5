"""Harmonize several studies end to end: features → matchings → diagnostics → plan → merged atlas."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.matchings import Lookup, StudyDiagnostics, diagnose, diagnostics_table, match_features
from idtrack_core.harmonize.merge import MergeResult, merge_studies
from idtrack_core.harmonize.plan import HarmonizationPlan, HarmonizationPolicy, Mode, build_plan
from idtrack_core.harmonize.studyio import StudyFeatures, read_study_features

log = logging.getLogger(__name__)
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def validate_study_names(names: Sequence[str]) -> None:
    """Study names become obs prefixes and var column suffixes: letters, digits, ``_ . -``; unique."""
    bad = [n for n in names if not _STUDY_NAME.match(n)]
    if bad:
        raise StudyInputError(f"invalid study name(s) {bad}: use letters, digits, '_', '.', '-'")
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise StudyInputError(f"duplicate study name(s) {dupes}")


def gene_names(lookup: Lookup, genes: Sequence[str]) -> dict[str, str]:
    """Each Ensembl gene's name(s) in the final database (``;``-joined), by converting the gene ID itself."""
    if not genes:
        return {}
    res = lookup(sorted(genes))
    return dict(zip(res["query_id"], res["target_ids"].astype(str), strict=True))


@dataclass(frozen=True, eq=False)
class HarmonizeResult:
    """Everything a harmonization produced (``merged``: mode → merge result, when an output was written)."""

    features: dict[str, StudyFeatures]
    matchings: dict[str, pd.DataFrame]
    diagnostics: list[StudyDiagnostics]
    plan: HarmonizationPlan
    merged: dict[str, MergeResult] = field(default_factory=dict)

    @property
    def diagnostics_table(self) -> pd.DataFrame:
        return diagnostics_table(self.diagnostics)


def match_studies(
    studies: Mapping[str, str],
    lookup: Lookup,
    storage_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, StudyFeatures], dict[str, pd.DataFrame]]:
    """Read every study's features (without X) and match them."""
    validate_study_names(list(studies))
    features, matchings = {}, {}
    for name, url in studies.items():
        features[name] = read_study_features(url, dict(storage_options or {}))
        matchings[name] = match_features(list(features[name].var_names), lookup)
        log.info("study %s: %d features matched", name, len(matchings[name]))
        if progress:
            progress(name)
    return features, matchings


def plan_studies(
    matchings: Mapping[str, pd.DataFrame], lookup: Lookup, policy: HarmonizationPolicy
) -> HarmonizationPlan:
    """Plan the atlas from matchings, naming every gene reached in the final database."""
    genes = sorted(
        {g for m in matchings.values() for gs in m["ensembl_genes"].dropna() for g in str(gs).split(";") if g}
    )
    return build_plan(matchings, gene_names(lookup, genes), policy)


def harmonize(
    studies: Mapping[str, str],
    lookup: Lookup,
    out: str | None = None,
    mode: Mode = "union",
    policy: HarmonizationPolicy | None = None,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> HarmonizeResult:
    """Match every study, plan, and (with ``out``) write the merged ``mode`` atlas out-of-core."""
    policy = policy or HarmonizationPolicy()
    features, matchings = match_studies(studies, lookup, storage_options, progress)
    diagnostics = [diagnose(name, m) for name, m in matchings.items()]
    plan = plan_studies(matchings, lookup, policy)
    for study, reason in plan.excluded_studies.items():
        log.warning("study %s is left out of the atlas: %s", study, reason)
    merged = {}
    if out is not None:
        layouts = plan.layouts(mode, studies)
        merged[mode] = merge_studies(
            layouts, plan.var_for(mode), out, obs_columns=obs_columns, storage_options=dict(storage_options or {})
        )
    return HarmonizeResult(features, matchings, diagnostics, plan, merged)
