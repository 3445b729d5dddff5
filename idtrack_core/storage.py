"""Storage helpers over fsspec: local paths, ``s3://`` and ``http(s)://`` URLs, atomic publication.

A *published directory* is complete once its ``manifest.json`` exists: locally the whole directory is
renamed into place in one step; on object stores the data files go first and the manifest last, so a
reader never sees a manifest without its data.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from idtrack_core import io_errors, network
from idtrack_core.errors import SnapshotError

if TYPE_CHECKING:  # pandas and fsspec are imported where a function needs them: a warm `convert` never does
    import fsspec
    import pandas as pd

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
T = TypeVar("T")


def url_to_fs(url: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """Resolve a URL or local path to its filesystem and the path inside it.

    Remote filesystems get the connect and read timeouts of :mod:`idtrack_core.network` (and, for S3, the
    endpoint of ``IDTRACK_S3_ENDPOINT_URL`` when none is given).
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **network.fsspec_options(url, storage_options))
    return network.single_try(fs), path


def local_path(url: str) -> str | None:
    """The absolute POSIX path of a local path or ``file://`` URL, named as fsspec's local filesystem names it;
    None for any other URL.

    Local files are read and written with :mod:`os` directly, so a command that touches only local files never
    imports fsspec (≈0.1 s with asyncio and ssl).
    """
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url or "::" in url:
        return None
    if url.startswith("~"):
        url = os.path.expanduser(url)
    elif not url.startswith("/"):
        relative = url[2:] if url.startswith("./") else "" if url == "." else url
        url = f"{os.getcwd()}/{relative}"
    return url.rstrip("/") or "/"


def local_entries(path: str) -> list[dict[str, Any]]:
    """The entries of a local folder (or the file itself) with their ``name``, ``size`` and ``mtime``, as
    fsspec's local ``ls(path, detail=True)`` gives them (a symbolic link has its target's size, its own mtime).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    """
    if not os.path.isdir(path):
        info = os.stat(path)
        return [{"name": path, "size": info.st_size, "mtime": info.st_mtime}]
    entries = []
    with os.scandir(path) as found:
        for entry in found:
            with contextlib.suppress(FileNotFoundError):
                own = entry.stat(follow_symlinks=False)
                size = own.st_size
                if entry.is_symlink():
                    try:
                        size = entry.stat(follow_symlinks=True).st_size
                    except OSError:
                        size = 0
                entries.append({"name": local_path(entry.path), "size": size, "mtime": own.st_mtime})
    return entries


def retried(fs: fsspec.AbstractFileSystem, call: Callable[[], T], what: str) -> T:
    """``call()`` once on a local filesystem; on a remote one, retried on transient errors within the network
    settings' attempts and deadline (:func:`idtrack_core.network.retrying`). ``call`` must be safe to repeat."""
    return call() if is_local(fs) else network.retrying(call, what)


def join(url: str, *parts: str) -> str:
    """Join path parts onto a URL or local path with ``/``."""
    out = url.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is fsspec's local filesystem."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def redact(url: str) -> str:
    """Drop credentials (``user:password@``) from a URL before it is logged or stored."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        host = rest.split("@", 1)[1]
        return f"{scheme}://{host}"
    return url


def parquet_bytes(df: pd.DataFrame, keep_index: bool = False) -> bytes:
    """Serialize a DataFrame to Parquet deterministically (zstd; the index only with ``keep_index``)."""
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=keep_index), buf, compression="zstd")
    return buf.getvalue()


def read_parquet_file(url: str, **storage_options: Any) -> pd.DataFrame:
    """Read one Parquet file as pandas would write it back (index and categoricals restored)."""
    fs, path = url_to_fs(url, **storage_options)

    def read() -> pa.Table:
        with fs.open(path, "rb") as f:
            return pq.read_table(f)

    return retried(fs, read, f"reading {redact(url)}").to_pandas()


def read_parquet(url: str, columns: list[str] | None = None, **storage_options: Any) -> pd.DataFrame:
    """Read one Parquet file from any fsspec URL with nullable pandas dtypes."""
    fs, path = url_to_fs(url, **storage_options)

    def read() -> pa.Table:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns)

    return retried(fs, read, f"reading {redact(url)}").to_pandas(types_mapper=nullable_type)


def nullable_type(dtype: pa.DataType) -> Any:
    """Arrow → pandas nullable dtypes (``string``, ``Int64``, ``Float64``, ``boolean``)."""
    import pandas as pd

    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    if pa.types.is_floating(dtype):
        return pd.Float64Dtype()
    if pa.types.is_boolean(dtype):
        return pd.BooleanDtype()
    return None


def frame_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a table's content: column names, dtypes, index and values (``attrs`` and the file format aside).

    Equal tables give equal hashes across processes and Parquet round trips (pandas' stable row hashes).
    """
    import pandas as pd

    digest = hashlib.sha256(json_bytes([[str(c), str(t)] for c, t in df.dtypes.items()]))
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def json_bytes(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, 2-space indent, trailing newline)."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def read_bytes(url: str, **storage_options: Any) -> bytes:
    """The whole content of one file (local path or URL)."""
    if (path := local_path(url)) is not None:
        with open(path, "rb") as f:
            return f.read()
    fs, path = url_to_fs(url, **storage_options)
    return retried(fs, lambda: fs.cat_file(path), f"reading {redact(url)}")


