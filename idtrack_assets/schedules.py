"""The periodic atlas refresh."""

import dagster as dg

from idtrack_assets.jobs import atlas_job
from idtrack_assets.partitions import releases_partitions, studies_partitions


@dg.schedule(
    job=atlas_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def weekly_atlas_refresh(context: dg.ScheduleEvaluationContext):
    """Every Monday 03:00 UTC: rebuild the snapshot, index, plan, atlases and report (each reuses its version when
    its inputs did not change). Skipped until every release is extracted. Study matchings follow their index
    through declarative automation; a schedule cannot enumerate dynamic partitions itself, so per-study runs come
    from the registry sensor."""
    if not context.instance.get_dynamic_partitions(studies_partitions.name):
        return dg.SkipReason("no studies registered yet")
    releases = set(context.instance.get_dynamic_partitions(releases_partitions.name))
    extracted = context.instance.get_materialized_partitions(dg.AssetKey("ensembl_release_extract"))
    if not releases or not releases <= set(extracted):
        return dg.SkipReason(f"release extracts missing: {sorted(releases - set(extracted)) or 'none known'}")
    return dg.RunRequest(run_key=None, tags={"idtrack/trigger": "weekly_atlas_refresh"})
