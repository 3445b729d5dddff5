"""The Dagster platform driven as a user would: materialize(), blocking checks, automation, sensors, versions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anndata as ad
import dagster as dg
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from idtrack_assets import console
from idtrack_assets.definitions import ASSETS, build_definitions, defs
from idtrack_assets.partitions import releases_partitions, studies_partitions
from idtrack_assets.resources import resources_from_env
from idtrack_assets.sensors import ensembl_release_sensor, study_registry_sensor
from idtrack_core.demo_data import ensure_demo
from idtrack_core.harmonize.plan import read_plan
from idtrack_core.provenance import from_uns
from idtrack_core.simulation import read_ground_truth
from idtrack_core.versions import VersionedStore

pytestmark = pytest.mark.slow
GATED = ["harmonization_plan", "atlas_union", "atlas_intersect"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    ensure_demo(str(home), genes=600, releases=(1, 4))
    return home


def junk_study(path: Path, real_from: Path, junk: int = 80) -> Path:
    """An .h5ad whose features are 20 real names (from ``real_from``) and ``junk`` junk names."""
    real = list(ad.read_h5ad(real_from, backed="r").var_names[:20])
    names = real + [f"junk_{i}" for i in range(junk)]
    x = sp.random(40, len(names), density=0.2, format="csr", random_state=0, dtype=np.float32)
    bad = ad.AnnData(X=x, obs=pd.DataFrame(index=[f"c{i}" for i in range(40)]), var=pd.DataFrame(index=names))
    bad.write_h5ad(path)
    return path


def with_bad_study(home: Path, tmp: Path, max_failure_rate: float | None = None) -> Path:
    """A registry with the demo studies plus ``mostly_junk`` (80 % junk names)."""
    registry = yaml.safe_load((home / "demo" / "studies.yaml").read_text())
    studies = {name: {"path": str(home / "demo" / spec["path"])} for name, spec in registry["studies"].items()}
    junk = tmp / "mostly_junk.h5ad"
    if not junk.exists():  # rewriting it would change the file the platform matched
        junk_study(junk, home / "demo" / "ids_r2.h5ad")
    studies["mostly_junk"] = {"path": str(junk)}
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


def materialized(instance, asset: str) -> bool:
    return instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None


def store_of(definitions) -> VersionedStore:
    return definitions.resources["atlas_storage"].store


def current_atlas(definitions, mode: str = "union") -> ad.AnnData:
    """The atlas the ``latest`` pointer names, opened backed."""
    handle = store_of(definitions).pointer(f"atlas_{mode}")
    return ad.read_h5ad(handle.file(handle.manifest()["file"]["name"]), backed="r")


def failure_messages(result) -> list[str]:
    return [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]


def prepare(definitions, instance, studies: list[str]) -> None:
    """Extracts of every release, the snapshot, the index, and the study partitions."""
    source = definitions.resources["ensembl_source"]
    releases = [str(d.release) for d in source.open().list_databases(source.species, source.assembly)]
    instance.add_dynamic_partitions(releases_partitions.name, releases)
    instance.add_dynamic_partitions(studies_partitions.name, studies)
    for r in releases:
        assert run(definitions, instance, ["ensembl_release_extract"], r).success
    assert run(definitions, instance, ["id_graph_snapshot", "resolution_index"]).success


def match_all(definitions, instance, studies: list[str]) -> None:
    for s in studies:
        assert run(definitions, instance, ["study_features", "study_matchings"], s).success, s


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {a.key.to_user_string() for a in ASSETS}
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"max_failure_rate", "max_ambiguity_rate", "max_collisions", "matching_schema", "extract_schema"} <= checks


def test_no_asset_reads_another_assets_latest_materialization():
    """Data flows through Dagster inputs: no asset code looks up materialization events."""
    for path in sorted((ROOT / "idtrack_assets").rglob("*.py")):
        text = path.read_text()
        for banned in ("get_latest_materialization_event", "latest_path", "get_event_records"):
            assert banned not in text, f"{path.relative_to(ROOT)} uses {banned}"
    graph = defs.resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in defs.resolve_all_asset_keys()
    }
    assert parents["study_matchings"] == {"study_features", "resolution_index"}
    assert parents["harmonization_plan"] == {"study_matchings", "resolution_index"}
    assert parents["atlas_union"] == parents["atlas_intersect"] == {"harmonization_plan", "study_matchings"}


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
        store = store_of(definitions)
        plan, extra = read_plan(store.pointer("harmonization_plan").url)
        assert list(extra["diagnostics"].index) == studies
        union, inter = current_atlas(definitions, "union"), current_atlas(definitions, "intersect")
        assert list(union.var_names) == list(plan.var.index)
        assert inter.n_vars == int(plan.var["intersection"].sum()) < union.n_vars
        cells = sum(
            ad.read_h5ad(e.url, backed="r").n_obs for e in definitions.resources["study_registry"].studies().values()
        )
        assert union.n_obs == inter.n_obs == cells
        assert set(union.obs["handle_anndata"].cat.categories) == set(studies)
        report = Path(store.pointer("harmonization_report").url)
        assert (report / "summary.md").read_text().startswith("# Harmonization report")
        assert "## Quality gates" in (report / "summary.md").read_text()
        assert (report / "rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / "data_docs" / "index.html").exists()
        # drill-downs: per study CSVs linked from the summary, tables and the inline plot in the asset's metadata
        summary = (report / "summary.md").read_text()
        for s in studies:
            failed = pd.read_csv(report / "studies" / s / "failed.csv", keep_default_na=False)
            assert list(failed.columns) == ["feature", "reason", "candidates", "targets", "evidence"]
            assert len(failed) == int(extra["diagnostics"].loc[s, "one_to_none"])
            assert (len(failed) == 0) or f"](studies/{s}/failed.csv)" in summary
        report_event = instance.get_latest_materialization_event(dg.AssetKey("harmonization_report"))
        metadata = report_event.asset_materialization.metadata
        assert "](data:image/png;base64," in metadata["summary"].value
        assert metadata["failed_features"].value == int(extra["diagnostics"]["one_to_none"].sum())
        rows = metadata["failed"].value.records
        assert rows and {"study", "feature", "reason", "candidates", "evidence"} <= set(rows[0].data)

        # the lineage tells the truth: each materialization records the versions it read, as data versions
        event = instance.get_latest_materialization_event(dg.AssetKey("atlas_union")).asset_materialization
        tags = event.tags or {}
        assert tags["dagster/input_data_version/harmonization_plan"] == store.pointer("harmonization_plan").version
        assert tags["dagster/data_version"] == store.pointer("atlas_union").version
        provenance = event.metadata["provenance"].value
        assert provenance == from_uns(union.uns["idtrack"])
        assert provenance["plan"]["version"] == store.pointer("harmonization_plan").version
        assert provenance["index"]["version"] == store.pointer("resolution_index").version


def test_failing_study_blocks_the_atlas_in_run_and_under_automation(demo_home, tmp_path):
    registry = with_bad_study(demo_home, tmp_path)
    definitions = platform(demo_home, tmp_path, registry)
    studies = sorted(definitions.resources["study_registry"].studies())
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, studies)
        match_all(definitions, instance, [s for s in studies if s != "mostly_junk"])
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

        # forcing the plan anyway: refused by the gates themselves, naming the study and the gate
        forced = run(definitions, instance, ["harmonization_plan"])
        assert not forced.success
        assert any("mostly_junk: failure rate" in m and "max_failure_rate" in m for m in failure_messages(forced))

        # raising the study's own threshold lets it through
        looser = platform(demo_home, tmp_path, with_bad_study(demo_home, tmp_path, max_failure_rate=0.9))
        assert run(looser, instance, ["study_matchings"], "mostly_junk").success
        auto = dg.evaluate_automation_conditions(defs=looser, instance=instance, cursor=auto.cursor)
        assert auto.get_num_requested(dg.AssetKey("harmonization_plan")) == 1
        assert run(looser, instance, GATED).success
        plan, _ = read_plan(store_of(looser).pointer("harmonization_plan").url)
        assert "mostly_junk" in plan.studies


def test_a_study_of_ncbi_gene_ids_is_matched_when_its_registry_entry_says_so(demo_home, tmp_path):
    names = read_ground_truth(str(demo_home / "demo" / "mirror")).names
    entrez = sorted(set(names.loc[(names["release"] == 4) & (names["kind"] == "entrez_id"), "name"].astype(str)))
    x = sp.random(30, len(entrez), density=0.2, format="csr", random_state=0, dtype=np.float32)
    study = tmp_path / "entrez.h5ad"
    ad.AnnData(X=x, obs=pd.DataFrame(index=[f"c{i}" for i in range(30)]), var=pd.DataFrame(index=entrez)).write_h5ad(
        study
    )
    registry = tmp_path / "studies.yaml"
    spec = {"said": {"path": str(study), "id_namespace": "entrez"}, "unsaid": {"path": str(study)}}
    registry.write_text(yaml.safe_dump({"studies": spec}))
    definitions = platform(demo_home, tmp_path, registry)
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, ["said", "unsaid"])
        unsaid = run(definitions, instance, ["study_features", "study_matchings"], "unsaid")
        assert not unsaid.success
        assert any("are numbers" in m and "id_namespace: entrez" in m for m in failure_messages(unsaid)), (
            failure_messages(unsaid)
        )
        assert run(definitions, instance, ["study_features", "study_matchings"], "said").success
        event = instance.get_latest_materialization_event(dg.AssetKey("study_matchings"))
        meta = event.asset_materialization.metadata
        assert event.asset_materialization.partition == "said"
        assert meta["input_ids"].value == len(entrez) and meta["one_to_none"].value == 0


def two_study_registry(home: Path, tmp: Path) -> tuple[Path, Path]:
    """A registry of two demo studies whose files are copies in ``tmp`` (so one can be replaced)."""
    files = {"a": tmp / "a.h5ad", "b": tmp / "b.h5ad"}
    shutil.copy(home / "demo" / "ids_r2.h5ad", files["a"])
    shutil.copy(home / "demo" / "versioned_r6.h5ad", files["b"])
    registry = tmp / "two.yaml"
    registry.write_text(yaml.safe_dump({"studies": {k: {"path": str(v)} for k, v in files.items()}}))
    return registry, files["b"]


def test_a_gate_never_leaks_through_a_stale_plan(demo_home, tmp_path):
    """The issue's bypass: B's file is replaced by a failing one and rematched (its check fails); materializing the
    union alone is refused, naming B and the gate; so is a replaced file that was never rematched; automation
    requests neither; the current union stays the last good one."""
    registry, b_file = two_study_registry(demo_home, tmp_path)
    definitions = platform(demo_home, tmp_path, registry)
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, ["a", "b"])
        match_all(definitions, instance, ["a", "b"])
        assert run(definitions, instance, [*GATED, "harmonization_report"]).success
        good = store_of(definitions).pointer("atlas_union")
        good_cells = current_atlas(definitions).n_obs

        # replaced but not rematched: the file no longer is what the plan was made from
        junk_study(tmp_path / "junk.h5ad", demo_home / "demo" / "ids_r2.h5ad")
        os.replace(tmp_path / "junk.h5ad", b_file)
        stale = run(definitions, instance, ["atlas_union"])
        assert not stale.success
        assert any("'b'" in m and "file_unchanged" in m for m in failure_messages(stale))

        # rematched: its blocking check fails, the union alone is still refused, naming the study and the gate
        rematch = run(definitions, instance, ["study_features", "study_matchings"], "b")
        assert not rematch.success
        assert {e.check_name for e in rematch.get_asset_check_evaluations() if not e.passed} == {"max_failure_rate"}
        refused = run(definitions, instance, ["atlas_union"])
        assert not refused.success
        assert any("b: failure rate" in m and "max_failure_rate" in m for m in failure_messages(refused))
        auto = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        for asset in (*GATED, "harmonization_report"):
            assert auto.get_num_requested(dg.AssetKey(asset)) == 0, asset
        assert store_of(definitions).pointer("atlas_union") == good and current_atlas(definitions).n_obs == good_cells

        # B fixed: automation rematches B, then re-plans, in dependency order
        shutil.copy(demo_home / "demo" / "symbols_r4.h5ad", b_file)
        assert run(definitions, instance, ["study_features"], "b").success
        auto = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=auto.cursor)
        assert auto.get_requested_partitions(dg.AssetKey("study_matchings")) == {"b"}
        assert auto.get_num_requested(dg.AssetKey("harmonization_plan")) == 0  # waits for B's matching
        assert run(definitions, instance, ["study_matchings"], "b").success
        auto = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=auto.cursor)
        assert auto.get_num_requested(dg.AssetKey("harmonization_plan")) == 1
        assert run(definitions, instance, GATED).success
        union = current_atlas(definitions)
        assert (
            union.n_obs == 400 + 300 and union.uns["idtrack"]["studies"]["b"]["file"]["size"] == b_file.stat().st_size
        )


def test_versions_are_immutable_reused_and_retained(demo_home, tmp_path, monkeypatch, capsys):
    """Different inputs → two atlas versions, each readable with its own provenance; the same inputs again reuse
    the version (nothing rewritten); retention removes the old version and never the current one."""
    registry, b_file = two_study_registry(demo_home, tmp_path)
    definitions = platform(demo_home, tmp_path, registry)
    store = store_of(definitions)
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, ["a", "b"])
        match_all(definitions, instance, ["a", "b"])
        assert run(definitions, instance, GATED).success
        first = store.pointer("atlas_union")
        first_file = Path(first.file(first.manifest()["file"]["name"]))
        stamp = first_file.stat().st_mtime_ns

        assert run(definitions, instance, GATED).success  # same inputs: same versions, not rewritten
        assert store.pointer("atlas_union") == first and first_file.stat().st_mtime_ns == stamp

        shutil.copy(demo_home / "demo" / "symbols_r4.h5ad", b_file)  # new inputs
        match_all(definitions, instance, ["b"])
        assert run(definitions, instance, GATED).success
        second = store.pointer("atlas_union")
        assert second.version != first.version and second.url != first.url
        old = ad.read_h5ad(first_file, backed="r")
        new = current_atlas(definitions)
        assert (
            old.uns["idtrack"]["studies"]["b"]["file"]["fingerprint"]
            != new.uns["idtrack"]["studies"]["b"]["file"]["fingerprint"]
        )
        assert (
            old.uns["idtrack"]["atlas"]["version"] == first.version
            and new.uns["idtrack"]["atlas"]["version"] == second.version
        )
        old.file.close()

        plan = store.plan_retention(keep=1, min_age_s=0, active_holders=set())
        removed = {(v.slot, v.version) for v in plan.remove}
        assert ("atlases/union", first.version) in removed
        assert all((h.slot, h.version) not in removed for h in store.pointers().values())

        # the retention command: a dry run removes nothing, then the old atlas goes and the current one stays
        monkeypatch.setenv("IDTRACK_STORAGE", definitions.resources["atlas_storage"].root)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no-runs"))
        (tmp_path / "no-runs").mkdir()
        assert console.main(["retain", "--keep", "1", "--min-age-hours", "0", "--dry-run"]) == 0
        assert f"would remove\tatlases/union\t{first.version}" in capsys.readouterr().out and first_file.exists()
        assert console.main(["retain", "--keep", "1", "--min-age-hours", "0"]) == 0
        assert not first_file.exists() and current_atlas(definitions).n_obs == new.n_obs
        assert run(definitions, instance, GATED).success  # still consistent after retention


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
def test_whole_graph_on_s3_storage(demo_home, tmp_path, s3, monkeypatch):
    """moto's S3 server as the storage root: every asset materializes and the atlas reads back from S3."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.mkdir("atlas-bucket")
    extra = {"IDTRACK_S3_ENDPOINT_URL": s3.url, "AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key)  # EnvVar secrets are read at run time
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    definitions = platform(demo_home, tmp_path, storage="s3://atlas-bucket/idtrack", extra=extra)
    studies = sorted(definitions.resources["study_registry"].studies())
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, studies)
        match_all(definitions, instance, studies)
        assert run(definitions, instance, [*GATED, "harmonization_report"]).success
    listing = fs.find("atlas-bucket/idtrack")
    assert any(p.endswith("assets/study_matchings/ids_r2.parquet") for p in listing)
    assert any(p.endswith("data_docs/index.html") for p in listing)
    assert not any(".tmp" in p for p in listing)
    store = VersionedStore("s3://atlas-bucket/idtrack", s3.storage_options)
    handle = store.pointer("atlas_union")
    local = tmp_path / "union.h5ad"
    fs.get(handle.file(handle.manifest(**s3.storage_options)["file"]["name"]), str(local))
    union = ad.read_h5ad(local, backed="r")
    plan, _ = read_plan(store.pointer("harmonization_plan").url, **s3.storage_options)
    assert list(union.var_names) == list(plan.var.index)
    assert set(union.obs["handle_anndata"].cat.categories) == set(studies)
    assert union.uns["idtrack"]["atlas"]["version"] == handle.version
