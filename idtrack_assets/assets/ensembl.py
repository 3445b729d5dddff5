"""Ensembl release extracts: one partition per release, normalized to Parquet (DESIGN §3)."""

import dagster as dg
import pandera.pandas as pa

from idtrack_assets.assets._common import preview, versioned
from idtrack_assets.partitions import releases_partitions
from idtrack_assets.resources import AtlasStorage, EnsemblSourceResource
from idtrack_core.ensembl import ReleaseExtract, find_database, read_extract
from idtrack_core.ensembl.schemas import EXTRACT_SCHEMAS
from idtrack_core.formats import EXTRACT_CODE_VERSION


@dg.asset(
    partitions_def=releases_partitions,
    group_name="ensembl",
    kinds={"parquet"},
    io_manager_key="handle_io_manager",
    code_version=EXTRACT_CODE_VERSION,
    check_specs=[dg.AssetCheckSpec("extract_schema", asset="ensembl_release_extract", description="Pandera models")],
)
def ensembl_release_extract(
    context: dg.AssetExecutionContext, ensembl_source: EnsemblSourceResource, atlas_storage: AtlasStorage
):
    """One Ensembl release of the species, read from the source and normalized into Parquet tables (a new
    version only when the source database changed)."""
    source = ensembl_source.open()
    db = find_database(source, ensembl_source.species, ensembl_source.assembly, int(context.partition_key))
    handle = atlas_storage.workspace(ensembl_source.species, ensembl_source.assembly).extract(source, db)
    extract = read_extract(handle.url, verify=True, **atlas_storage.storage_options)
    yield versioned(handle, _metadata(extract))
    yield _schema_check(extract)


def _metadata(extract: ReleaseExtract) -> dict:
    m = extract.manifest
    return {
        "database": extract.database,
        "source": m["source"],
        "ensembl_schema_version": str(m.get("ensembl_schema_version")),
        **{f"rows_{name}": info["rows"] for name, info in m["tables"].items()},
        "absent_source_tables": ", ".join(m["absent_source_tables"]) or "none",
        "genes_preview": preview(extract.tables["genes"]),
    }


def _schema_check(extract: ReleaseExtract) -> dg.AssetCheckResult:
    failures = {}
    for name, model in EXTRACT_SCHEMAS.items():
        try:
            model.validate(extract.tables[name], lazy=True)
        except pa.errors.SchemaErrors as exc:
            failures[name] = str(exc)[:2000]
    return dg.AssetCheckResult(
        check_name="extract_schema",
        passed=not failures,
        metadata={"tables": len(EXTRACT_SCHEMAS), "failures": dg.MetadataValue.json(failures)},
    )
