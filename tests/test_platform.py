"""The Dagster platform driven as a user would: materialize(), blocking checks, automation, sensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import anndata as ad
import dagster as dg
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from idtrack_assets.definitions import ASSETS, build_definitions, defs
from idtrack_assets.partitions import releases_partitions, studies_partitions
from idtrack_assets.resources import resources_from_env
from idtrack_assets.sensors import ensembl_release_sensor, study_registry_sensor
from idtrack_core.demo_data import ensure_demo
from idtrack_core.harmonize.plan import read_plan

pytestmark = pytest.mark.slow
GATED = ["harmonization_plan", "atlas_union", "atlas_intersect"]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    ensure_demo(str(home), genes=600, releases=(1, 4))
    return home


def with_bad_study(home: Path, tmp: Path, max_failure_rate: float | None = None) -> Path:
    """A registry with the demo studies plus ``mostly_junk`` (80 % junk names)."""
    registry = yaml.safe_load((home / "demo" / "studies.yaml").read_text())
    studies = {name: {"path": str(home / "demo" / spec["path"])} for name, spec in registry["studies"].items()}
    real = list(ad.read_h5ad(home / "demo" / "ids_r2.h5ad", backed="r").var_names[:20])
    names = real + [f"junk_{i}" for i in range(80)]
    x = sp.random(40, len(names), density=0.2, format="csr", random_state=0, dtype=np.float32)
    bad = ad.AnnData(X=x, obs=pd.DataFrame(index=[f"c{i}" for i in range(40)]), var=pd.DataFrame(index=names))
    bad.write_h5ad(tmp / "mostly_junk.h5ad")
    studies["mostly_junk"] = {"path": str(tmp / "mostly_junk.h5ad")}
    if max_failure_rate is not None:
        studies["mostly_junk"]["max_failure_rate"] = max_failure_rate
    path = tmp / "studies.yaml"
    path.write_text(yaml.safe_dump({"studies": studies}))
    return path


def platform(home: Path, tmp: Path, registry: Path | None = None, storage: str | None = None, extra=None):
    env = {"IDTRACK_HOME": str(home), "IDTRACK_STORAGE": storage or str(tmp / "storage")}
    if registry:
        env["IDTRACK_STUDIES"] = str(registry)
    return build_definitions(resources_from_env({**env, **(extra or {})}))


def run(definitions, instance, names, partition=None):
    return dg.materialize(
        ASSETS,
        selection=names,
        instance=instance,
        partition_key=partition,
        resources=definitions.resources,
        raise_on_error=False,
    )


def materialized(instance, asset: str, partition: str | None = None) -> bool:
    return (
        instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None
        if partition is None
        else (instance.get_latest_materialization_event(dg.AssetKey(asset), partition=partition) is not None)
    )


def prepare(definitions, instance, studies: list[str]) -> None:
    """Extracts of every release, the snapshot, the index, and the good studies' matchings."""
    source = definitions.resources["ensembl_source"]
    releases = [str(d.release) for d in source.open().list_databases(source.species, source.assembly)]
    instance.add_dynamic_partitions(releases_partitions.name, releases)
    instance.add_dynamic_partitions(studies_partitions.name, studies)
    for r in releases:
        assert run(definitions, instance, ["ensembl_release_extract"], r).success
    assert run(definitions, instance, ["id_graph_snapshot", "resolution_index"]).success


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {a.key.to_user_string() for a in ASSETS}
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"max_failure_rate", "max_ambiguity_rate", "max_collisions", "matching_schema", "extract_schema"} <= checks


def test_full_lineage_on_the_simulated_mirror(demo_home, tmp_path):
    definitions = platform(demo_home, tmp_path)
    studies = sorted(definitions.resources["study_registry"].studies())
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, studies)
        for s in studies:
            result = run(definitions, instance, ["study_features", "study_matchings"], s)
            assert result.success
            evals = result.get_asset_check_evaluations()
            assert {e.check_name for e in evals} >= {"max_failure_rate", "matching_schema"}
            assert all(e.passed for e in evals)
        assert run(definitions, instance, [*GATED, "harmonization_report"]).success
        for asset in (*GATED, "harmonization_report", "resolution_index", "id_graph_snapshot"):
            assert materialized(instance, asset), asset
        plan, extra = read_plan(str(tmp_path / "storage" / "plan"))
        assert list(extra["diagnostics"].index) == studies
        union = ad.read_h5ad(tmp_path / "storage" / "atlas" / "union.h5ad", backed="r")
        inter = ad.read_h5ad(tmp_path / "storage" / "atlas" / "intersect.h5ad", backed="r")
        assert list(union.var_names) == list(plan.var.index)
        assert inter.n_vars == int(plan.var["intersection"].sum()) < union.n_vars
        assert (
            union.n_obs
            == inter.n_obs
            == sum(
                ad.read_h5ad(e.url, backed="r").n_obs
                for e in definitions.resources["study_registry"].studies().values()
            )
        )
        assert set(union.obs["handle_anndata"].cat.categories) == set(studies)
        report = tmp_path / "storage" / "report"
        assert (report / "summary.md").read_text().startswith("# Harmonization report")
        assert (report / "rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / "data_docs" / "index.html").exists()


def test_failing_study_blocks_the_atlas_in_run_and_under_automation(demo_home, tmp_path):
    registry = with_bad_study(demo_home, tmp_path)
    definitions = platform(demo_home, tmp_path, registry)
    studies = sorted(definitions.resources["study_registry"].studies())
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, studies)
        for s in studies:
            if s != "mostly_junk":
                assert run(definitions, instance, ["study_features", "study_matchings"], s).success
        # one run: the bad study's matchings and everything downstream
        result = run(definitions, instance, ["study_features", "study_matchings", *GATED], "mostly_junk")
        assert not result.success
        failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
        assert "max_failure_rate" in failed
        meta = failed["max_failure_rate"].metadata
        assert meta["value"].value == pytest.approx(0.8) and meta["offending_features"].value == 80
        assert "junk_0" in meta["offending_preview"].value
        for asset in GATED:
            assert not materialized(instance, asset), asset

        # declarative automation respects the failed blocking check
        auto = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        for asset in GATED:
            assert auto.get_num_requested(dg.AssetKey(asset)) == 0, asset

        # raising the study's own threshold lets it through
        looser = platform(demo_home, tmp_path, with_bad_study(demo_home, tmp_path, max_failure_rate=0.9))
        assert run(looser, instance, ["study_matchings"], "mostly_junk").success
        auto = dg.evaluate_automation_conditions(defs=looser, instance=instance, cursor=auto.cursor)
        assert auto.get_num_requested(dg.AssetKey("harmonization_plan")) == 1
        assert run(looser, instance, GATED).success
        plan, _ = read_plan(str(tmp_path / "storage" / "plan"))
        assert "mostly_junk" in plan.studies


