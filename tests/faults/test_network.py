"""Network I/O is bounded: a server that accepts and never answers ends in one clear error within the deadline."""

from __future__ import annotations

import re
import time

import pytest
import s3fs

from idtrack_core.errors import SourceUnreachableError
from idtrack_core.network import NetworkSettings, retrying

from .helpers import FAST_NETWORK, SIM, TARGET, error_line, leftovers, run_cli, tree

DEADLINE_S = float(FAST_NETWORK["IDTRACK_DEADLINE_S"])


def test_silent_http_source_gives_up_within_the_deadline(silent_server):
    url = f"http://{silent_server}/pub"
    started = time.monotonic()
    proc = run_cli("releases", "--source", url, "--species", "homo_sapiens", env=FAST_NETWORK)
    line = error_line(proc)
    assert f"listing {url}: unreachable after" in line
    spent = float(re.search(r" in ([0-9.]+)s", line).group(1))
    assert spent <= DEADLINE_S  # the time spent is in the message and within the configured deadline
    assert "read timeout 1s" in line and "deadline 6s" in line
    assert time.monotonic() - started < 60


def test_silent_http_source_leaves_the_home_as_it_was(silent_server, home_copy, tmp_path):
    before = tree(home_copy)
    proc = run_cli(
        "convert", "--source", f"http://{silent_server}/pub", "--home", home_copy, *SIM, *TARGET, "SIMX1",
        "--output", tmp_path / "out.csv", env=FAST_NETWORK,
    )  # fmt: skip
    assert "unreachable after" in error_line(proc)
    assert tree(home_copy) == before and not leftovers(home_copy)
    assert not (tmp_path / "out.csv").exists()


def test_silent_http_study_url(silent_server, sim_mirror, home_copy, tmp_path):
    url = f"http://{silent_server}/heart.h5ad"
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home_copy, *SIM, *TARGET, "--study", f"s={url}",
        "--out", tmp_path / "atlas.h5ad", env=FAST_NETWORK,
    )  # fmt: skip
    line = error_line(proc)
    assert f"{url}: unreadable" in line and "unreachable after" in line
    assert not (tmp_path / "atlas.h5ad").exists()


def test_silent_s3_endpoint_from_the_environment(silent_server):
    """``IDTRACK_S3_ENDPOINT_URL`` reaches the CLI: the requests go to the silent server, not to AWS."""
    env = {
        **FAST_NETWORK,
        "IDTRACK_S3_ENDPOINT_URL": f"http://{silent_server}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    proc = run_cli("releases", "--source", "s3://mirror/pub", "--species", "homo_sapiens", env=env)
    line = error_line(proc)
    assert "listing s3://mirror/pub: unreachable after" in line
    assert float(re.search(r" in ([0-9.]+)s", line).group(1)) <= DEADLINE_S
    assert "ReadTimeout" in line or "timed out" in line.lower()


def test_silent_mysql_server(silent_server):
    proc = run_cli(
        "releases", "--source", f"mysql://anonymous@{silent_server}", "--species", "homo_sapiens", env=FAST_NETWORK
    )
    line = error_line(proc)
    assert f"at mysql://anonymous@{silent_server}: unreachable after" in line


@pytest.mark.server
def test_cli_honours_the_s3_endpoint_variable(s3, sim_mirror):
    """A mirror on moto's S3 server is read by the CLI through ``IDTRACK_S3_ENDPOINT_URL`` alone."""
    fs = s3fs.S3FileSystem(**s3.storage_options)
    if not fs.exists("faults-mirror"):
        fs.mkdir("faults-mirror")
        fs.put(str(sim_mirror) + "/", "faults-mirror/sim/", recursive=True)
    env = {"IDTRACK_S3_ENDPOINT_URL": s3.url, "AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret}
    proc = run_cli("releases", "--source", "s3://faults-mirror/sim", *SIM, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == ["1", "2", "3"]


def test_retrying_stops_at_the_deadline_not_after_all_attempts():
    calls = []

    def silent() -> None:
        calls.append(time.monotonic())
        time.sleep(0.3)  # a try that waits on a silent server for its read timeout
        raise TimeoutError("no answer")

    net = NetworkSettings(connect_timeout_s=0.1, read_timeout_s=0.3, attempts=10, backoff_s=0.1, deadline_s=1.5)
    started = time.monotonic()
    with pytest.raises(
        SourceUnreachableError,
        match=r"fetching x: unreachable after \d attempts in [0-9.]+s \(stopped by the deadline 1.5s",
    ):
        retrying(silent, "fetching x", net)
    assert time.monotonic() - started <= net.deadline_s
    assert 2 <= len(calls) < 10


def test_definitive_errors_are_not_retried():
    calls = []

    def missing() -> None:
        calls.append(1)
        raise FileNotFoundError("gone")

    with pytest.raises(FileNotFoundError):
        retrying(missing, "reading x", NetworkSettings(attempts=5, backoff_s=0))
    assert len(calls) == 1


def test_settings_from_the_environment_are_checked():
    assert NetworkSettings.from_env({"IDTRACK_READ_TIMEOUT_S": "2.5", "IDTRACK_ATTEMPTS": "4"}) == NetworkSettings(
        read_timeout_s=2.5, attempts=4
    )
    with pytest.raises(ValueError, match="IDTRACK_DEADLINE_S='soon' is not a number"):
        NetworkSettings.from_env({"IDTRACK_DEADLINE_S": "soon"})
    with pytest.raises(ValueError, match="attempts must be"):
        NetworkSettings.from_env({"IDTRACK_ATTEMPTS": "0"})


def test_the_versioned_store_rides_out_a_flaky_s3(s3, flaky_s3, monkeypatch):
    """Two S3 requests in a row out of eight answered 503 (beyond botocore's own single retry): publishing,
    pointers, listings, retention and reads all retry."""
    from idtrack_core import storage
    from idtrack_core.versions import VersionedStore, version_id

    monkeypatch.setenv("IDTRACK_BACKOFF_S", "0.01")
    s3fs.S3FileSystem(**s3.storage_options).mkdir("flaky-bucket")
    opts = {"key": s3.key, "secret": s3.secret, "client_kwargs": {"endpoint_url": flaky_s3.url}}
    store = VersionedStore("s3://flaky-bucket/root", opts)
    files = {"data.txt": b"payload", "manifest.json": storage.json_bytes({"n": 1})}
    handles = [store.publish("s", version_id("t", "1", {"n": n}), files) for n in range(3)]
    store.point("asset", handles[2])
    store.lease("run-1", "asset", handles[2], "read")
    assert store.pointer("asset") == handles[2] and store.pointers() == {"asset": handles[2]}
    assert storage.read_bytes(storage.join(handles[0].url, "data.txt"), **opts) == b"payload"
    assert [v.complete for v in store.versions()] == [True] * 3
    plan = store.plan_retention(keep=0, min_age_s=0, active_holders=set())
    store.apply_retention(plan)
    assert [v.version for v in store.versions()] == [handles[2].version] and store.leases() == []
    assert flaky_s3.refused >= 5  # the faults were really there
