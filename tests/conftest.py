"""Shared fixtures: paths of the real offline data and real servers (MariaDB, moto S3, HTTP)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import MariaDB, S3Endpoint, http_server, load_test_db, mariadb_server, moto_s3_server

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
TESTDB = DATA / "ensembl_testdb"
HUMAN = DATA / "human_releases"
HUMAN_RELEASES = (84, 93, 100, 104, 110, 114)
TESTDB_NAMES = ("rest_human_core_grch37", "patch_human_grch37", "synthetic_core")
HEART_H5AD = DATA / "h5ad" / "heart_atlas_subset_320x136.h5ad"
REST_MYSQL_DB = "homo_sapiens_core_72_37"


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A real MariaDB on 127.0.0.1 holding ``rest_human_core_grch37`` as ``homo_sapiens_core_72_37``."""
    with mariadb_server(tmp_path_factory.mktemp("mariadb")) as db:
        load_test_db(db, TESTDB / "rest_human_core_grch37", REST_MYSQL_DB)
        yield db


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """moto's S3 server on 127.0.0.1."""
    with moto_s3_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def human_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``human_releases`` served over HTTP on 127.0.0.1."""
    with http_server(HUMAN, tmp_path_factory.mktemp("http")) as url:
        yield url


@pytest.fixture(scope="session")
def human_home(tmp_path_factory: pytest.TempPathFactory):
    """A home folder holding the six human extracts and their snapshot: (workspace, snapshot handle, snapshot)."""
    from idtrack_core.ensembl import DumpSource
    from idtrack_core.workspace import Workspace

    ws = Workspace(str(tmp_path_factory.mktemp("human_home")), "homo_sapiens", "GRCh38")
    handle = ws.snapshot(ws.extracts(DumpSource(str(HUMAN))))
    return ws, handle, ws.load_snapshot(handle)


@pytest.fixture(scope="session")
def human_hgnc_index(human_home):
    """The resolution index of the human snapshot for release 114, HGNC Symbol."""
    from idtrack_core.convert import ConversionTarget, ResolutionIndex

    return ResolutionIndex.build(human_home[2], ConversionTarget(114, "HGNC Symbol"))
