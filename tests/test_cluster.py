"""Scale-out on Dagster's own executors: the whole asset graph on two ``dagster-celery`` workers with a real broker
(Debian's redis-server) and storage on S3 (moto's server), byte-identical to an in-process run; the Zarr atlas's
blocks as steps; the executor chosen from the environment; the Kubernetes deployment's definitions."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml
from test_platform import (  # noqa: F401  (demo_home is a module fixture)
    GATED,
    demo_home,
    failure_messages,
    junk_study,
    match_all,
    platform,
    prepare,
    run,
    store_of,
    two_study_registry,
)

from idtrack_assets.definitions import ASSETS, build_definitions
from idtrack_assets.executors import celery_worker_config, executor_from_env
from idtrack_assets.partitions import releases_partitions, studies_partitions
from idtrack_assets.resources import resources_from_env
from idtrack_core import storage
from idtrack_core.demo_data import DEMO_ASSEMBLY, DEMO_SPECIES, ensure_demo
from idtrack_core.versions import VersionedStore

from servers import process_group, redis_server, wait_until

ROOT = Path(__file__).resolve().parents[1]
WORKERS = ("w1", "w2")
RELEASES = ["1", "2", "3", "4"]
ATLAS_ASSETS = ["harmonization_plan", "atlas_union", "atlas_intersect", "harmonization_report"]
CHUNK_ENTRIES = 5000  # small chunks: blocks own some chunks and share others
RUN_TIMEOUT_S = 600.0
WORKER_START_TIMEOUT_S = 180.0


# --------------------------------------------------------------------------------------------- helpers


def demo_on_s3(home: Path, s3, bucket: str) -> dict[str, str]:
    """The demo mirror and studies copied to ``s3://{bucket}/demo``; the environment pointing the platform there."""
    import s3fs

    demo = ensure_demo(str(home), genes=600, releases=(1, 4))
    fs = s3fs.S3FileSystem(**s3.storage_options)
    if not fs.exists(f"{bucket}/demo/studies.yaml"):
        fs.mkdir(bucket)
        fs.put(str(Path(demo.home) / "demo") + "/", f"{bucket}/demo/", recursive=True)
    return {
        "IDTRACK_SOURCE": f"s3://{bucket}/demo/mirror",
        "IDTRACK_STUDIES": f"s3://{bucket}/demo/studies.yaml",
        "IDTRACK_SPECIES": DEMO_SPECIES,
        "IDTRACK_ASSEMBLY": DEMO_ASSEMBLY,
        "IDTRACK_S3_ENDPOINT_URL": s3.url,
        "AWS_ACCESS_KEY_ID": s3.key,
        "AWS_SECRET_ACCESS_KEY": s3.secret,
        "IDTRACK_ATLAS_FORMAT": "zarr",
        "IDTRACK_ZARR_CHUNK_ENTRIES": str(CHUNK_ENTRIES),
    }


@contextlib.contextmanager
def celery_workers(env: dict[str, str], workdir: Path) -> Iterator[dict[str, Path]]:
    """Two ``dagster-celery`` workers (one step at a time each, own home folders), started as a user would; yields
    each worker's log file."""
    config = workdir / "celery.yaml"
    config.write_text(yaml.safe_dump(celery_worker_config(env)))
    logs = {name: workdir / f"{name}.log" for name in WORKERS}
    with contextlib.ExitStack() as stack:
        for name in WORKERS:
            own = {**env, "IDTRACK_HOME": str(workdir / f"home-{name}")}
            cmd = ["dagster-celery", "worker", "start", "-A", "dagster_celery.app", "-y", str(config), "-n", name]
            stack.enter_context(process_group([*cmd, "--", "--concurrency", "1"], logs[name], env=own))
        for name, log in logs.items():
            wait_until(
                lambda log=log, name=name: f"{name}@" in _text(log) and " ready." in _text(log), f"worker {name}"
            )
        yield logs


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def materialize(env: dict[str, str], select: list[str], partition: str | None, log: Path) -> subprocess.Popen:
    """``dagster asset materialize`` of the repository's definitions (the executor comes from the environment)."""
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "idtrack_assets.definitions"]
    cmd += ["--select", ",".join(select), *(["--partition", partition] if partition else [])]
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def run_all(env: dict[str, str], select: list[str], partitions: list[str | None], log: Path) -> None:
    """Materialize ``select`` for every partition at once (concurrent runs compete for the workers)."""
    procs = [materialize(env, select, p, log) for p in partitions]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=15)
    failed = [part for part, p in zip(partitions, procs, strict=True) if p.returncode != 0]
    assert not failed, f"{select} failed for {failed}:\n{_text(log)[-4000:]}"


