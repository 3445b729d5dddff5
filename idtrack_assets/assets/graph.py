"""The identifier graph snapshot and the resolution index of the conversion target (DESIGN §4–5)."""

import time

import dagster as dg

from idtrack_assets.assets._common import latest_path
from idtrack_assets.assets.ensembl import ensembl_release_extract
from idtrack_assets.partitions import releases_partitions
from idtrack_assets.resources import AtlasSettings, AtlasStorage, EnsemblSourceResource
from idtrack_core import storage
from idtrack_core.graph.store import read_snapshot_manifest


def known_releases(context: dg.AssetExecutionContext) -> list[int]:
    releases = sorted(int(k) for k in context.instance.get_dynamic_partitions(releases_partitions.name))
    if not releases:
        raise dg.Failure("no Ensembl release partitions yet: let the ensembl_release_sensor run first")
    return releases


@dg.asset(
    deps=[ensembl_release_extract],
    group_name="graph",
    kinds={"parquet", "networkx"},
    automation_condition=dg.AutomationCondition.eager(),
)
def id_graph_snapshot(
    context: dg.AssetExecutionContext, ensembl_source: EnsemblSourceResource, atlas_storage: AtlasStorage
) -> dg.MaterializeResult:
    """The identifier graph built from every release extract; rebuilt only when an extract changed."""
    ws = atlas_storage.workspace(ensembl_source.species, ensembl_source.assembly)
    releases = known_releases(context)
    urls = [ws.extract_url(r) for r in releases]
    missing = [
        r
        for r, u in zip(releases, urls, strict=True)
        if not storage.exists(storage.join(u, storage.MANIFEST), **atlas_storage.storage_options)
    ]
    if missing:
        raise dg.Failure(f"release extract(s) {missing} not materialized yet")
    started = time.perf_counter()
    url, _ = ws.ensure_snapshot(urls, load=False)
    manifest = read_snapshot_manifest(url, **atlas_storage.storage_options)
    size = sum(info["rows"] for info in manifest["tables"].values())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(url),
            "releases": ", ".join(str(r) for r in releases),
            "content_sha256": manifest["content_sha256"],
            **{f"rows_{name}": info["rows"] for name, info in manifest["tables"].items()},
            "rows_total": size,
            "seconds": round(time.perf_counter() - started, 2),
        },
        data_version=dg.DataVersion(manifest["content_sha256"]),
    )


@dg.asset(
    deps=[id_graph_snapshot], group_name="graph", kinds={"parquet"}, automation_condition=dg.AutomationCondition.eager()
)
def resolution_index(
    context: dg.AssetExecutionContext,
    ensembl_source: EnsemblSourceResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.MaterializeResult:
    """Every name the snapshot knows, resolved to the configured target release and database."""
    ws = atlas_storage.workspace(ensembl_source.species, ensembl_source.assembly)
    snapshot_url = latest_path(context, "id_graph_snapshot")
    manifest = read_snapshot_manifest(snapshot_url, **atlas_storage.storage_options)
    releases = [r["release"] for r in manifest["releases"]]
    target = atlas_settings.target(releases)
    started = time.perf_counter()
    index = ws.ensure_index(snapshot_url, target)
    t = index.target
    url = ws.index_url(manifest["content_sha256"], t)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(url),
            "to_release": t.to_release,
            "final_database": t.final_database,
            "strategy": t.strategy,
            "names": index.manifest["rows"]["exact"],
            **{f"names_{k.replace(':', 'to')}": v for k, v in index.manifest["categories"].items()},
            "seconds": round(time.perf_counter() - started, 2),
        },
        data_version=dg.DataVersion(f"{manifest['content_sha256'][:16]}/{t.key}"),
    )
