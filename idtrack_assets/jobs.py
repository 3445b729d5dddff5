"""Asset jobs: one per unit of work the sensors and the schedule launch (partitions come from the assets)."""

import dagster as dg

release_job = dg.define_asset_job("release_extract_job", selection=["ensembl_release_extract"])
# a study's features only: its matchings follow through declarative automation once the resolution index exists,
# so a study registered before the first index never starts a run that must fail
study_job = dg.define_asset_job("study_job", selection=["study_features"])
atlas_job = dg.define_asset_job(
    "atlas_job",
    selection=[
        "id_graph_snapshot",
        "resolution_index",
        "harmonization_plan",
        "atlas_union",
        "atlas_intersect",
        "harmonization_report",
    ],
    tags={"idtrack/merge": "yes"},  # one merge at a time (dagster.yaml tag_concurrency_limits)
)