def steps_by_worker(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """Every step the Celery workers executed, by worker: from the ``Executing steps … in celery worker`` engine
    events that each worker writes to the instance."""
    found: dict[str, set[str]] = {}
    for dagster_run in instance.get_runs():
        for record in instance.all_logs(dagster_run.run_id):
            event = record.dagster_event
            if event is None or not event.is_engine_event:
                continue
            metadata = event.engine_event_data.metadata
            if "Celery worker" in metadata:
                worker = metadata["Celery worker"].value.split("@")[0]
                found.setdefault(worker, set()).add(metadata["step_keys"].value)
    return found


def reference_run(env: dict[str, str], root: str) -> None:
    """The same graph materialized in process (``materialize``) into another storage root."""
    definitions = build_definitions(resources_from_env({**env, "IDTRACK_STORAGE": root}), dg.in_process_executor)
    studies = sorted(definitions.resources["study_registry"].studies())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(releases_partitions.name, RELEASES)
        instance.add_dynamic_partitions(studies_partitions.name, studies)
        runs = [(["ensembl_release_extract"], r) for r in RELEASES]
        runs += [(["id_graph_snapshot", "resolution_index"], None)]
        runs += [(["study_features", "study_matchings"], s) for s in studies]
        runs += [(ATLAS_ASSETS, None)]
        for selection, partition in runs:
            result = dg.materialize(
                ASSETS, selection=selection, partition_key=partition, instance=instance, resources=definitions.resources
            )
            assert result.success, (selection, partition)


def atlas_files(store: VersionedStore, mode: str) -> tuple[str, dict]:
    """An atlas version's id and its manifest (which lists the SHA-256 of every object of the store)."""
    handle = store.pointer(f"atlas_{mode}")
    return handle.version, handle.manifest(**store.storage_options)


def read_store_atlas(store: VersionedStore, mode: str) -> ad.AnnData:
    import zarr

    handle = store.pointer(f"atlas_{mode}")
    url = handle.file(handle.manifest(**store.storage_options)["file"]["name"])
    return ad.read_zarr(zarr.storage.FsspecStore.from_url(url, storage_options=store.storage_options, read_only=True))


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.server
def test_whole_graph_on_two_celery_workers_with_s3_storage(tmp_path, s3, monkeypatch):
    """Every asset materialized by ``dagster asset materialize`` with the Celery executor: extracts, matchings and
    the atlases' blocks run as separate steps on both workers, which share only the bucket (and the instance);
    matchings and atlases are byte-identical to an in-process run of the same graph."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDTRACK_", "DAGSTER_"))}
    env.update(demo_on_s3(tmp_path / "demo-home", s3, "cluster-bucket"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, env[key])  # the reference run's secrets are read at run time
    dagster_home = tmp_path / "dagster-home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with redis_server(tmp_path) as broker:
        env.update(
            {
                "DAGSTER_HOME": str(dagster_home),
                "IDTRACK_EXECUTOR": "celery",
                "IDTRACK_CELERY_BROKER": f"{broker}/0",
                "IDTRACK_STORAGE": "s3://cluster-bucket/celery",
                "IDTRACK_HOME": str(tmp_path / "home-client"),
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            }
        )
        studies = sorted(resources_from_env(env)["study_registry"].studies())
        # the instance (SQLite) is created before the workers open it
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance, celery_workers(env, tmp_path) as logs:
            instance.add_dynamic_partitions(releases_partitions.name, RELEASES)
            instance.add_dynamic_partitions(studies_partitions.name, studies)
            runs = tmp_path / "runs.log"
            run_all(env, ["ensembl_release_extract"], RELEASES, runs)
            run_all(env, ["id_graph_snapshot", "resolution_index"], [None], runs)
            run_all(env, ["study_features", "study_matchings"], studies, runs)
            run_all(env, ATLAS_ASSETS, [None], runs)
            by_worker = steps_by_worker(instance)

    # both workers ran extracts, matchings and atlas blocks; their own logs show the steps they ran
    assert set(by_worker) == set(WORKERS), by_worker
    for kind in ("ensembl_release_extract", "study_matchings", r"atlas_(union|intersect)_block\["):
        workers = {w for w, steps in by_worker.items() if any(re.search(kind, s) for s in steps)}
        assert workers == set(WORKERS), (kind, by_worker)
    for worker, steps in by_worker.items():
        shown = _text(logs[worker])
        assert all(f" - {step} - " in shown for step in steps), (worker, steps)
    steps = set().union(*by_worker.values())
    for mode in ("union", "intersect"):
        for i, study in enumerate(studies):
            assert {f"atlas_{mode}_steps.atlas_{mode}_{op}[{i:03d}_{study}]" for op in ("size", "block")} <= steps

    # byte-identical to the same graph run in process
    celery = VersionedStore("s3://cluster-bucket/celery", s3.storage_options)
    reference_run(env, "s3://cluster-bucket/inproc")
    local = VersionedStore("s3://cluster-bucket/inproc", s3.storage_options)
    for study in studies:
        path = f"assets/study_matchings/{study}.parquet"
        a = storage.read_bytes(storage.join(celery.root, path), **s3.storage_options)
        b = storage.read_bytes(storage.join(local.root, path), **s3.storage_options)
        assert a == b, study
    for mode in ("union", "intersect"):
        (v1, m1), (v2, m2) = atlas_files(celery, mode), atlas_files(local, mode)
        assert v1 == v2 and m1 == m2 and m1["file"]["format"] == "zarr"
        x1, x2 = read_store_atlas(celery, mode), read_store_atlas(local, mode)
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(x1.X, part), getattr(x2.X, part))
        pd.testing.assert_frame_equal(x1.obs, x2.obs)
        pd.testing.assert_frame_equal(x1.var, x2.var)
        assert x1.n_obs == sum(m1["cells_per_study"].values()) and set(x1.obs["handle_anndata"].cat.categories) == set(
            studies
        )
        assert x1.uns["idtrack"]["atlas"]["store"] == {"format": "zarr", "chunk_entries": CHUNK_ENTRIES}
    assert not [p for p in celery_listing(s3) if ".tmp-" in p]


def celery_listing(s3) -> list[str]:
    import s3fs

    return s3fs.S3FileSystem(**s3.storage_options).find("cluster-bucket/celery/versions")


def test_executor_is_chosen_from_the_environment():
    assert executor_from_env({}) is dg.multiprocess_executor
    assert executor_from_env({"IDTRACK_EXECUTOR": "in_process"}) is dg.in_process_executor
    celery = executor_from_env({"IDTRACK_EXECUTOR": "celery", "IDTRACK_CELERY_BROKER": "redis://h:1/0"})
    assert celery.name == "celery"
    config = celery_worker_config({"IDTRACK_CELERY_BROKER": "redis://:secret@h:1/0"})["execution"]["config"]
    assert config["broker"] == {"env": "IDTRACK_CELERY_BROKER"} and "secret" not in yaml.safe_dump(config)
    assert config["config_source"]["worker_prefetch_multiplier"] == 1 and config["config_source"]["task_acks_late"]
    assert executor_from_env({"IDTRACK_EXECUTOR": "k8s"}).name == "k8s"
    with pytest.raises(ValueError, match="IDTRACK_CELERY_BROKER"):
        executor_from_env({"IDTRACK_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="choose one of multiprocess, in_process, celery, k8s"):
        executor_from_env({"IDTRACK_EXECUTOR": "threads"})
    definitions = build_definitions(executor=executor_from_env({"IDTRACK_EXECUTOR": "in_process"}))
    assert definitions.resolve_job_def("atlas_job").executor_def is dg.in_process_executor


def test_kubernetes_deployment_definitions_load_and_validate(tmp_path):
    """``deploy/k8s/definitions.py`` (what the Helm chart's user code deployment loads) builds the same assets with
    the ``k8s_job_executor``; ``dagster definitions validate`` accepts it; the Helm values name it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDTRACK_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "IDTRACK_HOME": str(tmp_path / "home")})
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-f", "deploy/k8s/definitions.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["--python-file", "deploy/k8s/definitions.py"]
    names = {e["name"] for e in deployment["env"]}
    assert {"IDTRACK_STORAGE", "IDTRACK_EXECUTOR"} <= names
    assert {s["name"] for s in deployment["envSecrets"]} == {"idtrack-secrets"}


