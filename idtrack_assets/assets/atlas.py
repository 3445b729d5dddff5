"""The harmonization plan across studies and the merged atlases (DESIGN §6)."""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import latest_path, preview
from idtrack_assets.assets.graph import resolution_index
from idtrack_assets.assets.studies import registered, study_features
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core.convert import ResolutionIndex
from idtrack_core.harmonize.matchings import diagnose, diagnostics_table
from idtrack_core.harmonize.merge import merge_studies
from idtrack_core.harmonize.pipeline import plan_studies
from idtrack_core.harmonize.plan import Mode, read_plan, write_plan

GATED = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


@dg.asset(group_name="atlas", kinds={"parquet"}, deps=[resolution_index], automation_condition=GATED)
def harmonization_plan(
    context: dg.AssetExecutionContext,
    study_matchings: dict[str, pd.DataFrame],
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.MaterializeResult:
    """Policies, identifier sets, the atlas var table and the study × feature presence matrix."""
    diagnostics = [diagnose(study, m) for study, m in sorted(study_matchings.items())]
    failing = {
        d.study: v
        for d in diagnostics
        if (v := atlas_settings.thresholds(registered(study_registry, d.study)).violations(d))
    }
    if failing:  # the blocking checks already stop this in-run and under automation; never plan over them
        raise dg.Failure(
            "studies failing their quality gates cannot enter the atlas",
            metadata={"failing": dg.MetadataValue.json(failing)},
        )
    index = ResolutionIndex.read(latest_path(context, "resolution_index"), **atlas_storage.storage_options)
    plan = plan_studies(dict(sorted(study_matchings.items())), index.lookup, atlas_settings.policy())
    table = diagnostics_table(diagnostics)
    url = atlas_storage.url("plan")
    write_plan(plan, url, {"diagnostics": table}, **atlas_storage.storage_options)
    var = plan.var
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(url),
            "studies": ", ".join(plan.studies),
            "excluded_studies": dg.MetadataValue.json(plan.excluded_studies),
            "union_features": len(var),
            "intersect_features": int(var["intersection"].sum()),
            "policy": dg.MetadataValue.json(plan.policy.describe()),
            "conversion_failed_but_consistent_identifiers": len(plan.conversion_failed_but_consistent_identifiers),
            "multiple_ensembl": len(plan.multiple_ensembl),
            "n_to_one_groups": len(plan.n_to_one),
            "diagnostics": preview(table, 50),
            "var_preview": preview(var),
        }
    )


def _merge(
    context: dg.AssetExecutionContext,
    mode: Mode,
    registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    settings: AtlasSettings,
) -> dg.MaterializeResult:
    plan, _ = read_plan(latest_path(context, "harmonization_plan"), **atlas_storage.storage_options)
    studies = [s for s in plan.studies if s not in plan.excluded_studies]
    urls = {s: registered(registry, s).url for s in studies}
    out = atlas_storage.url("atlas", f"{mode}.h5ad")
    result = merge_studies(
        plan.layouts(mode, urls),
        plan.var_for(mode),
        out,
        obs_columns=settings.obs_columns,
        storage_options=atlas_storage.storage_options,
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(out),
            "n_obs": result.n_obs,
            "n_vars": result.n_vars,
            "nnz": result.nnz,
            "dtype": str(result.dtype),
            "dtype_promoted": result.dtype_promoted,
            "cells_per_study": dg.MetadataValue.json(dict(result.cells_per_study)),
            "seconds": round(result.seconds, 2),
        }
    )


@dg.asset(
    group_name="atlas",
    kinds={"anndata"},
    deps=[harmonization_plan, study_features],
    automation_condition=GATED,
    tags={"idtrack/merge": "yes"},
)
def atlas_union(
    context: dg.AssetExecutionContext,
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.MaterializeResult:
    """All studies on the union of their features (missing genes are structural zeros), streamed to .h5ad."""
    return _merge(context, "union", study_registry, atlas_storage, atlas_settings)


@dg.asset(
    group_name="atlas",
    kinds={"anndata"},
    deps=[harmonization_plan, study_features],
    automation_condition=GATED,
    tags={"idtrack/merge": "yes"},
)
def atlas_intersect(
    context: dg.AssetExecutionContext,
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.MaterializeResult:
    """All studies on the features every study has, streamed to .h5ad."""
    return _merge(context, "intersect", study_registry, atlas_storage, atlas_settings)
