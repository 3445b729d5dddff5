"""The repository's Dagster instance for real: ``dagster dev`` (webserver + daemon) and ``dagster-daemon`` on
127.0.0.1, each in a fresh folder holding the repository's ``dagster.yaml`` and ``workspace.yaml``.

- after ``idtrack-atlas demo`` in that folder, the UI (GraphQL) lists the demo's runs, all successful;
- a first launch with every sensor and the automation on runs the whole lineage in dependency order with no failed
  run (bounded wait);
- a run whose process is killed with ``kill -9`` is marked failed by run monitoring, and a rerun makes outputs
  identical to a clean run's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from idtrack_core.demo_data import ensure_demo

from conftest import HUMAN
from servers import LOOPBACK, free_port, process_group, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ui_screenshot import graphql

pytestmark = [pytest.mark.server, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
FIRST_LAUNCH_TIMEOUT_S = 480.0
RUNS = "{ runsOrError(limit: 200) { ... on Runs { results { runId status jobName tags { key value } } } } }"
MATERIALIZED = (
    '{ assetOrError(assetKey: {path: ["atlas_union"]}) { ... on Asset { assetMaterializations(limit: 1) { runId } } } }'
)


def instance_folder(path: Path) -> Path:
    """A folder with the repository's instance and workspace files and small demo data (600 genes, 4 releases)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(ROOT / name, path / name)
    ensure_demo(str(path / ".idtrack"), genes=600, releases=(1, 4))
    return path


def clean_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDTRACK_", "DAGSTER_"))}
    return {**env, "DAGSTER_HOME": str(folder), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **extra}


class Chdir:
    """``dagster dev`` resolves the instance's relative paths against its working directory."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.old = folder, os.getcwd()

    def __enter__(self) -> None:
        os.chdir(self.folder)

    def __exit__(self, *exc: object) -> None:
        os.chdir(self.old)


@contextlib.contextmanager
def dagster_dev(folder: Path, log: Path) -> Iterator[str]:
    """``dagster dev`` (webserver + daemon + code server) on 127.0.0.1 in ``folder``; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", LOOPBACK, "-p", str(port), "-w", "workspace.yaml"]
    url = f"http://{LOOPBACK}:{port}"
    with Chdir(folder), process_group(cmd, log, env=clean_env(folder)) as proc:
        try:
            wait_until(lambda: proc.poll() is not None or _answers(url), "dagster dev", 120)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}: {log.read_text()[-3000:]}") from None
        assert proc.poll() is None, log.read_text()[-3000:]
        yield url


def _answers(url: str) -> bool:
    try:
        graphql(url, "{ version }", timeout_s=5)
        return True
    except Exception:
        return False


def runs(url: str) -> list[dict]:
    return graphql(url, RUNS)["runsOrError"]["results"]


def test_dagster_dev_shows_the_demos_runs(tmp_path):
    folder = instance_folder(tmp_path / "repo")
    demo = subprocess.run(
        [sys.executable, "-m", "idtrack_assets.console", "demo"],
        cwd=folder,
        env=clean_env(folder),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "atlas_union:" in demo.stdout and f"DAGSTER_HOME={folder}" in demo.stdout
    assert (folder / ".idtrack" / "dagster" / "storage").is_dir()  # where the repository's dagster.yaml says
    with Chdir(folder), dg.DagsterInstance.from_config(str(folder)) as instance:
        expected = {r.dagster_run.run_id for r in instance.get_run_records()}
    assert len(expected) == 4 + 1 + 3 + 1  # releases, graph, studies, atlas stage
    with dagster_dev(folder, tmp_path / "dev.log") as url:
        shown = {r["runId"]: r["status"] for r in runs(url)}
        assert expected <= set(shown) and {shown[r] for r in expected} == {"SUCCESS"}
        assert graphql(url, MATERIALIZED)["assetOrError"]["assetMaterializations"]
        # the sensors re-read the registered studies (their cursor is new): those runs succeed too
        settled = lambda: all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs(url))  # noqa: E731
        time.sleep(10)
        wait_until(settled, "the sensors' runs", 240)
        assert not [r for r in runs(url) if r["status"] != "SUCCESS"], (tmp_path / "dev.log").read_text()[-3000:]
    assert not (folder / ".nux").exists() or ".nux/" in (ROOT / ".gitignore").read_text()


