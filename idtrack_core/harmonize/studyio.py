"""Read what harmonization needs from a study ``.h5ad`` without loading its expression matrix.

A study is an AnnData ``.h5ad`` file (HDF5) at a local path, an ``http(s)://`` URL or an ``s3://`` URL.
:func:`read_study_features` reads the ``var`` table plus the shape, dtype and storage format of ``X`` and the
names of the ``obs`` columns; :func:`read_study_obs` reads selected ``obs`` columns. ``X`` itself is only
streamed, chunk by chunk, by :mod:`idtrack_core.harmonize.merge` through :func:`open_h5ad`.

Remote files are read through fsspec file objects handed to h5py, so only the byte ranges HDF5 asks for are
fetched. HTTP servers without ``Range`` support (``python -m http.server``) are handled by downloading the
file to a local temporary file first, with a warning.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import h5py
import numpy as np
import pandas as pd
from anndata.io import read_elem

from idtrack_core.errors import SourceUnreachableError, StudyInputError
from idtrack_core.network import retrying
from idtrack_core.storage import is_local, redact, url_to_fs

log = logging.getLogger(__name__)

XFormat = Literal["csr", "csc", "dense"]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: fsspec block size for remote reads of metadata (var, obs, attributes): small scattered reads.
METADATA_BLOCK_SIZE = 1 << 20
#: fsspec block size for remote streaming of X: large sequential reads.
STREAM_BLOCK_SIZE = 8 << 20
_SHOW_AT_MOST = 5


@dataclass(frozen=True, eq=False)
class StudyFeatures:
    """The features of one study and the layout of its ``X``, read without loading ``X``.

    Attributes
    ----------
    url
        The study URL as given (credentials redacted).
    var
        The study's ``var`` table (all columns), index = feature names as stored.
    var_names
        The feature names as a string ``pd.Index`` (length ``n_vars``, unique).
    n_obs, n_vars
        Shape of ``X`` (cells × features).
    x_dtype
        Numpy dtype of the stored values of ``X``.
    x_format
        ``"csr"``, ``"csc"`` (sparse groups) or ``"dense"`` (an HDF5 dataset).
    obs_columns
        Names of the ``obs`` columns, in stored order.
    """

    url: str
    var: pd.DataFrame
    var_names: pd.Index
    n_obs: int
    n_vars: int
    x_dtype: np.dtype
    x_format: XFormat
    obs_columns: tuple[str, ...]


@dataclass(frozen=True)
class XLayout:
    """Shape, dtype and storage format of a stored ``X`` (internal to harmonize)."""

    n_obs: int
    n_vars: int
    dtype: np.dtype
    format: XFormat
    nnz: int | None  # stored entries of a sparse X; None for dense


# --------------------------------------------------------------------------------------------- opening


@contextmanager
def open_h5ad(
    url: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    block_size: int = METADATA_BLOCK_SIZE,
    cache_type: str = "blockcache",
) -> Iterator[h5py.File]:
    """Open a study ``.h5ad`` read-only as an ``h5py.File``, locally or through fsspec.

    Parameters
    ----------
    url
        Local path, ``http(s)://`` or ``s3://`` URL.
    storage_options
        Passed to fsspec (e.g. ``{"anon": True}`` for public S3 buckets).
    block_size, cache_type
        fsspec read-cache settings for remote files.

    Raises
    ------
    StudyInputError
        The file is missing, unreachable after bounded retries, or not an HDF5 file.
    """
    shown = redact(url)
    fs, path = url_to_fs(url, **dict(storage_options or {}))
    with ExitStack() as stack:
        if is_local(fs):
            if not os.path.isfile(path):
                raise StudyInputError(f"{shown}: no such file")
            _check_signature_local(path, shown)
            handle: Any = path
        else:
            handle = _open_remote(fs, path, shown, stack, block_size=block_size, cache_type=cache_type)
        try:
            h5 = h5py.File(handle, "r")
        except OSError as exc:
            raise StudyInputError(f"{shown}: not an HDF5/h5ad file ({exc})") from exc
        stack.enter_context(h5)
        yield h5


def _check_signature_local(path: str, shown: str) -> None:
    # HDF5 allows a user block: the signature sits at 0, 512, 1024, 2048, … Checking here gives a clear error
    # before h5py's generic "file signature not found".
    with open(path, "rb") as f:
        if not _has_hdf5_signature(f, os.path.getsize(path)):
            raise StudyInputError(f"{shown}: not an HDF5/h5ad file (no HDF5 signature)")


def _has_hdf5_signature(f: Any, size: int) -> bool:
    offset = 0
    while offset + 8 <= size:
        f.seek(offset)
        if f.read(8) == HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def _open_remote(fs: Any, path: str, shown: str, stack: ExitStack, *, block_size: int, cache_type: str) -> Any:
    """Open a remote file for random access; download it when the server cannot serve byte ranges."""

    def attempt() -> Any:
        try:
            size = fs.size(path)
        except FileNotFoundError as exc:
            # fsspec's HTTP filesystem reports any failed HEAD/GET as FileNotFoundError (network.is_transient
            # tells a timeout or refused connection from a real "not found"); 401/403 mean "permission denied"
            status = getattr(exc.__cause__, "status", None)  # aiohttp.ClientResponseError
            if status in (401, 403):
                raise PermissionError(f"HTTP {status}") from exc
            raise
        fobj = fs.open(path, "rb", block_size=block_size, cache_type=cache_type)
        try:
            fobj.read(8)
            if size is not None and size > 16:
                fobj.seek(size - 8)  # a ranged read away from 0: fails at once without Range support
                fobj.read(8)
            fobj.seek(0)
        except ValueError as exc:
            fobj.close()
            if "range requests" in str(exc):
                return None  # the server ignores Range headers (fsspec's message)
            raise
        except BaseException:
            fobj.close()
            raise
        return fobj

    try:
        fobj = retrying(attempt, f"opening {shown}")
    except FileNotFoundError as exc:
        raise StudyInputError(f"{shown}: no such file") from exc
    except PermissionError as exc:
        raise StudyInputError(f"{shown}: permission denied ({exc})") from exc
    except SourceUnreachableError as exc:
        raise StudyInputError(f"{shown}: unreadable ({exc})") from exc
    if fobj is None:
        log.warning("%s: server does not support range requests; downloading the whole file", shown)
        return _download(fs, path, shown, stack)
    stack.callback(fobj.close)
    return fobj


def _download(fs: Any, path: str, shown: str, stack: ExitStack) -> str:
    fd, tmp = tempfile.mkstemp(suffix=".h5ad", prefix="idtrack-study-")
    os.close(fd)
    stack.callback(lambda: os.path.exists(tmp) and os.remove(tmp))
    try:
        retrying(lambda: fs.get_file(path, tmp), f"downloading {shown}")
    except (OSError, SourceUnreachableError) as exc:
        raise StudyInputError(f"{shown}: unreadable ({exc})") from exc
    return tmp


# --------------------------------------------------------------------------------------------- layout


def x_layout(h5: h5py.File, shown: str) -> XLayout:
    """Describe the stored ``X`` of an open ``.h5ad`` without reading its values."""
    if "X" not in h5:
        raise StudyInputError(f"{shown}: no X in the file (not an AnnData .h5ad, or X was not written)")
    x = h5["X"]
    if isinstance(x, h5py.Dataset):
        if x.ndim != 2:
            raise StudyInputError(f"{shown}: X is a {x.ndim}-d dataset, expected 2-d")
        return XLayout(int(x.shape[0]), int(x.shape[1]), np.dtype(x.dtype), "dense", None)
    attrs = x.attrs
    encoding = _attr_str(attrs.get("encoding-type")) or _attr_str(attrs.get("h5sparse_format"))
    fmt = {"csr_matrix": "csr", "csc_matrix": "csc", "csr": "csr", "csc": "csc"}.get(encoding or "")
    if fmt is None:
        raise StudyInputError(f"{shown}: X has unsupported encoding {encoding!r} (expected csr, csc or dense)")
    shape = attrs.get("shape", attrs.get("h5sparse_shape"))
    if shape is None or not {"data", "indices", "indptr"} <= set(x.keys()):
        raise StudyInputError(f"{shown}: sparse X lacks shape/data/indices/indptr")
    n_obs, n_vars = (int(s) for s in shape)
    return XLayout(n_obs, n_vars, np.dtype(x["data"].dtype), fmt, int(x["data"].shape[0]))


def _attr_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _index_length(h5: h5py.File, key: str) -> int | None:
    group = h5.get(key)
    if isinstance(group, h5py.Group) and "_index" in group.attrs:
        name = _attr_str(group.attrs["_index"])
        if name in group:
            return int(group[name].shape[0])
    return None


def var_length(h5: h5py.File, shown: str) -> int:
    """Number of rows of ``var`` read from its index dataset (no table read)."""
    n = _index_length(h5, "var")
    if n is None:
        if "var" not in h5:
            raise StudyInputError(f"{shown}: no var in the file (not an AnnData .h5ad)")
        n = len(_read_var(h5, shown))
    return n


# --------------------------------------------------------------------------------------------- features


def read_study_features(url: str, storage_options: Mapping[str, Any] | None = None) -> StudyFeatures:
    """Read the features (``var``) of a study and the layout of its ``X``; never loads ``X``.

    Parameters
    ----------
    url
        Local path, ``http(s)://`` or ``s3://`` URL of an AnnData ``.h5ad`` file.
    storage_options
        fsspec options for remote URLs.

    Returns
    -------
    StudyFeatures
        ``var`` (n_vars rows), string ``var_names``, ``X`` shape/dtype/format and ``obs`` column names.

    Raises
    ------
    StudyInputError
        Naming the URL: not an HDF5/h5ad file, no ``var``/``X``, empty ``var``, a non-string or duplicated
        ``var`` index, ``var`` and ``X`` disagreeing in length, or an unreadable URL.
    """
    shown = redact(url)
    with open_h5ad(url, storage_options) as h5:
        layout = x_layout(h5, shown)
        var = _read_var(h5, shown)
        var_names = check_var_names(var.index, shown)
        if layout.n_vars != len(var):
            raise StudyInputError(f"{shown}: X has {layout.n_vars} columns but var has {len(var)} rows")
        n_obs_index = _index_length(h5, "obs")
        if n_obs_index is not None and n_obs_index != layout.n_obs:
            raise StudyInputError(f"{shown}: X has {layout.n_obs} rows but obs has {n_obs_index}")
        obs_columns = _obs_column_names(h5)
    return StudyFeatures(
        url=shown,
        var=var,
        var_names=var_names,
        n_obs=layout.n_obs,
        n_vars=layout.n_vars,
        x_dtype=layout.dtype,
        x_format=layout.format,
        obs_columns=obs_columns,
    )


def _read_var(h5: h5py.File, shown: str) -> pd.DataFrame:
    if "var" not in h5:
        raise StudyInputError(f"{shown}: no var in the file (not an AnnData .h5ad)")
    try:
        var = read_elem(h5["var"])
    except Exception as exc:
        raise StudyInputError(f"{shown}: cannot read var ({type(exc).__name__}: {exc})") from exc
    if not isinstance(var, pd.DataFrame):
        raise StudyInputError(f"{shown}: var is a {type(var).__name__}, not a DataFrame")
    return var


def check_var_names(index: pd.Index, shown: str) -> pd.Index:
    """Validate a study's feature names: non-empty, strings, unique. Returns them as an object-dtype Index."""
    if len(index) == 0:
        raise StudyInputError(f"{shown}: var is empty (no features)")
    kind = pd.api.types.infer_dtype(index, skipna=False)
    if kind != "string":
        examples = [repr(v) for v in index[:_SHOW_AT_MOST]]
        raise StudyInputError(
            f"{shown}: var index must hold feature names as strings, found {kind} values "
            f"(dtype {index.dtype}; first: {', '.join(examples)})"
        )
    names = pd.Index(np.asarray(index, dtype=object), dtype=object, name=index.name)
    dup_mask = names.duplicated()
    if dup_mask.any():
        dups = pd.unique(names[dup_mask])
        shown_dups = ", ".join(repr(d) for d in dups[:_SHOW_AT_MOST])
        more = f" and {len(dups) - _SHOW_AT_MOST} more" if len(dups) > _SHOW_AT_MOST else ""
        raise StudyInputError(f"{shown}: {len(dups)} duplicated var names: {shown_dups}{more}")
    return names