def sensor_context(definitions, instance, cursor=None):
    resources = {k: definitions.resources[k] for k in ("ensembl_source", "study_registry")}
    return dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)


def test_sensors_add_partitions_and_request_runs(demo_home, tmp_path):
    registry = with_bad_study(demo_home, tmp_path)
    definitions = platform(demo_home, tmp_path, registry)
    with dg.instance_for_test() as instance:
        result = ensembl_release_sensor(sensor_context(definitions, instance))
        assert [r.partition_key for r in result.run_requests] == ["1", "2", "3", "4"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["1", "2", "3", "4"]
        instance.add_dynamic_partitions(releases_partitions.name, ["1", "2", "3", "4"])
        assert isinstance(ensembl_release_sensor(sensor_context(definitions, instance)), dg.SkipReason)

        ctx = sensor_context(definitions, instance)
        result = study_registry_sensor(ctx)
        names = sorted(definitions.resources["study_registry"].studies())
        assert sorted(r.partition_key for r in result.run_requests) == names
        assert sorted(result.dynamic_partitions_requests[0].partition_keys) == names
        instance.add_dynamic_partitions(studies_partitions.name, names)
        quiet = study_registry_sensor(sensor_context(definitions, instance, ctx.cursor))
        assert isinstance(quiet, dg.SkipReason)

        shutil.copy(demo_home / "demo" / "versioned_r6.h5ad", tmp_path / "mostly_junk.h5ad")  # one study changes
        result = study_registry_sensor(sensor_context(definitions, instance, ctx.cursor))
        assert [r.partition_key for r in result.run_requests] == ["mostly_junk"]

        smaller = tmp_path / "fewer.yaml"
        studies = yaml.safe_load(registry.read_text())["studies"]
        smaller.write_text(yaml.safe_dump({"studies": {k: v for k, v in studies.items() if k != "mostly_junk"}}))
        result = study_registry_sensor(sensor_context(platform(demo_home, tmp_path, smaller), instance, ctx.cursor))
        deletes = [r for r in result.dynamic_partitions_requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
        assert deletes and deletes[0].partition_keys == ["mostly_junk"]


@pytest.mark.server
def test_whole_graph_on_s3_storage(demo_home, tmp_path, s3):
    """moto's S3 server as the storage root: every asset materializes and the atlas reads back from S3."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.mkdir("atlas-bucket")
    extra = {"IDTRACK_S3_ENDPOINT_URL": s3.url, "AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret}
    import os

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({"AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret})  # EnvVar secrets
    try:
        definitions = platform(demo_home, tmp_path, storage="s3://atlas-bucket/idtrack", extra=extra)
        studies = sorted(definitions.resources["study_registry"].studies())
        with dg.instance_for_test() as instance:
            prepare(definitions, instance, studies)
            for s in studies:
                assert run(definitions, instance, ["study_features", "study_matchings"], s).success
            assert run(definitions, instance, [*GATED, "harmonization_report"]).success
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    listing = fs.find("atlas-bucket/idtrack")
    assert any(p.endswith("assets/study_matchings/ids_r2.parquet") for p in listing)
    assert any(p.endswith("report/data_docs/index.html") for p in listing)
    assert not any(".tmp" in p for p in listing)
    local = tmp_path / "union.h5ad"
    fs.get("atlas-bucket/idtrack/atlas/union.h5ad", str(local))
    union = ad.read_h5ad(local, backed="r")
    plan, _ = read_plan("s3://atlas-bucket/idtrack/plan", **s3.storage_options)
    assert list(union.var_names) == list(plan.var.index)
    assert set(union.obs["handle_anndata"].cat.categories) == set(studies)
