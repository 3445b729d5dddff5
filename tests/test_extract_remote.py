"""The same extract comes out of a live MariaDB, an HTTP mirror and S3 as out of local dumps."""

from __future__ import annotations

import pandas as pd
import pytest
import s3fs

from idtrack_core.ensembl import DumpSource, MySQLSource, extract_release, read_extract, write_extract

from conftest import HUMAN, REST_MYSQL_DB, TESTDB

pytestmark = pytest.mark.server


def assert_same_tables(a, b) -> None:
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_dtype=True, obj=name)


def test_mysql_extract_equals_dump_extract_table_by_table(mariadb):
    source = MySQLSource(mariadb.host, mariadb.port, user="anonymous")
    dbs = source.list_databases("homo_sapiens", "GRCh37")
    assert [(d.name, d.release) for d in dbs] == [(REST_MYSQL_DB, 72)]
    from_mysql = extract_release(source, "homo_sapiens", "GRCh37", 72)
    from_dump = extract_release(DumpSource(str(TESTDB / "rest_human_core_grch37")), "homo_sapiens", "GRCh37", 72)
    assert_same_tables(from_mysql, from_dump)
    assert len(from_mysql.tables["history"]) == 85  # the server's unique key dropped the 15 duplicates too
    assert from_mysql.manifest["source"] == f"mysql://anonymous@{mariadb.host}:{mariadb.port}"


def test_mysql_source_from_url_and_unknown_release(mariadb):
    source = MySQLSource.from_url(f"mysql://anonymous@{mariadb.host}:{mariadb.port}")
    assert source.list_databases("mus_musculus") == []
    with pytest.raises(Exception, match="release 71"):
        extract_release(source, "homo_sapiens", None, 71)


def test_http_mirror_extract_equals_local(human_http):
    source = DumpSource(f"{human_http}/")
    assert [d.release for d in source.list_databases("homo_sapiens", "GRCh38")] == [
        84,
        93,
        100,
        104,
        110,
        114,
    ]
    remote = extract_release(source, "homo_sapiens", "GRCh38", 104)
    local = extract_release(DumpSource(str(HUMAN)), "homo_sapiens", "GRCh38", 104)
    assert_same_tables(remote, local)
    assert remote.manifest["source"] == human_http


def test_s3_mirror_extract_equals_local_and_writes_to_s3(s3):
    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.mkdir("mirror")
    db = "release-93/mysql/homo_sapiens_core_93_38"
    fs.put(str(HUMAN / db) + "/", f"mirror/{db}/", recursive=True)
    source = DumpSource("s3://mirror", storage_options=s3.storage_options)
    assert [d.release for d in source.list_databases("homo_sapiens", "38")] == [93]
    remote = extract_release(source, "homo_sapiens", "GRCh38", 93)
    local = extract_release(DumpSource(str(HUMAN)), "homo_sapiens", "GRCh38", 93)
    assert_same_tables(remote, local)

    write_extract(remote, "s3://mirror/extracts/93", **s3.storage_options)
    back = read_extract("s3://mirror/extracts/93", verify=True, **s3.storage_options)
    assert_same_tables(back, local)


def test_mysql_species_names_from_the_server(mariadb):
    """``human`` and ``9606`` resolve through the meta tables of the server's core databases (one query)."""
    from idtrack_core.ensembl.species import resolve_species
    from idtrack_core.errors import UnknownSpeciesError

    source = MySQLSource(mariadb.host, mariadb.port, user="anonymous")
    assert resolve_species(source, "human") == resolve_species(source, "9606") == "homo_sapiens"
    with pytest.raises(UnknownSpeciesError, match="closest names: human"):
        resolve_species(source, "humam")