def test_first_launch_with_sensors_runs_everything_and_nothing_fails(tmp_path):
    """A fresh instance, sensors and automation on: the release sensor extracts, automation builds the graph and
    index, the registry sensor reads the studies, their matchings wait for the index, then plan and atlases."""
    folder = instance_folder(tmp_path / "fresh")
    with dagster_dev(folder, tmp_path / "dev.log") as url:
        deadline = time.monotonic() + FIRST_LAUNCH_TIMEOUT_S
        done = False
        while time.monotonic() < deadline and not done:
            shown = runs(url)
            failed = [r for r in shown if r["status"] == "FAILURE"]
            assert not failed, (failed, (tmp_path / "dev.log").read_text()[-4000:])
            done = bool(graphql(url, MATERIALIZED)["assetOrError"]["assetMaterializations"])
            time.sleep(3)
        assert done, f"atlas_union not materialized in {FIRST_LAUNCH_TIMEOUT_S:.0f}s: {[r['status'] for r in shown]}"
        wait_until(lambda: all(r["status"] in ("SUCCESS", "QUEUED", "STARTED", "STARTING") for r in runs(url)), "runs")
        assert not [r for r in runs(url) if r["status"] == "FAILURE"]
        jobs = {r["jobName"] for r in runs(url)}
        assert {"release_extract_job", "study_job"} <= jobs


def sha256_tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_a_killed_run_is_marked_failed_and_a_rerun_equals_a_clean_run(tmp_path):
    """``kill -9`` of a ``dagster asset materialize`` process mid-extract: the daemon's run monitoring marks the run
    failed within a bounded wait; rerunning gives exactly the extract a clean run gives."""
    folder = instance_folder(tmp_path / "killed")
    source = {"IDTRACK_SOURCE": str(HUMAN), "IDTRACK_SPECIES": "homo_sapiens", "IDTRACK_ASSEMBLY": "GRCh38"}
    env = clean_env(folder, IDTRACK_STORAGE=str(folder / "storage"), **source)
    with Chdir(folder), dg.DagsterInstance.from_config(str(folder)) as instance:
        instance.add_dynamic_partitions("ensembl_releases", ["114"])
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "idtrack_assets.definitions"]
    cmd += ["--select", "ensembl_release_extract", "--partition", "114"]
    with open(tmp_path / "killed.log", "wb") as log:
        victim = subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def started() -> str | None:
        with Chdir(folder), dg.DagsterInstance.from_config(str(folder)) as inst:
            records = inst.get_run_records()
            return (
                records[0].dagster_run.run_id if records and records[0].dagster_run.status.value == "STARTED" else None
            )

    wait_until(lambda: started() is not None or victim.poll() is not None, "the run to start", 120)
    run_id = started()
    assert run_id is not None and victim.poll() is None, (tmp_path / "killed.log").read_text()[-2000:]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)

    def status() -> str:
        with Chdir(folder), dg.DagsterInstance.from_config(str(folder)) as inst:
            return inst.get_run_by_id(run_id).status.value

    assert status() == "STARTED"  # nothing else would ever change it
    # only run monitoring is under test: the sensors (on by default) would start extracting every human release
    for kind, name in (("sensor", s) for s in ("ensembl_release_sensor", "study_registry_sensor", "atlas_automation")):
        stop = [sys.executable, "-m", "dagster", kind, "stop", name, "-w", "workspace.yaml"]
        assert subprocess.run(stop, cwd=folder, env=env, capture_output=True, timeout=120).returncode == 0, name
    daemon = [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"]
    with Chdir(folder), process_group(daemon, tmp_path / "daemon.log", env=env):
        wait_until(lambda: status() == "FAILURE", "run monitoring to mark the killed run failed", 90)
    with Chdir(folder), dg.DagsterInstance.from_config(str(folder)) as inst:
        messages = [r.event_log_entry.message or "" for r in inst.get_records_for_run(run_id).records]
    assert any("is gone: it was killed or crashed" in m for m in messages), messages[-5:]

    rerun = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    clean = instance_folder(tmp_path / "clean")
    clean_env_ = clean_env(clean, IDTRACK_STORAGE=str(clean / "storage"), **source)
    with Chdir(clean), dg.DagsterInstance.from_config(str(clean)) as instance:
        instance.add_dynamic_partitions("ensembl_releases", ["114"])
    fresh = subprocess.run(cmd, cwd=clean, env=clean_env_, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    slots = {f: next((f / "storage" / "versions" / "extracts").glob("*/*/114")) for f in (folder, clean)}
    versions = {f: sorted(p for p in slot.iterdir() if not p.name.startswith(".")) for f, slot in slots.items()}
    assert [v.name for v in versions[folder]] == [v.name for v in versions[clean]]  # one complete version each
    assert sha256_tree(versions[folder][0]) == sha256_tree(versions[clean][0])
    # what the killed run half-wrote is a hidden temporary, never a version; retention clears it
    leftovers = [p for p in slots[folder].iterdir() if p.name.startswith(".")]
    assert all(".tmp-" in p.name for p in leftovers)
    retain = [sys.executable, "-m", "idtrack_assets.console", "retain", "--min-age-hours", "0"]
    assert subprocess.run(retain, cwd=folder, env=env, capture_output=True, timeout=120).returncode == 0
    assert not [p for p in slots[folder].iterdir() if p.name.startswith(".")]
    assert sha256_tree(versions[folder][0]) == sha256_tree(versions[clean][0])  # the current version stays
