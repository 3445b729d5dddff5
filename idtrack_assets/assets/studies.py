"""Per-study assets: features read from the .h5ad (no X) and their matchings, gated by blocking checks."""

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import latest_path, preview
from idtrack_assets.assets.graph import resolution_index
from idtrack_assets.partitions import studies_partitions
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core.convert import ResolutionIndex
from idtrack_core.harmonize.matchings import Thresholds, diagnose, match_features
from idtrack_core.harmonize.registry import StudyEntry, study_fingerprint
from idtrack_core.harmonize.schemas import matching_failures
from idtrack_core.harmonize.studyio import read_study_features

GATES = ("max_failure_rate", "max_ambiguity_rate", "max_collisions")
MAX_LISTED = 50


def registered(registry: StudyRegistryResource, study: str) -> StudyEntry:
    studies = registry.studies()
    if study not in studies:
        raise dg.Failure(f"study {study!r} is not in the registry any more (known: {', '.join(sorted(studies))})")
    return studies[study]


@dg.asset(
    partitions_def=studies_partitions,
    group_name="studies",
    io_manager_key="parquet_io_manager",
    kinds={"parquet", "anndata"},
)
def study_features(context: dg.AssetExecutionContext, study_registry: StudyRegistryResource) -> dg.Output[pd.DataFrame]:
    """The var table of a study's .h5ad (index = var names), read without loading X."""
    entry = registered(study_registry, context.partition_key)
    f = read_study_features(entry.url, study_registry.storage_options)
    var = f.var.copy()
    for col in var.columns:
        if var[col].dtype == object:
            var[col] = var[col].astype(str)
    return dg.Output(
        var,
        metadata={
            "url": entry.url,
            "n_obs": f.n_obs,
            "n_vars": f.n_vars,
            "x_format": f.x_format,
            "x_dtype": str(f.x_dtype),
            "fingerprint": study_fingerprint(entry.url, study_registry.storage_options),
            "var_preview": preview(var),
        },
    )


def gate_results(matching: pd.DataFrame, thresholds: Thresholds, study: str) -> list[dg.AssetCheckResult]:
    """The three blocking gates, each with the offending features in its metadata."""
    d = diagnose(study, matching)
    offending = {
        "max_failure_rate": matching.loc[matching["category"] == "1:0", "feature"],
        "max_ambiguity_rate": matching.loc[matching["category"] == "1:n", "feature"],
        "max_collisions": matching.loc[matching["collision"], "feature"],
    }
    values = {
        "max_failure_rate": d.failure_rate,
        "max_ambiguity_rate": d.ambiguity_rate,
        "max_collisions": d.collisions,
    }
    results = []
    for gate in GATES:
        limit = getattr(thresholds, gate)
        names = sorted(offending[gate].astype(str))
        results.append(
            dg.AssetCheckResult(
                check_name=gate,
                passed=bool(values[gate] <= limit),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "value": float(values[gate]),
                    "limit": float(limit),
                    "offending_features": len(names),
                    "offending_preview": dg.MetadataValue.md(
                        "\n".join(f"- `{n}`" for n in names[:MAX_LISTED]) or "none"
                    ),
                },
            )
        )
    return results


@dg.asset(
    partitions_def=studies_partitions,
    group_name="studies",
    io_manager_key="parquet_io_manager",
    kinds={"parquet", "pandera"},
    deps=[resolution_index],
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        *(
            dg.AssetCheckSpec(gate, asset="study_matchings", blocking=True, description=f"matching {gate}")
            for gate in GATES
        ),
        dg.AssetCheckSpec("matching_schema", asset="study_matchings", blocking=True, description="Pandera model"),
    ],
)
def study_matchings(
    context: dg.AssetExecutionContext,
    study_features: pd.DataFrame,
    study_registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    atlas_settings: AtlasSettings,
):
    """Every feature of the study converted to the target release and database, with diagnostics."""
    study = context.partition_key
    index = ResolutionIndex.read(latest_path(context, "resolution_index"), **atlas_storage.storage_options)
    matching = match_features(list(study_features.index.astype(str)), index.lookup)
    d = diagnose(study, matching)
    failed = matching[matching["category"] != "1:1"]
    yield dg.Output(
        matching,
        metadata={
            **{k: v for k, v in d.as_row().items() if k != "study"},
            "target": f"{index.target.final_database} @ {index.target.to_release}",
            "not_one_to_one_preview": preview(failed[["feature", "category", "target_ids", "reason", "bridge"]], 20),
        },
    )
    yield from gate_results(matching, atlas_settings.thresholds(registered(study_registry, study)), study)
    failures = matching_failures(matching)
    yield dg.AssetCheckResult(
        check_name="matching_schema",
        passed=failures is None,
        metadata={"failure_cases": preview(failures, 20) if failures is not None else "none"},
    )
