"""Local files are read, listed and written without fsspec, under the names and details fsspec would give."""

from __future__ import annotations

import os

import pytest
from fsspec.implementations.local import LocalFileSystem

from idtrack_core import storage
from idtrack_core.ensembl.sources import DumpSource

from conftest import HUMAN


@pytest.mark.parametrize("url", ["/a/b", "/a/b/", "a/b", "./a/b", ".", "~/x", "file:///a/b", "file://rel/x", "/"])
def test_local_path_names_a_path_as_fsspec_does(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.local_path(url) == LocalFileSystem._strip_protocol(url)


@pytest.mark.parametrize("url", ["s3://bucket/key", "http://127.0.0.1:1/x", "memory://a", "simplecache::s3://b/k"])
def test_local_path_is_none_for_other_urls(url):
    assert storage.local_path(url) is None


def test_local_entries_are_fsspecs_detailed_listing(tmp_path):
    (tmp_path / "table.txt.gz").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "table.txt.gz", tmp_path / "link.txt.gz")
    os.symlink(tmp_path / "gone", tmp_path / "dangling")

    def details(entries):
        return sorted((e["name"], e["size"], e["mtime"]) for e in entries)

    fs = LocalFileSystem()
    assert details(storage.local_entries(str(tmp_path))) == details(fs.ls(str(tmp_path), detail=True))
    one = str(tmp_path / "table.txt.gz")
    assert details(storage.local_entries(one)) == details(fs.ls(one, detail=True))
    with pytest.raises(FileNotFoundError):
        storage.local_entries(str(tmp_path / "absent"))


def test_a_local_dump_source_lists_and_fingerprints_as_through_fsspec():
    """Fingerprints name extract versions in a home: listing with os must not change them."""
    local = DumpSource(str(HUMAN))
    through_fsspec = DumpSource(f"simplecache::file://{HUMAN.resolve()}")
    assert local.fs.ls  # the fsspec filesystem is still there for reading tables
    dbs = local.list_databases("homo_sapiens", "GRCh38")
    assert [db.name for db in dbs] == [db.name for db in through_fsspec.list_databases("homo_sapiens", "GRCh38")]
    assert [local.fingerprint(db) for db in dbs] == [through_fsspec.fingerprint(db) for db in dbs]


def test_local_reads_writes_and_exists(tmp_path):
    url = str(tmp_path / "deep" / "file.json")
    assert not storage.exists(url)
    storage.atomic_write_bytes(url, b'{"a": 1}')
    assert storage.exists(url) and storage.read_json(url) == {"a": 1}
    assert storage.read_bytes(f"file://{url}") == b'{"a": 1}'
    assert os.listdir(tmp_path / "deep") == ["file.json"]  # no temp file left behind
