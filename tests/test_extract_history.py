"""Linear history: release extracts that hold only the mapping sessions the previous release lacks give the same
snapshot, byte for byte, as extracts that each hold the whole cumulative ``stable_id_event`` (and ``gene_archive``,
``peptide_archive``), also when one snapshot combines assemblies."""

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

REST = TESTDB / "rest_human_core_grch37"

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


def test_two_assembly_snapshot_from_new_history_equals_the_cumulative_one(tmp_path) -> None:
    """Each assembly's chain is read once (the frozen older-assembly releases hold no new session: their history is
    empty, which is not a truncated dump), and the snapshot is the one complete extracts give."""
    simulate_mirror(str(tmp_path / "mirror"), genes=300, releases=(1, 6), seed=5, assembly_switch=4)
    source = DumpSource(str(tmp_path / "mirror"))
    dbs = sorted(source.list_databases(SPECIES), key=lambda d: (d.release, d.assembly))
    full = [extract_release(source, SPECIES, "SIM" + d.assembly, d.release, history="all") for d in dbs]
    new = [extract_release(source, SPECIES, "SIM" + d.assembly, d.release, history="new") for d in dbs]
    frozen = [e for e in new if e.assembly == "0" and e.release >= 4]
    assert frozen and all(e.manifest["history"]["scope"] == "new" and e.tables["history"].empty for e in frozen)
    assert all(len(e.tables["sessions"]) == len(f.tables["sessions"]) for e, f in zip(new, full, strict=True))
    assert_same_snapshot(build_snapshot(full), build_snapshot(new))


def rest_mirror(root: Path, last_session_before: int = 381, events_lost: bool = False) -> Path:
    """Ensembl's ``rest_human_core_grch37`` as two releases in the FTP layout: release 60 with the mapping sessions
    up to ``last_session_before`` (and their events and archived genes), release 72 with all of them; both with a
    ``peptide_archive`` (the peptides their archived genes refer to, plus one no gene refers to). With
    ``events_lost`` release 72's ``stable_id_event`` is empty (a truncated dump)."""
    peptides = {i: f"M{'A' * (i % 7)}K" for i in (1, 75538, 93531, 93537, 145871)}  # 1: referred to by no gene
    create = (
        "CREATE TABLE `peptide_archive` (\n  `peptide_archive_id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n"
        "  `md5_checksum` varchar(32) DEFAULT NULL,\n  `peptide_seq` mediumtext NOT NULL,\n"
        "  PRIMARY KEY (`peptide_archive_id`)\n) ENGINE=MyISAM DEFAULT CHARSET=latin1;\n"
    )
    session_column = {"mapping_session": 0, "stable_id_event": 4, "gene_archive": 7}
    for release, name in ((60, "homo_sapiens_core_60_37"), (72, "homo_sapiens_core_72_37")):
        folder = root / f"release-{release}" / "mysql" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.sql.gz").write_bytes(gzip.compress(((REST / "table.sql").read_text() + create).encode()))
        tables = {p.stem: p.read_text().splitlines(keepends=True) for p in REST.glob("*.txt")}
        for table, column in session_column.items():
            keep = release == 72 or (lambda line, c=column: int(line.split("\t")[c]) <= last_session_before)
            tables[table] = [line for line in tables[table] if keep is True or keep(line)]
        if events_lost and release == 72:
            tables["stable_id_event"] = []
        referred = {int(line.split("\t")[6]) for line in tables["gene_archive"]}
        tables["peptide_archive"] = [f"{i}\t\\N\t{seq}\n" for i, seq in peptides.items() if i in referred | {1}]
        for table, lines in tables.items():
            (folder / f"{table}.txt.gz").write_bytes(gzip.compress("".join(lines).encode()))
    return root


def test_archives_of_new_history_hold_only_the_new_sessions_and_give_the_same_snapshot(tmp_path) -> None:
    source = DumpSource(str(rest_mirror(tmp_path / "mirror")))
    full = [extract_release(source, "homo_sapiens", None, r, history="all") for r in (60, 72)]
    new = [extract_release(source, "homo_sapiens", None, r, history="new") for r in (60, 72)]
    assert new[1].manifest["history"]["since"] == {"release": 60, "database": "homo_sapiens_core_60_37"}
    assert set(new[1].tables["gene_archive"]["mapping_session_id"]) == {389}  # the only archived gene of 382..393
    assert new[1].tables["peptide_archive"]["peptide_archive_id"].tolist() == [145871]  # the peptide it refers to
    assert len(full[1].tables["peptide_archive"]) == 5 and len(new[1].tables["sessions"]) == 42  # sessions: all
    assert session_ids(new[1]) == session_ids(full[1]) - session_ids(full[0]) == {383, 389}
    snap = build_snapshot(new)
    assert len(snap.tables["gene_archive"]) == 4 and len(snap.tables["peptide_archive"]) == 5
    assert_same_snapshot(build_snapshot(full), snap)


def test_new_history_without_its_events_is_refused_at_snapshot_time(tmp_path) -> None:
    """A truncated ``stable_id_event``: release 72 has sessions release 60 lacks, yet no history row."""
    source = DumpSource(str(rest_mirror(tmp_path / "mirror", events_lost=True)))
    new = [extract_release(source, "homo_sapiens", None, r, history="new") for r in (60, 72)]
    with pytest.raises(SnapshotError, match=r"release 72 \(homo_sapiens_core_72_37.* has no history rows although"):
        build_snapshot(new)


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
