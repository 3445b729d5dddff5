"""Linear history: release extracts that hold only the mapping sessions the previous release lacks give the same
snapshot, byte for byte, as extracts that each hold the whole cumulative ``stable_id_event``."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from idtrack_core.cli import main as cli_main
from idtrack_core.ensembl import DumpSource, MySQLSource, extract_release, read_extract
from idtrack_core.ensembl.databases import RowFilter
from idtrack_core.errors import SnapshotError
from idtrack_core.graph import build_snapshot
from idtrack_core.graph.model import TABLES
from idtrack_core.graph.store import snapshot_files
from idtrack_core.simulation import ASSEMBLY, SPECIES, simulate_mirror

from conftest import HUMAN, HUMAN_RELEASES, REST_MYSQL_DB, TESTDB

SIM_RELEASES = (1, 7)


def session_ids(extract) -> set[int]:
    return set(extract.tables["history"]["mapping_session_id"].astype(int))


def dump_session_rows(db_folder: Path) -> pd.Series:
    """Rows per mapping session of a dump's stable_id_event, counted straight from the file."""
    with gzip.open(db_folder / "stable_id_event.txt.gz", "rt") as f:
        sessions = [int(line.split("\t")[4]) for line in f]
    return pd.Series(sessions).value_counts()


def snapshot_table_bytes(snap) -> dict[str, bytes]:
    """The Parquet bytes of every snapshot table except ``releases`` (whose extract checksums differ by design)."""
    files = snapshot_files(snap)
    return {name: files[f"{name}.parquet"] for name in TABLES if name != "releases"}


def assert_same_snapshot(old, new) -> None:
    assert snapshot_table_bytes(old) == snapshot_table_bytes(new)
    keep = ["release", "database"]
    pd.testing.assert_frame_equal(old.tables["releases"][keep], new.tables["releases"][keep])
    assert old.manifest["rows"] == new.manifest["rows"]


@pytest.fixture(scope="module")
def sim_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim-history") / "mirror"
    simulate_mirror(str(out), genes=400, releases=SIM_RELEASES, seed=7)
    return out


def test_simulated_snapshot_from_new_history_equals_the_cumulative_one(sim_mirror: Path) -> None:
    source = DumpSource(str(sim_mirror))
    releases = range(SIM_RELEASES[0], SIM_RELEASES[1] + 1)
    full = [extract_release(source, SPECIES, ASSEMBLY, r, history="all") for r in releases]
    new = [extract_release(source, SPECIES, ASSEMBLY, r, history="new") for r in releases]
    seen: set[int] = set()
    for a, b in zip(full, new, strict=True):
        assert session_ids(b) == session_ids(a) - seen, a.release
        seen |= session_ids(a)
    assert sum(len(e.tables["history"]) for e in new) < sum(len(e.tables["history"]) for e in full) / 2
    assert_same_snapshot(build_snapshot(full), build_snapshot(new))


@pytest.mark.slow
def test_human_snapshot_from_new_history_equals_the_cumulative_one(human_home) -> None:
    ws = human_home[0]  # the workspace extracts with history="new"
    new = ws.cached_extracts()
    assert {e.manifest()["release"]: e.manifest()["history"]["scope"] for e in new} == {
        84: "all",
        93: "new",
        100: "new",
        104: "new",
        110: "new",
        114: "new",
    }
    source = DumpSource(str(HUMAN))
    full = [extract_release(source, "homo_sapiens", "GRCh38", r, history="all") for r in HUMAN_RELEASES]
    assert_same_snapshot(build_snapshot(full), build_snapshot([e.url for e in new]))


def test_new_history_reads_only_the_sessions_the_previous_release_lacks() -> None:
    source = DumpSource(str(HUMAN))
    db114 = HUMAN / "release-114/mysql/homo_sapiens_core_114_38"
    per_session = dump_session_rows(db114)
    ex = extract_release(source, "homo_sapiens", "GRCh38", 114, history="new")
    assert session_ids(ex) == {5}
    assert ex.manifest["source_rows"]["stable_id_event"] == per_session[5] == 29_496
    assert ex.manifest["history"] == {
        "scope": "new",
        "since": {"release": 110, "database": "homo_sapiens_core_110_38"},
    }
    first = extract_release(source, "homo_sapiens", "GRCh38", 84, history="new")
    assert first.manifest["history"] == {"scope": "all"}  # nothing before it at the source


def test_broken_history_chain_is_refused_with_the_missing_release() -> None:
    source = DumpSource(str(HUMAN))
    new = [extract_release(source, "homo_sapiens", "GRCh38", r, history="new") for r in (100, 104)]
    with pytest.raises(SnapshotError, match=r"release 100 holds only the history new since release 93"):
        build_snapshot(new)
    complete = extract_release(source, "homo_sapiens", "GRCh38", 100, history="all")
    snap = build_snapshot([complete, new[1]])
    assert set(snap.tables["events"]["mapping_session_id"].dropna().astype(int)) == {1, 2, 3}


def test_cli_extract_says_what_history_it_holds(tmp_path, capsys) -> None:
    args = ["extract", "--source", str(HUMAN), "--species", "homo_sapiens", "--assembly", "GRCh38", "--release"]
    assert cli_main([*args, "100", "--out", str(tmp_path / "all")]) == 0
    assert "every mapping session of the database (complete on its own)" in capsys.readouterr().out
    assert cli_main([*args, "100", "--out", str(tmp_path / "new"), "--history", "new"]) == 0
    out = capsys.readouterr().out
    assert "only the mapping sessions new since release 93 (homo_sapiens_core_93_38)" in out
    assert session_ids(read_extract(str(tmp_path / "all"))) == {1, 2}
    assert session_ids(read_extract(str(tmp_path / "new"))) == {2}


@pytest.mark.server
def test_mysql_row_filter_reads_the_same_rows_as_the_dump(mariadb) -> None:
    mysql = MySQLSource(mariadb.host, mariadb.port, user="anonymous")
    dump = DumpSource(str(TESTDB / "rest_human_core_grch37"))
    [db_mysql] = [d for d in mysql.list_databases("homo_sapiens", "GRCh37") if d.name == REST_MYSQL_DB]
    [db_dump] = dump.list_databases("homo_sapiens", "GRCh37")
    columns = ["old_stable_id", "new_stable_id", "mapping_session_id", "score"]
    sessions = sorted(set(dump.read_table(db_dump, "stable_id_event", ["mapping_session_id"])["mapping_session_id"]))
    order = columns[:3]
    for rows in (
        RowFilter.of("mapping_session_id", sessions[:5], exclude=True),
        RowFilter.of("mapping_session_id", []),
    ):
        a = mysql.read_table(db_mysql, "stable_id_event", columns, rows).drop_duplicates()
        b = dump.read_table(db_dump, "stable_id_event", columns, rows).drop_duplicates()
        assert set(a["mapping_session_id"]) == set(sessions[5:] if rows.exclude else [])
        pd.testing.assert_frame_equal(
            a.sort_values(order).reset_index(drop=True), b.sort_values(order).reset_index(drop=True)
        )
