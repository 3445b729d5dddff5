"""``idtrack-atlas demo``: materialize every asset on the embedded default and print what came out."""

import os
import sys
import time
from typing import TextIO

import dagster as dg

from idtrack_assets.definitions import ASSETS, build_definitions
from idtrack_assets.partitions import releases_partitions, studies_partitions
from idtrack_assets.resources import resources_from_env
from idtrack_core.harmonize.plan import read_plan

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # errors still show
STAGES = (
    ("ensembl_release_extract",),
    ("id_graph_snapshot", "resolution_index"),
    ("study_features", "study_matchings"),
    ("harmonization_plan", "atlas_union", "atlas_intersect", "harmonization_report"),
)


def run_demo(home: str, out: TextIO = sys.stdout) -> int:
    """Materialize the whole lineage in-process on the demo data under ``home``; print the diagnostics table
    and the atlas shapes. Run history goes to ``{home}/dagster`` (open it with ``DAGSTER_HOME``)."""
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDTRACK_")}
    resources = build_definitions(resources_from_env({**env, "IDTRACK_HOME": home})).resources
    dagster_home = os.path.join(os.path.abspath(home), "dagster")
    os.makedirs(dagster_home, exist_ok=True)
    with dg.DagsterInstance.local_temp(dagster_home) as instance:
        source, registry = resources["ensembl_source"], resources["study_registry"]
        releases = [str(db.release) for db in source.open().list_databases(source.species, source.assembly)]
        studies = sorted(registry.studies())
        instance.add_dynamic_partitions(releases_partitions.name, releases)
        instance.add_dynamic_partitions(studies_partitions.name, studies)
        partitions = {0: releases, 2: studies}
        for stage, names in enumerate(STAGES):
            for key in partitions.get(stage, [None]):
                print(f"materializing {', '.join(names)}{f' [{key}]' if key else ''}", file=sys.stderr)
                result = dg.materialize(
                    ASSETS,
                    selection=list(names),
                    instance=instance,
                    partition_key=key,
                    resources=resources,
                    raise_on_error=False,
                    run_config=QUIET,
                )
                if not result.success:
                    print(f"demo: {', '.join(names)} {key or ''} failed; runs are in {dagster_home}", file=sys.stderr)
                    return 1
        shapes = {}
        for mode in ("union", "intersect"):
            event = instance.get_latest_materialization_event(dg.AssetKey(f"atlas_{mode}"))
            meta = event.asset_materialization.metadata
            shapes[mode] = (meta["n_obs"].value, meta["n_vars"].value, meta["path"].value)
    storage = resources["atlas_storage"]
    _, extra = read_plan(storage.url("plan"), **storage.storage_options)
    print(extra["diagnostics"].to_string(), file=out)
    for mode, (n_obs, n_vars, path) in shapes.items():
        print(f"atlas_{mode}: {n_obs:,} cells × {n_vars:,} features → {path}", file=out)
    print(f"report: {storage.url('report', 'summary.md')}   ({time.perf_counter() - started:.0f} s)", file=out)
    return 0
