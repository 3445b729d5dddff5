"""Sensors: new Ensembl releases at the source; new or changed studies in the registry."""

import json

import dagster as dg

from idtrack_assets.jobs import release_job, study_job
from idtrack_assets.partitions import releases_partitions, studies_partitions
from idtrack_assets.resources import EnsemblSourceResource, StudyRegistryResource
from idtrack_core.harmonize.registry import study_fingerprint


@dg.sensor(job=release_job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.RUNNING)
def ensembl_release_sensor(context: dg.SensorEvaluationContext, ensembl_source: EnsemblSourceResource):
    """Adds a partition for each release the source has and the platform does not, and extracts it."""
    dbs = ensembl_source.open().list_databases(ensembl_source.species, ensembl_source.assembly)
    known = set(context.instance.get_dynamic_partitions(releases_partitions.name))
    new = [str(db.release) for db in dbs if str(db.release) not in known]
    if not new:
        return dg.SkipReason(f"no new release ({len(known)} known)")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=r, run_key=f"release-{r}") for r in new],
        dynamic_partitions_requests=[releases_partitions.build_add_request(new)],
    )


@dg.sensor(job=study_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def study_registry_sensor(context: dg.SensorEvaluationContext, study_registry: StudyRegistryResource):
    """Adds partitions for new studies, matches new or changed ones, removes studies no longer registered.

    The cursor holds each study's fingerprint (file size and date or ETag)."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    studies = study_registry.studies()
    current = {name: study_fingerprint(e.url, study_registry.storage_options) for name, e in studies.items()}
    known = set(context.instance.get_dynamic_partitions(studies_partitions.name))
    added = sorted(set(current) - known)
    removed = sorted(known - set(current))
    changed = sorted(name for name, fp in current.items() if seen.get(name) != fp)
    requests = []
    if added:
        requests.append(studies_partitions.build_add_request(added))
    if removed:
        requests.append(studies_partitions.build_delete_request(removed))
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not changed and not requests:
        return dg.SkipReason(f"{len(current)} studies, none new or changed")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=s, run_key=f"{s}-{current[s]}") for s in changed],
        dynamic_partitions_requests=requests,
    )
