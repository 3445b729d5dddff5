"""Storage helpers over fsspec: local paths, ``s3://`` and ``http(s)://`` URLs, atomic publication.

A *published directory* is complete once its ``manifest.json`` exists: locally the whole directory is
renamed into place in one step; on object stores the data files go first and the manifest last, so a
reader never sees a manifest without its data.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from idtrack_core.errors import IdtrackError, SourceUnreachableError

log = logging.getLogger(__name__)
T = TypeVar("T")
MANIFEST = "manifest.json"


def url_to_fs(url: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """Resolve a URL or local path to its filesystem and the path inside it."""
    return fsspec.core.url_to_fs(url, **storage_options)


def join(url: str, *parts: str) -> str:
    """Join path parts onto a URL or local path with ``/``."""
    out = url.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def redact(url: str) -> str:
    """Drop credentials (``user:password@``) from a URL before it is logged or stored."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        host = rest.split("@", 1)[1]
        return f"{scheme}://{host}"
    return url


def with_retries(fn: Callable[[], T], what: str, attempts: int = 3, backoff_s: float = 0.5) -> T:
    """Call ``fn``; retry transient errors with exponential backoff, then raise SourceUnreachableError.

    Definitive answers (missing file, permission, our own errors) are not retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (FileNotFoundError, PermissionError, IsADirectoryError, IdtrackError):
            raise
        except Exception as exc:
            if attempt == attempts:
                raise SourceUnreachableError(
                    f"{what}: unreachable after {attempts} attempts ({type(exc).__name__}: {exc})"
                ) from exc
            delay = backoff_s * 2 ** (attempt - 1)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def parquet_bytes(df: pd.DataFrame) -> bytes:
    """Serialize a DataFrame to Parquet deterministically (no index, zstd)."""
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf, compression="zstd")
    return buf.getvalue()


def read_parquet(url: str, columns: list[str] | None = None, **storage_options: Any) -> pd.DataFrame:
    """Read one Parquet file from any fsspec URL with nullable pandas dtypes."""
    fs, path = url_to_fs(url, **storage_options)
    with fs.open(path, "rb") as f:
        table = pq.read_table(f, columns=columns)
    return table.to_pandas(types_mapper=_nullable_types)


def _nullable_types(dtype: pa.DataType) -> Any:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    if pa.types.is_floating(dtype):
        return pd.Float64Dtype()
    if pa.types.is_boolean(dtype):
        return pd.BooleanDtype()
    return None


def json_bytes(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, 2-space indent, trailing newline)."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def read_json(url: str, **storage_options: Any) -> Any:
    fs, path = url_to_fs(url, **storage_options)
    with fs.open(path, "rb") as f:
        return json.loads(f.read())


def exists(url: str, **storage_options: Any) -> bool:
    fs, path = url_to_fs(url, **storage_options)
    return fs.exists(path)


def atomic_write_bytes(url: str, data: bytes, **storage_options: Any) -> None:
    """Write one file atomically: temp file + rename locally, one PUT on object stores."""
    fs, path = url_to_fs(url, **storage_options)
    if is_local(fs):
        parent = os.path.dirname(path) or "."
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)


def publish_dir(url: str, files: Mapping[str, bytes], **storage_options: Any) -> None:
    """Publish a directory of files so that readers see all of it or none of it.

    ``files`` must contain ``manifest.json``; it is written last on object stores. Any previous content at
    ``url`` is replaced.
    """
    if MANIFEST not in files:
        raise ValueError(f"publish_dir needs a {MANIFEST}")
    fs, path = url_to_fs(url, **storage_options)
    if is_local(fs):
        _publish_local(path, files)
        return
    if fs.exists(path):
        fs.rm(path, recursive=True)
    for name, data in sorted(files.items()):
        if name != MANIFEST:
            with fs.open(f"{path}/{name}", "wb") as f:
                f.write(data)
    with fs.open(f"{path}/{MANIFEST}", "wb") as f:
        f.write(files[MANIFEST])


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
