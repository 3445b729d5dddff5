"""A live MariaDB holding hostile names: they are never run as SQL, refused in one line, or read as plain data."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from idtrack_core.ensembl import read_extract

from .helpers import error_line, run_cli
from conftest import REST_MYSQL_DB, TESTDB
from servers import MariaDB, load_test_db

pytestmark = pytest.mark.server

HOSTILE_DATABASES = ("homo_sapiens_core_73_37`; DROP TABLE gene; --", "homo_sapiens_core_74_37' OR '1'='1")
HOSTILE_LABEL = "x'); DROP TABLE xref; --"
PLAIN_DB = "idtrack_hostilis_core_73_1"


def gene_rows(db: MariaDB) -> int:
    with db.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{REST_MYSQL_DB}`.gene")
        return int(cur.fetchone()[0])


@contextlib.contextmanager
def databases(db: MariaDB, *names: str) -> Iterator[None]:
    """Create empty databases with these names; drop them afterwards."""
    with db.root_connection() as conn, conn.cursor() as cur:
        for name in names:
            cur.execute("CREATE DATABASE `{}`".format(name.replace("`", "``")))
    try:
        yield
    finally:
        with db.root_connection() as conn, conn.cursor() as cur:
            for name in names:
                cur.execute("DROP DATABASE IF EXISTS `{}`".format(name.replace("`", "``")))


def test_hostile_database_names_are_ignored(mariadb):
    source = f"mysql://anonymous@{mariadb.host}:{mariadb.port}"
    genes = gene_rows(mariadb)
    with databases(mariadb, *HOSTILE_DATABASES):
        proc = run_cli("releases", "--source", source, "--species", "homo_sapiens")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [f"72\t37\t{REST_MYSQL_DB}"]
        missing = run_cli("releases", "--source", source, "--species", "homo_sapiens", "--assembly", "GRCh38")
        assert "assemblies of homo_sapiens: 37" in error_line(missing)
    assert gene_rows(mariadb) == genes


def test_hostile_species_name_is_refused_before_any_query(mariadb):
    genes = gene_rows(mariadb)
    source = f"mysql://anonymous@{mariadb.host}:{mariadb.port}"
    proc = run_cli("releases", "--source", source, "--species", "homo_sapiens`; DROP TABLE gene; --")
    assert "invalid species name" in error_line(proc)
    assert gene_rows(mariadb) == genes


def test_hostile_and_latin1_values_are_data(mariadb, tmp_path):
    """Values holding SQL or bytes that are not UTF-8 are extracted as they are (Latin-1 counted)."""
    load_test_db(mariadb, TESTDB / "rest_human_core_grch37", PLAIN_DB)
    try:
        with mariadb.root_connection(PLAIN_DB) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT o.xref_id FROM object_xref o JOIN gene g ON g.gene_id = o.ensembl_id "
                "WHERE o.ensembl_object_type = 'Gene' ORDER BY o.xref_id LIMIT 2"
            )
            hostile, latin1 = (row[0] for row in cur.fetchall())  # two xrefs of genes: they reach the extract
            cur.execute("UPDATE xref SET display_label = %s WHERE xref_id = %s", (HOSTILE_LABEL, hostile))
            cur.execute("UPDATE xref SET display_label = X'436166E9' WHERE xref_id = %s", (latin1,))  # Caf\xe9
        source = f"mysql://anonymous@{mariadb.host}:{mariadb.port}"
        out = tmp_path / "extract"
        proc = run_cli("extract", "--source", source, "--species", "idtrack_hostilis", "--release", "73", "--out", out)
        assert proc.returncode == 0, proc.stderr
        ex = read_extract(str(out))
        assert ex.manifest["non_utf8_values"] == {"xref": 1}
        assert {HOSTILE_LABEL, "Café"} <= set(ex.tables["xrefs"]["display_label"])
    finally:
        with mariadb.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{PLAIN_DB}`")
