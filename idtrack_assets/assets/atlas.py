"""The harmonization plan across studies and the merged atlases (DESIGN §6–7).

The plan admits only studies that pass their quality gates; each atlas re-checks, before writing, that every study
it includes was planned from the matching (and file) that currently passes its gates, so a failing study never
reaches an atlas by any path. Plan and atlases are immutable versions; each atlas carries its provenance. The atlases
are graph-backed assets whose steps (:mod:`idtrack_assets.assets.atlas_steps`) write a Zarr atlas one block per
study, in parallel on executors that spread steps over workers.
"""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import preview, refused_as_failure, versioned
from idtrack_assets.assets.atlas_steps import atlas_graph, study_thresholds
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core.convert import ResolutionIndex
from idtrack_core.harmonize.admission import check_matched_with
from idtrack_core.harmonize.merge import ATLAS_CODE_VERSION
from idtrack_core.harmonize.pipeline import AtlasPlan, make_plan
from idtrack_core.harmonize.plan import PLAN_CODE_VERSION
from idtrack_core.versions import Handle

__all__ = ["atlas_intersect", "atlas_union", "harmonization_plan", "study_thresholds"]

GATED = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


@dg.asset(
    group_name="atlas",
    kinds={"parquet"},
    io_manager_key="handle_io_manager",
    code_version=PLAN_CODE_VERSION,
    automation_condition=GATED,
)
def harmonization_plan(
    study_matchings: dict[str, pd.DataFrame],
    resolution_index: Handle,
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.Output[Handle]:
    """Policies, identifier sets, the atlas var table and the presence matrix of the studies that pass their
    gates (refused when one does not), with each study's file, matching hash and gate results recorded."""
    index = ResolutionIndex.read(resolution_index.url, **atlas_storage.storage_options)
    files = {s: m.attrs["file"] for s, m in study_matchings.items()}
    limits = study_thresholds(study_registry, atlas_settings, study_matchings)
    with refused_as_failure():
        check_matched_with(study_matchings, resolution_index.version)
        plan = make_plan(study_matchings, index, files, atlas_settings.policy(), limits, atlas_settings.thresholds())
    handle = atlas_storage.store.publish("plans", plan.version, plan.files())
    return versioned(handle, _plan_metadata(plan))


def _plan_metadata(atlas_plan: AtlasPlan) -> dict:
    plan = atlas_plan.plan
    return {
        "studies": ", ".join(s for s in plan.studies if s not in plan.excluded_studies),
        "excluded_studies": dg.MetadataValue.json(plan.excluded_studies),
        "union_features": len(plan.var),
        "intersect_features": int(plan.var["intersection"].sum()),
        "policy": dg.MetadataValue.json(plan.policy.describe()),
        "conversion_failed_but_consistent_identifiers": len(plan.conversion_failed_but_consistent_identifiers),
        "multiple_ensembl": len(plan.multiple_ensembl),
        "n_to_one_groups": len(plan.n_to_one),
        "diagnostics": preview(atlas_plan.diagnostics, 50),
        "var_preview": preview(plan.var),
    }


ATLAS_ASSET = {
    "group_name": "atlas",
    "kinds": {"anndata", "zarr"},
    "code_version": ATLAS_CODE_VERSION,
    "automation_condition": GATED,
    "tags": {"idtrack/merge": "yes"},
}

atlas_union = atlas_graph(
    "union",
    "All planned studies on the union of their features (missing genes are structural zeros): an .h5ad streamed "
    "study by study, or a Zarr store written one block per study.",
    **ATLAS_ASSET,
)
atlas_intersect = atlas_graph(
    "intersect",
    "All planned studies on the features every study has: an .h5ad streamed study by study, or a Zarr store written "
    "one block per study.",
    **ATLAS_ASSET,
)
