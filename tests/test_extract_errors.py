"""Bad input gives a clear error naming the file and line or table, and leaves no partial extract."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from idtrack_core import cli
from idtrack_core.ensembl import DumpSource, MySQLSource, extract_release, read_extract
from idtrack_core.errors import (
    DumpFormatError,
    ExtractValidationError,
    MissingTableError,
    SourceUnreachableError,
    UnknownReleaseError,
    UnknownSpeciesError,
)
from idtrack_core.network import NetworkSettings

from conftest import HUMAN, TESTDB
from servers import free_port

DB114 = Path("release-114/mysql/homo_sapiens_core_114_38")


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A private copy of release 114 of the human mirror, to damage."""
    root = tmp_path / "mirror"
    shutil.copytree(HUMAN / DB114, root / DB114)
    for f in (root / DB114).iterdir():
        f.chmod(0o644)
    return root


def run_extract(source: Path | str, out: Path, release: str = "114", species: str = "homo_sapiens") -> int:
    return cli.main(["extract", "--source", str(source), "--species", species, "--release", release, "--out", str(out)])


def test_missing_table_is_named_and_nothing_is_written(mirror, tmp_path, capsys):
    (mirror / DB114 / "gene.txt.gz").unlink()
    with pytest.raises(MissingTableError, match="'gene'"):
        extract_release(DumpSource(str(mirror)), "homo_sapiens", "GRCh38", 114)
    assert run_extract(mirror, tmp_path / "out") == 2
    assert "homo_sapiens_core_114_38: table 'gene' has no data file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_truncated_gzip_names_the_file(mirror, tmp_path, capsys):
    path = mirror / DB114 / "xref.txt.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DumpFormatError, match=r"xref\.txt\.gz: truncated or corrupt gzip"):
        extract_release(DumpSource(str(mirror)), "homo_sapiens", "GRCh38", 114)
    assert run_extract(mirror, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()


def copied_testdb_with_gene_rows(tmp_path: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    """A copy of the synthetic test database whose ``gene.txt`` lines are ``edit(lines)``."""
    folder = tmp_path / "testdb"
    shutil.copytree(TESTDB / "synthetic_core", folder)
    gene = folder / "gene.txt"
    gene.chmod(0o644)
    gene.write_text("\n".join(edit(gene.read_text().splitlines())) + "\n")
    return folder


def test_wrong_column_count_names_file_and_line(tmp_path):
    def cut_line_6(lines: list[str]) -> list[str]:
        return [*lines[:5], "\t".join(lines[5].split("\t")[:-2]), *lines[5:]]

    folder = copied_testdb_with_gene_rows(tmp_path, cut_line_6)
    with pytest.raises(DumpFormatError, match=r"gene\.txt:6: table 'gene' expects 16 fields, found 14"):
        extract_release(DumpSource(str(folder)), "homo_sapiens", None, 4)


def test_failed_extract_keeps_the_previous_good_one(mirror, tmp_path):
    out = tmp_path / "out"
    assert run_extract(mirror, out) == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    (mirror / DB114 / "xref.txt.gz").write_bytes(b"not gzip at all")
    assert run_extract(mirror, out) == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert read_extract(str(out), verify=True).release == 114
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp folders left


def test_a_repeated_primary_key_is_refused_by_name(tmp_path):
    """Two gene rows with one gene_id: which stable id a transcript has cannot be told, so nothing is guessed."""
    repeated = []

    def repeat_line_8(lines: list[str]) -> list[str]:
        copy = lines[7].split("\t")
        copy[-4] = "ENSG99999999999"  # the same gene_id (first field) under another stable id
        repeated.append(copy[0])
        return [*lines, "\t".join(copy)]

    folder = copied_testdb_with_gene_rows(tmp_path, repeat_line_8)
    first = repeated[0]
    with pytest.raises(ExtractValidationError, match=rf"gene_id repeats in table gene \(1 values, e.g. \[{first}\]\)"):
        extract_release(DumpSource(str(folder)), "homo_sapiens", None, 4)


def test_unknown_release_lists_the_available_ones():
    with pytest.raises(UnknownReleaseError, match=r"release 999 .* available: 84, 93, 100, 104, 110, 114"):
        extract_release(DumpSource(str(HUMAN)), "homo_sapiens", "GRCh38", 999)


def test_unknown_species_and_assembly():
    with pytest.raises(UnknownSpeciesError, match="mus_musculus"):
        extract_release(DumpSource(str(HUMAN)), "mus_musculus", None, 114)
    with pytest.raises(UnknownSpeciesError, match="GRCh37"):
        extract_release(DumpSource(str(HUMAN)), "homo_sapiens", "GRCh37", 114)
    with pytest.raises(ValueError, match="invalid species"):
        DumpSource(str(HUMAN)).list_databases("homo sapiens; DROP")


def test_unreachable_http_server_fails_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}/mirror"
    started = time.monotonic()
    with pytest.raises(SourceUnreachableError, match=r"unreachable after 3 attempts"):
        DumpSource(url, network=NetworkSettings(attempts=3, backoff_s=0.05)).list_databases("homo_sapiens")
    assert time.monotonic() - started < 30


def test_unreachable_mysql_server_fails_after_bounded_retries():
    source = MySQLSource(
        "127.0.0.1", free_port(), network=NetworkSettings(connect_timeout_s=2, attempts=2, backoff_s=0.05)
    )
    with pytest.raises(SourceUnreachableError, match=r"at mysql://anonymous@127\.0\.0\.1:\d+: unreachable after 2"):
        source.list_databases("homo_sapiens")


def test_mysql_password_never_appears_in_url_or_errors():
    source = MySQLSource.from_url(f"mysql://reader:s3cret@127.0.0.1:{free_port()}", network=NetworkSettings(attempts=1))
    assert "s3cret" not in source.url and "s3cret" not in repr(source)
    with pytest.raises(SourceUnreachableError) as info:
        source.list_databases("homo_sapiens")
    assert "s3cret" not in str(info.value)


def _pre65_copy(src: Path, dst: Path) -> None:
    """Rewrite a test DB into the pre-65 schema: stable ids and versions in ``{object}_stable_id`` tables."""
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    sql = (dst / "table.sql").read_text()
    from idtrack_core.ensembl.mysqldump import parse_create_tables

    schemas = parse_create_tables(sql)
    for obj in ("gene", "transcript", "translation"):
        cols = schemas[obj].column_names
        keep = [i for i, c in enumerate(cols) if c not in ("stable_id", "version")]
        sid, ver = cols.index("stable_id"), cols.index("version")
        rows, ids = [], []
        for line in (dst / f"{obj}.txt").read_text().splitlines():
            fields = line.split("\t")
            rows.append("\t".join(fields[i] for i in keep))
            ids.append("\t".join([fields[0], fields[sid], fields[ver], "\\N", "\\N"]))
        (dst / f"{obj}.txt").write_text("\n".join(rows) + "\n")
        (dst / f"{obj}_stable_id.txt").write_text("\n".join(ids) + "\n")
        block_start = sql.index(f"CREATE TABLE `{obj}` (")
        block_end = sql.index(";", block_start)
        block = sql[block_start:block_end]
        lines = [ln for ln in block.split("\n") if not ln.strip().startswith(("`stable_id`", "`version`"))]
        lines = [ln for ln in lines if "stable_id_idx" not in ln]
        sql = sql[:block_start] + "\n".join(lines) + sql[block_end:]
        sql += (
            f"\nCREATE TABLE `{obj}_stable_id` (\n  `{obj}_id` int(10) unsigned NOT NULL,\n"
            "  `stable_id` varchar(128) NOT NULL,\n  `version` int(10) DEFAULT NULL,\n"
            "  `created_date` datetime DEFAULT NULL,\n  `modified_date` datetime DEFAULT NULL,\n"
            f"  PRIMARY KEY (`{obj}_id`)\n) ENGINE=MyISAM;\n"
        )
    (dst / "table.sql").write_text(sql)
    # quirks of old databases: '0' instead of NULL ids and versions in the history
    events = dst / "stable_id_event.txt"
    events.write_text(events.read_text() + "0\t0\tG1\t1\t1\tgene\t0\n\\N\t\\N\t\\N\t\\N\t1\tgene\t0\n")


def test_pre65_stable_id_tables_give_the_same_extract(tmp_path):
    src = TESTDB / "synthetic_core"
    _pre65_copy(src, tmp_path / "old")
    old = extract_release(DumpSource(str(tmp_path / "old")), "homo_sapiens", None, 4)
    new = extract_release(DumpSource(str(src)), "homo_sapiens", None, 4)
    for name in ("genes", "transcripts", "translations", "xrefs", "synonyms"):
        pd.testing.assert_frame_equal(old.tables[name], new.tables[name], obj=name)
    h = old.tables["history"]
    birth = h[(h["new_stable_id"] == "G1") & h["old_stable_id"].isna() & (h["mapping_session_id"] == 1)]
    assert len(birth) == 1 and birth["old_version"].isna().all()  # '0' id and version read as NULL
    assert len(h) == len(new.tables["history"]) + 1  # the all-NULL row is dropped