def read_json(url: str, **storage_options: Any) -> Any:
    """One JSON file (local path or URL)."""
    return json.loads(read_bytes(url, **storage_options))


def file_sha256(url: str, **storage_options: Any) -> str:
    """SHA-256 of a file's bytes, read in blocks (local path or URL)."""
    fs, path = url_to_fs(url, **storage_options)

    def digest() -> str:
        sha = hashlib.sha256()
        with fs.open(path, "rb") as f:
            while block := f.read(8 << 20):
                sha.update(block)
        return sha.hexdigest()

    return retried(fs, digest, f"reading {redact(url)}")


def exists(url: str, **storage_options: Any) -> bool:
    """Whether a file or folder exists (local path or URL)."""
    if (path := local_path(url)) is not None:
        return os.path.exists(path)
    fs, path = url_to_fs(url, **storage_options)
    return retried(fs, lambda: fs.exists(path), f"looking for {redact(url)}")


def atomic_write_bytes(url: str, data: bytes, **storage_options: Any) -> None:
    """Write one file atomically: temp file + rename locally, one PUT on object stores."""
    if (path := local_path(url)) is not None:
        parent = os.path.dirname(path) or "."
        tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
        try:
            with io_errors.writing(url, needed=len(data)):
                os.makedirs(parent, exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    else:
        fs, path = url_to_fs(url, **storage_options)
        retried(fs, partial(_put, fs, path, data), f"writing {redact(url)}")


def _put(fs: fsspec.AbstractFileSystem, path: str, data: bytes | memoryview) -> None:
    """One whole object (bytes or any buffer, e.g. Arrow's) written to a remote filesystem."""
    with fs.open(path, "wb") as f:
        f.write(data)


def table_files(
    tables: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any], keep_index: bool = False
) -> dict[str, bytes]:
    """Parquet files ``{name}.parquet`` of ``tables`` plus a ``manifest.json`` that extends ``manifest`` with
    each table's file, row count and SHA-256 (under ``tables``)."""
    files: dict[str, bytes] = {}
    info = {}
    for name, df in tables.items():
        data = parquet_bytes(df, keep_index)
        files[f"{name}.parquet"] = data
        info[name] = {"file": f"{name}.parquet", "rows": len(df), "sha256": hashlib.sha256(data).hexdigest()}
    files[MANIFEST] = json_bytes({**manifest, "tables": info})
    return files


def read_manifest(url: str, kind: str, format_version: int, **storage_options: Any) -> dict[str, Any]:
    """The ``manifest.json`` of a published directory, checked to exist and to be of ``format_version``."""
    manifest_url = join(url, MANIFEST)
    if not exists(manifest_url, **storage_options):
        raise SnapshotError(f"{redact(url)}: no {kind} here (manifest.json missing: absent or incomplete)")
    manifest = read_json(manifest_url, **storage_options)
    if manifest.get("format_version") != format_version:
        raise SnapshotError(f"{redact(url)}: {kind} format {manifest.get('format_version')} is not supported")
    return manifest


def read_tables(
    url: str, manifest: Mapping[str, Any], verify: bool = False, **storage_options: Any
) -> dict[str, pd.DataFrame]:
    """The tables a manifest lists; with ``verify`` each file's SHA-256 is checked first."""
    tables = {}
    for name, info in manifest["tables"].items():
        file_url = join(url, info["file"])
        if verify and hashlib.sha256(read_bytes(file_url, **storage_options)).hexdigest() != info["sha256"]:
            raise SnapshotError(f"{redact(file_url)}: checksum mismatch (corrupt or changed)")
        tables[name] = read_parquet(file_url, **storage_options)
    return tables


def publish_dir(url: str, files: Mapping[str, bytes], **storage_options: Any) -> None:
    """Publish a directory of files so that readers see all of it or none of it.

    ``files`` must contain ``manifest.json``; it is written last on object stores. Any previous content at
    ``url`` is replaced.
    """
    if MANIFEST not in files:
        raise ValueError(f"publish_dir needs a {MANIFEST}")
    fs, path = url_to_fs(url, **storage_options)
    if is_local(fs):
        with io_errors.writing(url, needed=sum(len(data) for data in files.values())):
            _publish_local(path, files)
        return

    shown = redact(url)
    retried(fs, lambda: fs.rm(path, recursive=True) if fs.exists(path) else None, f"clearing {shown}")
    for name, data in sorted(files.items(), key=lambda item: (item[0] == MANIFEST, item[0])):  # manifest last
        retried(fs, partial(_put, fs, f"{path}/{name}", data), f"writing {shown}/{name}")


def _publish_local(path: str, files: Mapping[str, bytes]) -> None:
    parent = os.path.dirname(path.rstrip("/")) or "."
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path.rstrip("/"))
    tmp = os.path.join(parent, f".{base}.tmp-{uuid.uuid4().hex}")
    old = os.path.join(parent, f".{base}.old-{uuid.uuid4().hex}")
    try:
        os.makedirs(tmp)
        for name, data in files.items():
            target = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
