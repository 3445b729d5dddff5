"""Per-study assets: features read from the .h5ad (no X) and their matchings, gated by blocking checks."""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import preview, refused_as_failure
from idtrack_assets.partitions import studies_partitions
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.convert import ResolutionIndex
from idtrack_core.harmonize.gates import GATES, GateReport, evaluate_gates
from idtrack_core.harmonize.matchings import diagnose, match_features
from idtrack_core.harmonize.registry import study_file_identity
from idtrack_core.harmonize.schemas import matching_failures
from idtrack_core.harmonize.studyio import read_study_features
from idtrack_core.versions import Handle

MAX_LISTED = 50
GATE_CHECKS = [
    *(dg.AssetCheckSpec(gate, asset="study_matchings", blocking=True, description=f"gate {gate}") for gate in GATES),
    dg.AssetCheckSpec("matching_schema", asset="study_matchings", blocking=True, description="Pandera model"),
]


@dg.asset(
    partitions_def=studies_partitions,
    group_name="studies",
    io_manager_key="parquet_io_manager",
    kinds={"parquet", "anndata"},
    code_version="study-features-1",
)
def study_features(context: dg.AssetExecutionContext, study_registry: StudyRegistryResource) -> dg.Output[pd.DataFrame]:
    """The var table of a study's .h5ad (index = var names), read without loading X; ``attrs['file']`` holds the
    identity of the file that was read."""
    entry = study_registry.entry(context.partition_key)
    with refused_as_failure():
        identity = study_file_identity(entry.url, study_registry.storage_options)
        f = read_study_features(entry.url, study_registry.storage_options)
    var = f.var.astype({c: str for c in f.var.columns if f.var[c].dtype == object})
    var.attrs = {"study": entry.name, "file": identity}
    return dg.Output(
        var,
        data_version=dg.DataVersion(identity["fingerprint"]),
        metadata={
            "url": identity["url"],
            "n_obs": f.n_obs,
            "n_vars": f.n_vars,
            "x_format": f.x_format,
            "x_dtype": str(f.x_dtype),
            "fingerprint": identity["fingerprint"],
            "var_preview": preview(var),
        },
    )


@dg.asset(
    partitions_def=studies_partitions,
    group_name="studies",
    io_manager_key="parquet_io_manager",
    kinds={"parquet", "pandera"},
    code_version="study-matchings-1",
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=GATE_CHECKS,
)
def study_matchings(
    context: dg.AssetExecutionContext,
    study_features: pd.DataFrame,
    resolution_index: Handle,
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
):
    """Every feature of the study converted with the resolution index it is given, and the blocking quality gates."""
    study = context.partition_key
    index = ResolutionIndex.read(resolution_index.url, **atlas_storage.storage_options)
    entry = study_registry.entry(study)
    features = list(study_features.index.astype(str))
    with refused_as_failure():
        matching = match_features(features, index.lookup, entry.id_namespace, f"study {study!r} ({entry.url})")
    matching.attrs = {"study": study, "file": study_features.attrs["file"], "index_version": resolution_index.version}
    report = evaluate_gates(study, matching, atlas_settings.thresholds(entry))
    yield dg.Output(
        matching,
        data_version=dg.DataVersion(storage.frame_sha256(matching)[:20]),
        metadata={
            **{k: v for k, v in diagnose(study, matching).as_row().items() if k != "study"},
            "target": f"{index.target.final_database} @ {index.target.to_release}",
            "index_version": resolution_index.version,
            "not_one_to_one_preview": preview(
                matching.loc[matching["category"] != "1:1", ["feature", "category", "target_ids", "reason", "bridge"]],
                20,
            ),
        },
    )
    yield from gate_check_results(report)
    failures = matching_failures(matching)
    yield dg.AssetCheckResult(
        check_name="matching_schema",
        passed=failures is None,
        metadata={"failure_cases": preview(failures, 20) if failures is not None else "none"},
    )


def gate_check_results(report: GateReport) -> list[dg.AssetCheckResult]:
    """The blocking checks of one study: one per gate, with its value, limit and offending features."""
    return [
        dg.AssetCheckResult(
            check_name=r.gate,
            passed=r.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=r.message,
            metadata={
                "value": float(r.value),
                "limit": float(r.limit),
                "offending_features": len(r.offending),
                "offending_preview": dg.MetadataValue.md(
                    "\n".join(f"- `{n}`" for n in r.offending[:MAX_LISTED]) or "none"
                ),
            },
        )
        for r in report.results
    ]
