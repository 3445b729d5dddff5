"""The Dagster UI for real: ``dagster-webserver`` on 127.0.0.1, driven through ``POST /graphql`` and Chromium.

One webserver per module (``benchmarks/ui_screenshot.py`` starts it: own session, bounded wait on
``/server_info``, the process group killed at the end) over a temporary ``DAGSTER_HOME`` / ``IDTRACK_HOME`` /
``IDTRACK_STORAGE``. The instance uses the default (synchronous) run coordinator: a run launched through GraphQL
starts at once in a subprocess of the webserver. The repo's ``dagster.yaml`` queues runs, which would need the
daemon; ``dagster dev`` would bring it, but also its sensors (both default to RUNNING: they would add partitions
and launch runs of their own while the test runs) and a second code server, which is slower and not
deterministic on 2 cores.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ui_screenshot import CHROMIUM, dagster_webserver, graphql, prepare_home, render_lineage
from idtrack_assets.definitions import ASSETS

pytestmark = [pytest.mark.server, pytest.mark.slow]

NAMES = sorted(a.key.to_user_string() for a in ASSETS)
GATES = {"max_failure_rate", "max_ambiguity_rate", "max_collisions", "matching_schema"}
RUN_TIMEOUT_S = 180.0
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class Webserver:
    """A running webserver and the folders it works in."""

    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home, self.storage = url, home, home / "storage"

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.url, query, variables)


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    home = tmp_path_factory.mktemp("ui_home")
    prepare_home(home)  # demo mirror (600 genes, releases 1-4) + instance yaml, before the server starts
    with dagster_webserver(home, home / "webserver.log") as url:
        yield Webserver(url, home)


ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    groupName
    partitionDefinition { type name dimensionTypes { type dynamicPartitionsDefinitionName } }
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } }
  }
}
"""


def test_graphql_lists_every_asset_with_partitions_and_checks(webserver: Webserver):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in webserver.query(ASSET_NODES)["assetNodes"]}
    assert sorted(nodes) == NAMES
    assert {n["groupName"] for n in nodes.values()} == {"ensembl", "graph", "studies", "atlas", "report"}

    partitions = {k: n["partitionDefinition"] for k, n in nodes.items() if n["partitionDefinition"]}
    assert {k: (p["type"], p["name"]) for k, p in partitions.items()} == {
        "ensembl_release_extract": ("DYNAMIC", "ensembl_releases"),
        "study_features": ("DYNAMIC", "studies"),
        "study_matchings": ("DYNAMIC", "studies"),
    }
    for p in partitions.values():
        assert [d["dynamicPartitionsDefinitionName"] for d in p["dimensionTypes"]] == [p["name"]]

    checks = {
        k: {c["name"]: c["blocking"] for c in n["assetChecksOrError"]["checks"]}
        for k, n in nodes.items()
        if n["assetChecksOrError"]["checks"]
    }
    assert checks == {
        "study_matchings": dict.fromkeys(GATES, True),
        "ensembl_release_extract": {"extract_schema": False},
    }


REPOSITORY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
ADD_PARTITION = """
mutation($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on PythonError { message }
    ... on DuplicateDynamicPartitionError { message }
  }
}
"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""
RUN_STATUS = """
query($id: ID!) {
  runOrError(runId: $id) {
    ... on Run {
      status
      tags { key value }
      eventConnection(limit: 500) {
        events { __typename ... on MessageEvent { message } ... on ExecutionStepFailureEvent { error { message } } }
      }
    }
  }
}
"""
MATERIALIZATIONS = """
query($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: 1) {
        partition
        runId
        metadataEntries { label ... on PathMetadataEntry { path } ... on IntMetadataEntry { intValue } }
      }
      definition {
        partitionKeysByDimension { partitionKeys }
        assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
      }
    }
  }
}
"""


def wait_for_run(webserver: Webserver, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    """Poll the run until it ends (bounded); the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = webserver.query(RUN_STATUS, {"id": run_id})["runOrError"]
        if run["status"] in TERMINAL:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['status']} after {timeout_s:.0f}s")
        time.sleep(0.5)


def test_launch_a_partitioned_run_through_graphql(webserver: Webserver):
    repo = webserver.query(REPOSITORY)["repositoriesOrError"]["nodes"][0]
    selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}

    added = webserver.query(ADD_PARTITION, {"repo": selector, "name": "ensembl_releases", "key": "1"})
    assert added["addDynamicPartition"] == {"__typename": "AddDynamicPartitionSuccess", "partitionKey": "1"}

    params = {
        "selector": {**selector, "jobName": "release_extract_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "1"}]},
    }
    launched = webserver.query(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    run = wait_for_run(webserver, run_id)
    events = run["eventConnection"]["events"]
    errors = [e["error"]["message"] for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert run["status"] == "SUCCESS", errors or [e.get("message") for e in events][-20:]
    assert {"key": "dagster/partition", "value": "1"} in run["tags"]

    asset = webserver.query(MATERIALIZATIONS, {"key": {"path": ["ensembl_release_extract"]}, "partitions": ["1"]})
    asset = asset["assetOrError"]
    [event] = asset["assetMaterializations"]
    assert (event["partition"], event["runId"]) == ("1", run_id)
    meta = {m["label"]: m for m in event["metadataEntries"]}
    path = Path(meta["path"]["path"])
    assert path.is_relative_to(webserver.storage), path  # the run wrote into the test's storage, not the repo
    assert (path / "manifest.json").exists()
    assert meta["rows_genes"]["intValue"] > 0
    assert asset["definition"]["partitionKeysByDimension"] == [{"partitionKeys": ["1"]}]
    checks = asset["definition"]["assetChecksOrError"]["checks"]
    assert [(c["name"], c["executionForLatestMaterialization"]["status"]) for c in checks] == [
        ("extract_schema", "SUCCEEDED")
    ]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    return width, height


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} absent (Debian package chromium)")
def test_lineage_page_renders_every_asset_in_chromium(webserver: Webserver, tmp_path: Path):
    png = tmp_path / "lineage.png"
    text = render_lineage(webserver.url, png, tmp_path / "chromium-profile", NAMES)
    assert "Global asset lineage" in text
    for name in [*NAMES, "ensembl", "graph", "studies", "atlas", "report"]:
        assert name in text, name
    data = png.read_bytes()
    assert png_size(data) == (1600, 1000)
    assert len(data) > 20_000  # a rendered graph, not a blank page