def _obs_column_names(h5: h5py.File) -> tuple[str, ...]:
    obs = h5.get("obs")
    if isinstance(obs, h5py.Group):
        order = obs.attrs.get("column-order", ())
        return tuple(_attr_str(c) or "" for c in np.atleast_1d(order))
    if isinstance(obs, h5py.Dataset) and obs.dtype.names:  # legacy compound-dataset obs
        return tuple(n for n in obs.dtype.names if n != "index")
    return ()


# --------------------------------------------------------------------------------------------- obs


def read_study_obs(url: str, columns: Sequence[str], storage_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Read the ``obs`` index and the requested ``obs`` columns of a study.

    Parameters
    ----------
    url
        Study ``.h5ad`` (local path or URL).
    columns
        Column names to read. Columns the study lacks are left out of the result (the merge fills them with
        NA); nothing else is read.

    Returns
    -------
    pd.DataFrame
        n_obs rows, index = cell names (str), the requested columns that exist, in the requested order.
    """
    shown = redact(url)
    with open_h5ad(url, storage_options) as h5:
        return read_obs_columns(h5, columns, shown)


def read_obs_columns(h5: h5py.File, columns: Sequence[str], shown: str) -> pd.DataFrame:
    """Like :func:`read_study_obs` on an open file."""
    obs = h5.get("obs")
    if obs is None:
        raise StudyInputError(f"{shown}: no obs in the file (not an AnnData .h5ad)")
    try:
        if isinstance(obs, h5py.Group) and "_index" in obs.attrs:
            index = pd.Index(np.asarray(read_elem(obs[_attr_str(obs.attrs["_index"])]), dtype=object))
            present = [c for c in columns if c in obs and c != _attr_str(obs.attrs["_index"])]
            data = {c: _as_column(read_elem(obs[c])) for c in present}
            frame = pd.DataFrame(data, index=index)
        else:
            full = read_elem(obs)
            frame = full[[c for c in columns if c in full.columns]]
            index = full.index
    except StudyInputError:
        raise
    except Exception as exc:
        raise StudyInputError(f"{shown}: cannot read obs ({type(exc).__name__}: {exc})") from exc
    frame.index = pd.Index([str(i) for i in index], dtype=object)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        log.debug("%s: obs lacks columns %s", shown, missing)
    return frame


def _as_column(values: Any) -> Any:
    if isinstance(values, pd.Categorical | pd.api.extensions.ExtensionArray | np.ndarray):
        return values
    return np.asarray(values)