@pytest.mark.slow
def test_zarr_atlases_as_steps_in_process_and_the_gate_recheck_before_writing(demo_home, tmp_path):  # noqa: F811
    """With ``IDTRACK_ATLAS_FORMAT=zarr`` each atlas runs as steps (a size and a block step per study), holds the
    same X/obs/var as the .h5ad atlas of the same plan, and is reused when materialized again; a study file replaced
    since planning is refused by the first step, before anything is written."""
    registry, b_file = two_study_registry(demo_home, tmp_path)
    zarr_env = {"IDTRACK_ATLAS_FORMAT": "zarr", "IDTRACK_ZARR_CHUNK_ENTRIES": "3000"}
    definitions = platform(demo_home, tmp_path, registry, extra=zarr_env)
    h5ad = platform(demo_home, tmp_path, registry)
    store = store_of(definitions)
    with dg.instance_for_test() as instance:
        prepare(definitions, instance, ["a", "b"])
        match_all(definitions, instance, ["a", "b"])
        result = run(definitions, instance, GATED)
        assert result.success
        done = {e.step_key for e in result.all_events if e.is_step_success}
        for mode in ("union", "intersect"):
            for op in ("start", "layout", "finalize", "size[000_a]", "size[001_b]", "block[000_a]", "block[001_b]"):
                assert f"atlas_{mode}_steps.atlas_{mode}_{op}" in done
        zarr_union = store.pointer("atlas_union")
        assert zarr_union.manifest()["file"]["name"] == "union.zarr"
        stored = ad.read_zarr(zarr_union.file("union.zarr"))
        assert run(h5ad, instance, GATED).success  # the same plan as an .h5ad: another version beside
        h5ad_union = store.pointer("atlas_union")
        assert h5ad_union.version != zarr_union.version
        reference = ad.read_h5ad(h5ad_union.file("union.h5ad"))
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(stored.X, part), getattr(reference.X, part))
        pd.testing.assert_frame_equal(stored.obs, reference.obs)
        pd.testing.assert_frame_equal(stored.var, reference.var)

        assert run(definitions, instance, GATED).success  # the same inputs: the Zarr versions are reused
        assert store.pointer("atlas_union") == zarr_union

        junk_study(tmp_path / "junk.h5ad", demo_home / "demo" / "ids_r2.h5ad")
        os.replace(tmp_path / "junk.h5ad", b_file)
        before = [(v.slot, v.version, v.complete) for v in store.versions()]
        stale = run(definitions, instance, ["atlas_union"])
        assert not stale.success
        assert any("'b'" in m and "file_unchanged" in m for m in failure_messages(stale))
        failed = {e.step_key for e in stale.all_events if e.is_step_failure}
        assert failed == {"atlas_union_steps.atlas_union_start"}
        assert [(v.slot, v.version, v.complete) for v in store.versions()] == before and not store.temporaries()


def test_graph_backed_atlases_keep_their_asset_properties():
    """The atlases' steps are a graph, but the assets keep their group, code version, automation and merge tag."""
    from idtrack_core.harmonize.merge import ATLAS_CODE_VERSION

    graph = build_definitions().resolve_asset_graph()
    for key in ("atlas_union", "atlas_intersect"):
        node = graph.get(dg.AssetKey(key))
        assert (node.group_name, node.code_version) == ("atlas", ATLAS_CODE_VERSION)
        assert node.automation_condition is not None and node.tags["idtrack/merge"] == "yes"
        assert {p.to_user_string() for p in node.parent_keys} == {"harmonization_plan", "study_matchings"}
