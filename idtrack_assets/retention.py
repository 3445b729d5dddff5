"""``idtrack-atlas retain``: remove old versions of the platform's artifacts, never what is current or in use.

A version stays when a ``latest`` pointer names it, when a run that has not ended leased it (Dagster's runs that are
queued, starting, started or canceling, read from the instance), when it is among the newest ``--keep`` of its slot,
or when it is younger than ``--min-age-hours``. The scratch of runs that ended (``runs/{run_id}``, values passed
between the steps of one run) goes too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter

import dagster as dg

from idtrack_assets.demo import demo_instance_home
from idtrack_assets.resources import resources_from_env

log = logging.getLogger(__name__)
ACTIVE = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def active_run_ids(instance_home: str) -> set[str]:
    """The ids of the runs of the Dagster instance at ``instance_home`` that have not ended."""
    with dg.DagsterInstance.from_config(instance_home) as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(statuses=list(ACTIVE)))
        return {r.dagster_run.run_id for r in records}


def cmd_retain(args: argparse.Namespace) -> int:
    """Plan the removal, print it, and apply it unless ``--dry-run``."""
    store = resources_from_env()["atlas_storage"].store
    active = active_run_ids(demo_instance_home())
    plan = store.plan_retention(keep=args.keep, min_age_s=args.min_age_hours * 3600, active_holders=active)
    verb = "would remove" if args.dry_run else "remove"
    for v in plan.remove:
        print(f"{verb}\t{v.slot}\t{v.version}\t{v.url}")
    for url in plan.temporaries:
        print(f"{verb}\ttemporary\t-\t{url}")
    for url in plan.run_scratch:
        print(f"{verb}\trun scratch\t-\t{url}")
    reasons = Counter(reason for _, reason in plan.kept)
    kept = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
    print(f"{len(plan.remove)} version(s) to remove; kept: {kept}; {len(active)} run(s) in progress", file=sys.stderr)
    if not args.dry_run:
        store.apply_retention(plan)
    return 0
