"""``idtrack-atlas demo``: materialize every asset on the embedded default and print what came out.

The runs go to the Dagster instance that ``dagster dev`` opens from the same folder: ``$DAGSTER_HOME`` when set,
else the current folder (with its ``dagster.yaml`` when there is one, as in the repository), so the UI shows the
demo's runs and materializations.
"""

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


def demo_instance_home() -> str:
    """The folder of the Dagster instance the demo writes to (``$DAGSTER_HOME``, else the current folder)."""
    return os.path.abspath(os.environ.get("DAGSTER_HOME") or os.getcwd())


def materialize_everything(resources: dict, instance: dg.DagsterInstance, log: TextIO = sys.stderr) -> bool:
    """Materialize every asset in dependency order, in-process, with ``resources`` into ``instance``: one run per
    release extract and per study, then the graph, then the plan, atlases and report. Returns whether every run
    succeeded (the first failure stops; its run is in the instance)."""
    source, registry = resources["ensembl_source"], resources["study_registry"]
    releases = [str(db.release) for db in source.open().list_databases(source.species, source.assembly)]
    studies = sorted(registry.studies())
    instance.add_dynamic_partitions(releases_partitions.name, releases)
    instance.add_dynamic_partitions(studies_partitions.name, studies)
    partitions = {0: releases, 2: studies}
    for stage, names in enumerate(STAGES):
        for key in partitions.get(stage, [None]):
            print(f"materializing {', '.join(names)}{f' [{key}]' if key else ''}", file=log)
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
                print(f"{', '.join(names)} {key or ''} failed; see the runs in the UI", file=log)
                return False
    return True


def run_demo(home: str, out: TextIO = sys.stdout, instance_home: str | None = None) -> int:
    """Materialize the whole lineage in-process on the demo data under ``home`` into the Dagster instance at
    ``instance_home`` (default :func:`demo_instance_home`); print the diagnostics table and the atlas shapes.
    Returns the exit code."""
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDTRACK_")}
    resources = build_definitions(resources_from_env({**env, "IDTRACK_HOME": home})).resources
    instance_home = instance_home or demo_instance_home()
    with dg.DagsterInstance.from_config(instance_home) as instance:
        if not materialize_everything(resources, instance):
            return 1
    _print_results(resources["atlas_storage"], out)
    print(f"({time.perf_counter() - started:.0f} s) open the UI: DAGSTER_HOME={instance_home} dagster dev", file=out)
    return 0


def _print_results(atlas_storage, out: TextIO) -> None:
    """The diagnostics table, the atlas shapes and where the report is, from the current versions."""
    store, opts = atlas_storage.store, atlas_storage.storage_options
    _, extra = read_plan(store.pointer("harmonization_plan").url, **opts)
    print(extra["diagnostics"].to_string(), file=out)
    for mode in ("union", "intersect"):
        handle = store.pointer(f"atlas_{mode}")
        m = handle.manifest(**opts)
        print(
            f"atlas_{mode}: {m['n_obs']:,} cells × {m['n_vars']:,} features → {handle.file(m['file']['name'])}",
            file=out,
        )
    print(f"report: {store.pointer('harmonization_report').file('summary.md')}", file=out)
