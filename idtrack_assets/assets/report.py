"""The harmonization report: Markdown summary, per-study rate plot and Great Expectations Data Docs."""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import latest_path
from idtrack_assets.assets.atlas import atlas_intersect, atlas_union, harmonization_plan
from idtrack_assets.assets.studies import registered
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.harmonize.plan import read_plan
from idtrack_core.report.plot import rates_png
from idtrack_core.report.summary import summary_markdown


def _shape(context: dg.AssetExecutionContext, asset: str) -> tuple[int, int]:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return int(meta["n_obs"].value), int(meta["n_vars"].value)


@dg.asset(
    group_name="report",
    kinds={"markdown", "html", "png"},
    deps=[harmonization_plan, atlas_union, atlas_intersect],
    automation_condition=dg.AutomationCondition.eager(),
)
def harmonization_report(
    context: dg.AssetExecutionContext,
    study_matchings: dict[str, pd.DataFrame],
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.MaterializeResult:
    """What changed, failed or is ambiguous per study, how it was resolved, and the atlas shapes."""
    from idtrack_core.report.data_docs import render_data_docs

    plan, extra = read_plan(latest_path(context, "harmonization_plan"), **atlas_storage.storage_options)
    diagnostics = extra["diagnostics"]
    shapes = {mode: _shape(context, f"atlas_{mode}") for mode in ("union", "intersect")}
    markdown = summary_markdown(plan, diagnostics, shapes)
    png = rates_png(diagnostics)
    url = atlas_storage.url("report")
    gates = {s: atlas_settings.thresholds(registered(study_registry, s)) for s in study_matchings}
    docs = render_data_docs(dict(sorted(study_matchings.items())), gates)
    files = {
        "summary.md": markdown.encode(),
        "rates.png": png,
        "diagnostics.csv": diagnostics.to_csv().encode(),
        **{f"data_docs/{name}": data for name, data in docs.items()},
        storage.MANIFEST: storage.json_bytes(
            {"files": sorted(["summary.md", "rates.png", "diagnostics.csv", *(f"data_docs/{n}" for n in docs)])}
        ),
    }
    storage.publish_dir(url, files, **atlas_storage.storage_options)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(url),
            "summary": dg.MetadataValue.md(markdown),
            "rates_png": dg.MetadataValue.path(storage.join(url, "rates.png")),
            "data_docs": dg.MetadataValue.path(storage.join(url, "data_docs", "index.html")),
        }
    )
