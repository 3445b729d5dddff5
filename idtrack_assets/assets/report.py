"""The harmonization report: Markdown summary, per-study rate plot, drill-downs and Great Expectations Data Docs."""

import base64

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import versioned
from idtrack_assets.assets.atlas import study_thresholds
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.harmonize.drilldown import drilldown_counts, drilldowns
from idtrack_core.harmonize.gates import evaluate_studies
from idtrack_core.harmonize.plan import read_plan
from idtrack_core.report.bundle import REPORT_CODE_VERSION, report_files
from idtrack_core.report.summary import summary_markdown
from idtrack_core.versions import Handle, version_id

MAX_TABLE_ROWS = 200
"""Rows of each drill-down shown in the UI; the report's CSV files hold them all."""


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
    image = "data:image/png;base64," + base64.b64encode(files["rates.png"]).decode()
    summary = summary_markdown(plan, extra["diagnostics"], shapes, gates, drilldown_counts(study_matchings), image)
    return versioned(
        handle,
        {
            "summary": dg.MetadataValue.md(summary),
            **_drilldown_metadata(study_matchings, handle),
            "data_docs": dg.MetadataValue.path(handle.file("data_docs/index.html")),
        },
    )


def _drilldown_metadata(study_matchings: dict[str, pd.DataFrame], handle: Handle) -> dict:
    """Per kind: the total, the first rows as a table, and where the per-study CSV files are."""
    metadata: dict = {}
    for kind, table in drilldowns(study_matchings).items():
        metadata[f"{kind}_features"] = len(table)
        metadata[kind] = dg.MetadataValue.table(
            records=[dg.TableRecord(row) for row in table.head(MAX_TABLE_ROWS).to_dict("records")],
            schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in table.columns]),
        )
    metadata["drilldown_files"] = dg.MetadataValue.path(handle.file("studies"))
    return metadata
