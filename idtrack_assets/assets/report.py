"""The harmonization report: Markdown summary, per-study rate plot and Great Expectations Data Docs."""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import versioned
from idtrack_assets.assets.atlas import study_thresholds
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.harmonize.gates import evaluate_studies
from idtrack_core.harmonize.plan import read_plan
from idtrack_core.report.bundle import REPORT_CODE_VERSION, report_files
from idtrack_core.versions import Handle, version_id


@dg.asset(
    group_name="report",
    kinds={"markdown", "html", "png"},
    io_manager_key="handle_io_manager",
    code_version=REPORT_CODE_VERSION,
    automation_condition=dg.AutomationCondition.eager(),
)
def harmonization_report(
    harmonization_plan: Handle,
    atlas_union: Handle,
    atlas_intersect: Handle,
    study_matchings: dict[str, pd.DataFrame],
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.Output[Handle]:
    """What changed, failed or is ambiguous per study, the gates, how it was resolved, and the atlas shapes."""
    opts = atlas_storage.storage_options
    plan, extra = read_plan(harmonization_plan.url, **opts)
    atlases = {h.slot.rsplit("/", 1)[-1]: h.manifest(**opts) for h in (atlas_union, atlas_intersect)}
    gates = evaluate_studies(study_matchings, study_thresholds(study_registry, atlas_settings, study_matchings))
    inputs = {
        "plan": harmonization_plan.version,
        "atlases": sorted(h.version for h in (atlas_union, atlas_intersect)),
        "matchings": {s: storage.frame_sha256(m) for s, m in sorted(study_matchings.items())},
    }
    shapes = {mode: (m["n_obs"], m["n_vars"]) for mode, m in atlases.items()}
    files = report_files(plan, extra["diagnostics"], shapes, study_matchings, gates)
    handle = atlas_storage.store.publish(
        "reports", version_id("harmonization_report", REPORT_CODE_VERSION, inputs), files
    )
    return versioned(
        handle,
        {
            "summary": dg.MetadataValue.md(files["summary.md"].decode()),
            "rates_png": dg.MetadataValue.path(handle.file("rates.png")),
            "data_docs": dg.MetadataValue.path(handle.file("data_docs/index.html")),
        },
    )
