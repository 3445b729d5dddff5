"""Assembles the Dagster definitions of idtrack-atlas (resources come from the environment)."""

from __future__ import annotations

import dagster as dg

from idtrack_assets.assets.atlas import atlas_intersect, atlas_union, harmonization_plan
from idtrack_assets.assets.ensembl import ensembl_release_extract
from idtrack_assets.assets.graph import id_graph_snapshot, resolution_index
from idtrack_assets.assets.report import harmonization_report
from idtrack_assets.assets.studies import study_features, study_matchings
from idtrack_assets.executors import executor_from_env
from idtrack_assets.io_managers import HandleIOManager, ParquetIOManager, StepIOManager
from idtrack_assets.jobs import atlas_job, release_job, study_job
from idtrack_assets.resources import resources_from_env
from idtrack_assets.schedules import weekly_atlas_refresh
from idtrack_assets.sensors import ensembl_release_sensor, study_registry_sensor

ASSETS = [
    ensembl_release_extract,
    id_graph_snapshot,
    resolution_index,
    study_features,
    study_matchings,
    harmonization_plan,
    atlas_union,
    atlas_intersect,
    harmonization_report,
]


# Declarative automation (eager, gated by blocking checks) runs by default, so a new release or study flows on.
atlas_automation = dg.AutomationConditionSensorDefinition(
    "atlas_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING
)


def build_definitions(resources: dict | None = None, executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The definitions with the given resources and executor (default: this deployment's, from the environment:
    :func:`~idtrack_assets.resources.resources_from_env`, :func:`~idtrack_assets.executors.executor_from_env`)."""
    resources = dict(resources or resources_from_env())
    resources["parquet_io_manager"] = ParquetIOManager(atlas_storage=resources["atlas_storage"])
    resources["handle_io_manager"] = HandleIOManager(atlas_storage=resources["atlas_storage"])
    resources["io_manager"] = StepIOManager(atlas_storage=resources["atlas_storage"])  # values between steps
    return dg.Definitions(
        executor=executor or executor_from_env(),
        assets=ASSETS,
        jobs=[release_job, study_job, atlas_job],
        sensors=[ensembl_release_sensor, study_registry_sensor, atlas_automation],
        schedules=[weekly_atlas_refresh],
        resources=resources,
    )


defs = build_definitions()
