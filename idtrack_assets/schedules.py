"""The periodic atlas refresh."""

import dagster as dg

from idtrack_assets.jobs import atlas_job
from idtrack_assets.partitions import studies_partitions


@dg.schedule(
    job=atlas_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def weekly_atlas_refresh(context: dg.ScheduleEvaluationContext):
    """Every Monday 03:00 UTC: rebuild the snapshot, index, plan, atlases and report (each a no-op when its
    inputs did not change). Study matchings follow their index through declarative automation; a schedule
    cannot enumerate dynamic partitions itself, so per-study runs come from the registry sensor."""
    studies = context.instance.get_dynamic_partitions(studies_partitions.name)
    if not studies:
        return dg.SkipReason("no studies registered yet")
    return dg.RunRequest(run_key=None, tags={"idtrack/trigger": "weekly_atlas_refresh"})
