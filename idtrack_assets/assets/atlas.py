"""The harmonization plan across studies and the merged atlases (DESIGN §6–7).

The plan admits only studies that pass their quality gates; each atlas re-checks, before writing, that every study
it includes was planned from the matching (and file) that currently passes its gates, so a failing study never
reaches an atlas by any path. Plan and atlases are immutable versions; each atlas carries its provenance.
"""

from collections.abc import Mapping

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import preview, refused_as_failure, versioned
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.convert import ResolutionIndex
from idtrack_core.harmonize.admission import check_matched_with, check_plan_current
from idtrack_core.harmonize.gates import Thresholds
from idtrack_core.harmonize.merge import ATLAS_CODE_VERSION
from idtrack_core.harmonize.pipeline import AtlasPlan, atlas_version, make_plan, write_atlas
from idtrack_core.harmonize.plan import PLAN_CODE_VERSION, Mode, read_plan
from idtrack_core.harmonize.registry import study_file_identity
from idtrack_core.versions import Handle

GATED = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def study_thresholds(
    registry: StudyRegistryResource, settings: AtlasSettings, studies: Mapping[str, object]
) -> dict[str, Thresholds]:
    """Each study's gate limits: the settings', with the registry's per-study overrides."""
    entries = registry.studies()
    return {s: settings.thresholds(entries.get(s)) for s in studies}


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


def _atlas(
    mode: Mode,
    plan_handle: Handle,
    study_matchings: dict[str, pd.DataFrame],
    registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    settings: AtlasSettings,
) -> dg.Output[Handle]:
    """Check that the plan still holds for every study, then write (or reuse) the atlas version."""
    opts = atlas_storage.storage_options
    plan, _ = read_plan(plan_handle.url, **opts)
    record = plan_handle.manifest(**opts)["provenance"]
    urls = {s: registry.entry(s).url for s in record["studies"]}
    files = {s: study_file_identity(url, registry.storage_options) for s, url in urls.items()}
    with refused_as_failure():
        limits = study_thresholds(registry, settings, study_matchings)
        check_plan_current(record["studies"], plan.excluded_studies, study_matchings, limits, files)

    def write(url: str) -> dict:
        out = storage.join(url, f"{mode}.h5ad")
        result, provenance = write_atlas(plan, record, mode, urls, out, settings.obs_columns, opts, settings.var_names)
        shape = {"n_obs": result.n_obs, "n_vars": result.n_vars, "nnz": result.nnz, "dtype": str(result.dtype)}
        cells = dict(result.cells_per_study)
        file = {"name": f"{mode}.h5ad", "sha256": storage.file_sha256(out, **opts)}
        return {"format_version": 1, "file": file, **shape, "cells_per_study": cells, "provenance": provenance}

    version = atlas_version(record["plan"]["version"], mode, settings.obs_columns, settings.var_names)
    handle = atlas_storage.store.build(f"atlases/{mode}", version, write)
    m = handle.manifest(**opts)
    return versioned(
        handle,
        {
            "atlas": dg.MetadataValue.path(handle.file(m["file"]["name"])),
            **{k: m[k] for k in ("n_obs", "n_vars", "nnz", "dtype")},
            "cells_per_study": dg.MetadataValue.json(m["cells_per_study"]),
            "provenance": dg.MetadataValue.json(m["provenance"]),
        },
    )


ATLAS_ASSET = {
    "group_name": "atlas",
    "kinds": {"anndata"},
    "io_manager_key": "handle_io_manager",
    "code_version": ATLAS_CODE_VERSION,
    "automation_condition": GATED,
    "tags": {"idtrack/merge": "yes"},
}


@dg.asset(**ATLAS_ASSET)
def atlas_union(
    harmonization_plan: Handle,
    study_matchings: dict[str, pd.DataFrame],
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.Output[Handle]:
    """All planned studies on the union of their features (missing genes are structural zeros), streamed to .h5ad."""
    return _atlas("union", harmonization_plan, study_matchings, study_registry, atlas_storage, atlas_settings)


@dg.asset(**ATLAS_ASSET)
def atlas_intersect(
    harmonization_plan: Handle,
    study_matchings: dict[str, pd.DataFrame],
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.Output[Handle]:
    """All planned studies on the features every study has, streamed to .h5ad."""
    return _atlas("intersect", harmonization_plan, study_matchings, study_registry, atlas_storage, atlas_settings)
