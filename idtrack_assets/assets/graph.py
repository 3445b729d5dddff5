"""The identifier graph snapshot and the resolution index of the conversion target (DESIGN §4–5)."""

import dagster as dg

from idtrack_assets.assets._common import versioned
from idtrack_assets.resources import AtlasSettings, AtlasStorage, EnsemblSourceResource
from idtrack_core.formats import INDEX_CODE_VERSION, SNAPSHOT_CODE_VERSION
from idtrack_core.versions import Handle

EAGER = dg.AutomationCondition.eager()


@dg.asset(
    group_name="graph",
    kinds={"parquet", "networkx"},
    io_manager_key="handle_io_manager",
    code_version=SNAPSHOT_CODE_VERSION,
    automation_condition=EAGER,
)
def id_graph_snapshot(
    ensembl_release_extract: dict[str, Handle], ensembl_source: EnsemblSourceResource, atlas_storage: AtlasStorage
) -> dg.Output[Handle]:
    """The identifier graph built from every release extract (a new version only when an extract changed)."""
    ws = atlas_storage.workspace(ensembl_source.species, ensembl_source.assembly)
    handle = ws.snapshot([ensembl_release_extract[r] for r in sorted(ensembl_release_extract, key=int)])
    manifest = handle.manifest(**atlas_storage.storage_options)
    return versioned(
        handle,
        {
            "releases": ", ".join(str(r["release"]) for r in manifest["releases"]),
            "content_sha256": manifest["content_sha256"],
            **{f"rows_{name}": info["rows"] for name, info in manifest["tables"].items()},
        },
    )


@dg.asset(
    group_name="graph",
    kinds={"parquet"},
    io_manager_key="handle_io_manager",
    code_version=INDEX_CODE_VERSION,
    automation_condition=EAGER,
)
def resolution_index(
    id_graph_snapshot: Handle,
    ensembl_source: EnsemblSourceResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
) -> dg.Output[Handle]:
    """Every name the snapshot knows, resolved to the configured target release ("latest" resolved here) and
    database."""
    ws = atlas_storage.workspace(ensembl_source.species, ensembl_source.assembly)
    handle = ws.index(id_graph_snapshot, atlas_settings.target())
    m = handle.manifest(**atlas_storage.storage_options)
    return versioned(
        handle,
        {
            "to_release": m["to_release"],
            "final_database": m["final_database"],
            "strategy": m["strategy"],
            "names": m["rows"]["exact"],
            **{f"names_{k.replace(':', 'to')}": v for k, v in m["categories"].items()},
        },
    )
