"""Bad input gives a clear error naming the file and line or table, and leaves no partial extract."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from idtrack_core import cli
from idtrack_core.ensembl import DumpSource, MySQLSource, extract_release, read_extract
from idtrack_core.errors import (
    DumpFormatError,
    MissingTableError,
    SourceUnreachableError,
    UnknownReleaseError,
    UnknownSpeciesError,
)

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


def test_wrong_column_count_names_file_and_line(tmp_path):
    folder = tmp_path / "testdb"
    shutil.copytree(TESTDB / "synthetic_core", folder)
    gene = folder / "gene.txt"
    gene.chmod(0o644)
    lines = gene.read_text().splitlines()
    lines.insert(5, "\t".join(lines[5].split("\t")[:-2]))
    gene.write_text("\n".join(lines) + "\n")
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
        DumpSource(url, attempts=3, backoff_s=0.05).list_databases("homo_sapiens")
    assert time.monotonic() - started < 30


def test_unreachable_mysql_server_fails_after_bounded_retries():
    source = MySQLSource("127.0.0.1", free_port(), connect_timeout_s=2, attempts=2, backoff_s=0.05)
    with pytest.raises(SourceUnreachableError, match=r"connecting to mysql://anonymous@127\.0\.0\.1:\d+"):
        source.list_databases("homo_sapiens")


def test_mysql_password_never_appears_in_url_or_errors():
    source = MySQLSource.from_url(f"mysql://reader:s3cret@127.0.0.1:{free_port()}", attempts=1)
    assert "s3cret" not in source.url and "s3cret" not in repr(source)
    with pytest.raises(SourceUnreachableError) as info:
        source.list_databases("homo_sapiens")
    assert "s3cret" not in str(info.value)
