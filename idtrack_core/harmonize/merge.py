"""Out-of-core union/intersect merge of study ``.h5ad`` files into one atlas ``.h5ad``.

The caller (the harmonization plan) decides, for every feature of every study, which atlas feature it becomes
and passes that as integer positions (:class:`StudyLayout`). :func:`merge_studies` then streams each study's
``X`` in row chunks, remaps the columns, sums features of one study that land on the same atlas feature (n→1)
and appends the chunk to a CSR ``X`` on disk. Peak memory is bounded by one chunk (``chunk_cells`` rows, at
most ``max_chunk_nnz`` stored values) plus ``obs``; it does not grow with the number of cells.

Union and intersect are the same operation with different ``var`` tables and target positions: features absent
from the atlas ``var`` are mapped to ``-1`` (dropped), atlas features a study lacks stay structural zeros.

On disk the output is written with anndata's own element writers (``anndata.io.write_elem``) and grown with
``anndata.io.sparse_dataset(...).append``; it is written to a temporary file and renamed (or uploaded, for
``s3://`` outputs) only when complete, so a failed merge leaves nothing at ``out``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata.io import sparse_dataset, write_elem
from scipy.sparse._sparsetools import csr_tocsc  # the transpose kernel, into buffers we reuse

from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.studyio import (
    STREAM_BLOCK_SIZE,
    XLayout,
    open_h5ad,
    read_obs_columns,
    read_study_features,
    var_length,
    x_layout,
)
from idtrack_core.io_errors import H5Output, h5_output, writing
from idtrack_core.network import retrying
from idtrack_core.progress import Progress, progress
from idtrack_core.storage import is_local, redact, url_to_fs

log = logging.getLogger(__name__)

STUDY_COLUMN = "handle_anndata"
ATLAS_CODE_VERSION = "atlas-1.2"
"""Changes whenever the atlas written from the same plan, files and settings would differ (part of its version id)."""
#: HDF5 chunk length (elements) of the growing data/indices/indptr datasets of the output X.
H5_CHUNK = 1 << 18
#: Bytes of a dense X row block read at once.
DENSE_BLOCK_BYTES = 256 << 20
#: Stored values per row block sorted at once when a study's columns are permuted (fits in the CPU cache).
SORT_BLOCK_NNZ = 1 << 17


@dataclass(frozen=True, eq=False)
class StudyLayout:
    """Where the features of one study go in the atlas.

    Attributes
    ----------
    name
        Study name: prefix of the atlas obs index (``<name>_<cell>``) and value of ``obs['handle_anndata']``.
    url
        Local path or URL of the study ``.h5ad``.
    target_index
        int64, one entry per study feature in ``var`` order: its position in the atlas ``var``; ``-1``
        drops it. Several features with the same target are summed.
    copies
        int64 array of shape ``(k, 2)``: extra ``(study feature, atlas position)`` pairs, for a feature whose
        values go to several atlas features (a 1→n "keep all" policy). Empty by default.
    """

    name: str
    url: str
    target_index: np.ndarray
    copies: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    def __post_init__(self) -> None:
        target = np.asarray(self.target_index)
        if target.ndim != 1 or not (np.issubdtype(target.dtype, np.integer) or target.size == 0):
            raise ValueError(f"study {self.name!r}: target_index must be a 1-d integer array")
        object.__setattr__(self, "target_index", target.astype(np.int64, copy=False))
        copies = np.asarray(self.copies, dtype=np.int64).reshape(-1, 2)
        if copies.size and (copies.min() < 0 or copies[:, 0].max() >= target.size):
            raise ValueError(f"study {self.name!r}: copies must pair existing features with atlas positions")
        object.__setattr__(self, "copies", copies)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_studies` wrote.

    Attributes
    ----------
    out
        Output URL (credentials redacted).
    n_obs, n_vars, nnz
        Shape of the atlas ``X`` and its stored values.
    cells_per_study
        Cells contributed by each study, in merge order.
    dtype
        dtype of the atlas ``X`` values.
    dtype_promoted
        True when the studies' ``X`` dtypes differed and were promoted with ``np.result_type``.
    study_dtypes
        Each study's stored ``X`` dtype (str), to see what was promoted.
    seconds
        Wall time of the merge.
    """

    out: str
    n_obs: int
    n_vars: int
    nnz: int
    cells_per_study: Mapping[str, int]
    dtype: np.dtype
    dtype_promoted: bool
    study_dtypes: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    layout: StudyLayout
    x: XLayout


# --------------------------------------------------------------------------------------------- public


def merge_studies(
    studies: Sequence[StudyLayout],
    var: pd.DataFrame,
    out: str,
    obs_columns: Sequence[str] = (),
    chunk_cells: int = 10_000,
    storage_options: Mapping[str, Any] | None = None,
    *,
    max_chunk_nnz: int = 1 << 25,
    compression: str | None = None,
    uns: Mapping[str, Any] | None = None,
) -> MergeResult:
    """Stream studies into one atlas ``.h5ad`` with a CSR ``X`` of shape (sum of cells, ``len(var)``).

    Parameters
    ----------
    studies
        One :class:`StudyLayout` per study, in output order. Names must be unique.
    var
        The atlas ``var`` table, written as is (except that string columns with missing values, e.g.
        ``converted_id_<study>`` in a union, are stored as categoricals, as ``AnnData.write_h5ad`` does: h5ad
        string arrays cannot hold NA); its index (unique strings, e.g. Ensembl gene IDs) names the
        ``len(var)`` atlas features that ``target_index`` points into.
    out
        Output ``.h5ad`` path or URL (``s3://`` is written locally, then uploaded).
    obs_columns
        ``obs`` columns to keep. A column a study lacks is NA for its cells; categorical columns are merged
        into the union of their categories; booleans/integers with gaps become nullable dtypes.
    chunk_cells
        Rows read, remapped and written at once; with ``max_chunk_nnz`` this bounds peak memory.
    storage_options
        fsspec options for study URLs and ``out``.
    max_chunk_nnz
        Upper bound on stored values per chunk (rows with many values make smaller chunks).
    compression
        HDF5 compression of the output ``X`` (``None``, ``"gzip"``, ``"lzf"``); off by default (fastest).
    uns
        The atlas ``uns`` (e.g. its provenance record under ``"idtrack"``); empty by default.

    Returns
    -------
    MergeResult

    Raises
    ------
    StudyInputError
        A study cannot be read, or its ``var`` length disagrees with its ``target_index``.
    ValueError
        Invalid arguments (duplicate study names, ``var`` index not unique strings, targets out of range).
    """
    started = time.perf_counter()
    studies = list(studies)
    storage_options = dict(storage_options or {})
    _check_arguments(studies, var, obs_columns, chunk_cells)
    n_vars = len(var)

    prepared, obs_parts = [], []
    for s in studies:
        p, part = _prepare(s, n_vars, obs_columns, storage_options)
        prepared.append(p)
        obs_parts.append(part)
    study_dtypes = {p.layout.name: p.x.dtype for p in prepared}
    dtype = np.result_type(*study_dtypes.values()) if prepared else np.dtype(np.float32)
    promoted = len(set(study_dtypes.values())) > 1
    if promoted:
        log.warning(
            "X dtypes differ across studies (%s); promoting to %s",
            ", ".join(f"{k}: {v}" for k, v in study_dtypes.items()),
            dtype,
        )
    obs = _merge_obs(obs_parts, [p.layout.name for p in prepared], obs_columns)
    del obs_parts
    n_obs = len(obs)
    log.info("merging %d studies: %d cells × %d features into %s", len(studies), n_obs, n_vars, redact(out))

    nnz = 0
    with (
        _atomic_output(out, storage_options) as local_path,
        h5_output(local_path, redact(out)) as (h5, output),
        progress(f"merging {len(studies)} studies", total=n_obs, unit="cells") as bar,
    ):
        h5.attrs["encoding-type"] = "anndata"
        h5.attrs["encoding-version"] = "0.1.0"
        write_elem(h5, "var", _storable(var))  # first: a var that cannot be written fails early
        write_elem(h5, "obs", obs)
        del obs  # obs grows with cells: not held while X streams
        x_out = _create_csr(h5, "X", n_vars, dtype, compression)
        for p in prepared:
            nnz += _stream_study(p, x_out, n_vars, dtype, chunk_cells, max_chunk_nnz, storage_options, output, bar)
        for key in ("obsm", "varm", "obsp", "varp", "layers"):
            write_elem(h5, key, {})
        write_elem(h5, "uns", dict(uns or {}))
        if x_out.shape != (n_obs, n_vars):  # a study changed while we read it
            raise StudyInputError(f"merged X has shape {x_out.shape}, expected {(n_obs, n_vars)}")

    seconds = time.perf_counter() - started
    log.info("merged %d cells × %d features, %d values in %.1fs → %s", n_obs, n_vars, nnz, seconds, redact(out))
    return MergeResult(
        out=redact(out),
        n_obs=n_obs,
        n_vars=n_vars,
        nnz=nnz,
        cells_per_study={p.layout.name: p.x.n_obs for p in prepared},
        dtype=np.dtype(dtype),
        dtype_promoted=promoted,
        study_dtypes={k: str(v) for k, v in study_dtypes.items()},
        seconds=seconds,
    )


def layouts_by_var_names(
    studies: Mapping[str, str],
    join: Literal["outer", "inner"] = "outer",
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[list[StudyLayout], pd.DataFrame]:
    """Layouts for studies whose var names already are atlas feature names (no conversion).

    The union (``"outer"``) keeps every name in order of first appearance (study order, then var order); the
    intersection (``"inner"``) keeps the names every study has, in the first study's order. The returned
    ``var`` has one boolean column ``intersection``.
    """
    names = {study: read_study_features(url, storage_options).var_names for study, url in studies.items()}
    if join == "outer":
        atlas = pd.Index(pd.unique(np.concatenate([np.asarray(n, dtype=object) for n in names.values()])))
    elif join == "inner":
        atlas = next(iter(names.values()))
        for n in names.values():
            atlas = atlas[atlas.isin(n)]
    else:
        raise ValueError(f"join must be 'outer' or 'inner', not {join!r}")
    common = np.ones(len(atlas), dtype=bool)
    for n in names.values():
        common &= atlas.isin(n)
    var = pd.DataFrame({"intersection": common}, index=pd.Index(atlas, dtype=object))
    layouts = [
        StudyLayout(study, url, atlas.get_indexer(names[study]).astype(np.int64)) for study, url in studies.items()
    ]
    return layouts, var


# --------------------------------------------------------------------------------------------- preparation


def _check_arguments(
    studies: list[StudyLayout], var: pd.DataFrame, obs_columns: Sequence[str], chunk_cells: int
) -> None:
    if isinstance(obs_columns, str):
        raise ValueError("obs_columns must be a sequence of column names, not a string")
    names = [s.name for s in studies]
    if any(not n for n in names):
        raise ValueError("study names must be non-empty")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f"duplicate study names: {dups}")
    if STUDY_COLUMN in obs_columns:
        raise ValueError(f"obs column {STUDY_COLUMN!r} is written by the merge; do not request it")
    if chunk_cells < 1:
        raise ValueError("chunk_cells must be ≥ 1")
    if pd.api.types.infer_dtype(var.index, skipna=False) not in ("string", "empty"):
        raise ValueError("var index must hold strings (atlas feature names)")
    if not var.index.is_unique:
        raise ValueError(f"var index has duplicates: {list(var.index[var.index.duplicated()][:5])}")
    n_vars = len(var)
    for s in studies:
        if s.target_index.size and (s.target_index.min() < -1 or s.target_index.max() >= n_vars):
            raise ValueError(f"study {s.name!r}: target_index values must lie in [-1, {n_vars})")
        if s.copies.size and s.copies[:, 1].max() >= n_vars:
            raise ValueError(f"study {s.name!r}: copies point beyond the {n_vars} atlas features")


def _prepare(
    study: StudyLayout, n_vars: int, obs_columns: Sequence[str], storage_options: Mapping[str, Any]
) -> tuple[_Prepared, pd.DataFrame]:
    shown = redact(study.url)
    with open_h5ad(study.url, storage_options) as h5:
        layout = x_layout(h5, shown)
        n_study_vars = var_length(h5, shown)
        if layout.n_vars != n_study_vars:
            raise StudyInputError(f"{shown}: X has {layout.n_vars} columns but var has {n_study_vars} rows")
        if len(study.target_index) != layout.n_vars:
            raise StudyInputError(
                f"{shown}: study {study.name!r} has {layout.n_vars} features but its target_index has "
                f"{len(study.target_index)} entries (was the file replaced?)"
            )
        obs = read_obs_columns(h5, obs_columns, shown)
    if len(obs) != layout.n_obs:
        raise StudyInputError(f"{shown}: X has {layout.n_obs} rows but obs has {len(obs)}")
    return _Prepared(study, layout), obs


# --------------------------------------------------------------------------------------------- obs


def _merge_obs(parts: list[pd.DataFrame], names: list[str], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-study obs: ``<study>_<cell>`` index, study handle, requested columns (NA if absent)."""
    index = pd.Index(
        np.concatenate(
            [np.asarray([f"{n}_{c}" for c in p.index], dtype=object) for n, p in zip(names, parts, strict=True)]
        )
        if parts
        else np.array([], dtype=object),
        dtype=object,
    )
    if not index.is_unique:
        log.warning("atlas obs names are not unique (a study has duplicated cell names)")
    sizes = [len(p) for p in parts]
    handle = pd.Categorical.from_codes(
        np.repeat(np.arange(len(names), dtype=np.int32), sizes), categories=pd.Index(names, dtype=object)
    )
    data: dict[str, Any] = {STUDY_COLUMN: handle}
    for col in columns:
        data[col] = _merge_column([p[col] if col in p.columns else None for p in parts], sizes)
    return pd.DataFrame(data, index=index)


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """String columns holding NA (object or pandas ``string`` dtype) as categoricals; the rest untouched."""
    convert = [
        c
        for c in frame.columns
        if (frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype))
        and pd.api.types.infer_dtype(frame[c], skipna=True) in ("string", "empty")
        and (frame[c].isna().any() or isinstance(frame[c].dtype, pd.StringDtype))
    ]
    if not convert:
        return frame
    log.info("storing string columns with missing values as categoricals: %s", convert)
    frame = frame.copy()
    for c in convert:
        frame[c] = pd.Categorical(frame[c].astype(object).where(frame[c].notna(), None))
    return frame


def _merge_column(series: list[pd.Series | None], sizes: list[int]) -> Any:
    """Concatenate one obs column across studies; ``None`` marks a study without the column."""
    present = [s for s in series if s is not None]
    missing = len(present) < len(series)
    kinds = {_column_kind(s) for s in present}
    if kinds == {"bool"}:
        dtype = "boolean" if missing or any(s.isna().any() for s in present) else bool
        return _concat_filled(series, sizes, dtype)
    if kinds == {"int"}:
        dtype = "Int64" if missing or any(s.isna().any() for s in present) else np.int64
        return _concat_filled(series, sizes, dtype)
    if kinds and kinds <= {"int", "float"}:
        return _concat_filled(series, sizes, np.float64)
    return _merge_categorical(series, sizes)


def _column_kind(s: pd.Series) -> str:
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "other"


def _concat_filled(series: list[pd.Series | None], sizes: list[int], dtype: Any) -> Any:
    """Concatenate as ``dtype``; absent parts become NA (nullable dtypes) or NaN (float)."""
    nullable = dtype in ("boolean", "Int64")
    parts = []
    for s, n in zip(series, sizes, strict=True):
        if s is None:
            parts.append(pd.array([pd.NA] * n, dtype=dtype) if nullable else np.full(n, np.nan))
        elif dtype is np.float64:
            parts.append(pd.array(s, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            parts.append(pd.array(s, dtype=dtype) if nullable else np.asarray(s, dtype=dtype))
    if nullable:
        return pd.concat([pd.Series(p, dtype=dtype) for p in parts], ignore_index=True).array
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _merge_categorical(series: list[pd.Series | None], sizes: list[int]) -> pd.Categorical:
    """Union of categories in order of first appearance; categories of mixed types become strings."""
    cats = [None if s is None else _as_categorical(s) for s in series]
    kinds = {pd.api.types.infer_dtype(c.categories) for c in cats if c is not None and len(c.categories)}
    if len(kinds) > 1 or kinds & {"mixed", "mixed-integer"}:
        cats = [None if c is None else _categorical_as_str(c) for c in cats]
    present = [c for c in cats if c is not None]
    if present:
        categories = pd.Index(pd.unique(np.concatenate([np.asarray(c.categories) for c in present])))
    else:
        categories = pd.Index([], dtype=object)
    ordered = bool(present) and all(c.ordered and c.categories.equals(present[0].categories) for c in present)
    codes = []
    for c, n in zip(cats, sizes, strict=True):
        if c is None or not len(c.categories):
            codes.append(np.full(n, -1, dtype=np.int64))
        else:
            where = categories.get_indexer(c.categories)
            codes.append(np.where(c.codes >= 0, where[c.codes], -1))
    all_codes = np.concatenate(codes) if codes else np.empty(0, dtype=np.int64)
    return pd.Categorical.from_codes(all_codes, categories=categories, ordered=ordered)


def _as_categorical(s: pd.Series) -> pd.Categorical:
    return s.array if isinstance(s.dtype, pd.CategoricalDtype) else pd.Categorical(s)


def _categorical_as_str(c: pd.Categorical) -> pd.Categorical:
    values = np.asarray(c.astype(object), dtype=object)
    as_str = np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
    return pd.Categorical(as_str)


# --------------------------------------------------------------------------------------------- X


def _create_csr(h5: h5py.File, key: str, n_vars: int, dtype: np.dtype, compression: str | None) -> Any:
    """An empty, appendable CSR element (resizable chunked datasets, int64 indptr)."""
    index_dtype = np.int32 if n_vars < np.iinfo(np.int32).max else np.int64
    empty = sp.csr_matrix(
        (np.empty(0, dtype=dtype), np.empty(0, dtype=index_dtype), np.zeros(1, dtype=np.int64)),
        shape=(0, n_vars),
    )
    kwargs: dict[str, Any] = {"chunks": (H5_CHUNK,), "indptr_dtype": np.int64}
    if compression:
        kwargs["compression"] = compression
    write_elem(h5, key, empty, dataset_kwargs=kwargs)
    return sparse_dataset(h5[key])


def _stream_study(
    p: _Prepared,
    x_out: Any,
    n_vars: int,
    dtype: np.dtype,
    chunk_cells: int,
    max_chunk_nnz: int,
    storage_options: Mapping[str, Any],
    output: H5Output,
    bar: Progress,
) -> int:
    name, shown = p.layout.name, redact(p.layout.url)
    columns = _ColumnMap.build(p.layout.target_index, n_vars, p.layout.copies)
    log.info(
        "study %s: %d cells, %d/%d features kept, X %s %s, from %s",
        name,
        p.x.n_obs,
        columns.order.size,
        p.layout.target_index.size,
        p.x.format,
        p.x.dtype,
        shown,
    )
    started = time.perf_counter()
    nnz = 0
    done = 0
    with open_h5ad(p.layout.url, storage_options, block_size=STREAM_BLOCK_SIZE, cache_type="readahead") as h5:
        if x_layout(h5, shown) != p.x:
            raise StudyInputError(f"{shown}: X changed while merging")
        for chunk in _iter_row_chunks(h5["X"], p.x, chunk_cells, max_chunk_nnz):
            block = columns.remap(chunk, dtype)
            x_out.append(block)
            output.check()  # stop at the first failed write (no space, …) instead of streaming on
            nnz += block.nnz
            done += block.shape[0]
            bar.update(block.shape[0], note=name)
            log.info("study %s: %d/%d cells (%d values)", name, done, p.x.n_obs, nnz)
    if done != p.x.n_obs:
        raise StudyInputError(f"{shown}: read {done} cells, expected {p.x.n_obs}")
    seconds = time.perf_counter() - started
    log.info("study %s done: %d cells in %.1fs (%.0f cells/s)", name, done, seconds, done / max(seconds, 1e-9))
    return nnz


@dataclass(frozen=True, eq=False)
class _ColumnMap:
    """How one study's columns move to atlas columns.

    ``order`` lists the kept study features sorted (stably) by target; ``targets[j]`` is the atlas column of
    ``order[j]`` and is non-decreasing, so selecting ``order`` and relabelling with ``targets`` yields sorted
    rows with n→1 duplicates adjacent.

    A study whose kept features are permuted is instead sorted row by row on ``keys`` (one per study column, or
    per column of ``chunk[:, select]`` when features are read more than once): the atlas column itself when
    every atlas column receives at most one feature, else the position in ``order`` (then ``key_targets`` is
    ``targets``), so that n→1 values are summed in the same order. Dropped columns get the key ``n_keys``.
    """

    order: np.ndarray
    targets: np.ndarray
    n_vars: int
    keeps_all_in_order: bool  # nothing dropped, order unchanged: relabel only
    in_study_order: bool  # features dropped but the kept ones keep their order: select columns
    keys: np.ndarray
    n_keys: int
    key_targets: np.ndarray | None  # atlas column of each key; None: keys are atlas columns
    select: np.ndarray | None  # study columns to read first (1→n copies); None: the study's columns

    @classmethod
    def build(cls, target_index: np.ndarray, n_vars: int, copies: np.ndarray | None = None) -> _ColumnMap:
        kept = np.flatnonzero(target_index >= 0)
        features, targets = kept, target_index[kept]
        if copies is not None and copies.size:  # a feature read more than once (1→n "keep all")
            features = np.concatenate([features, copies[:, 0]])
            targets = np.concatenate([targets, copies[:, 1]])
        sort = np.argsort(targets, kind="stable")
        order = features[sort]
        index_dtype = np.int32 if n_vars < np.iinfo(np.int32).max else np.int64
        targets = targets[sort].astype(index_dtype)
        in_order = bool(np.all(np.diff(order) > 0))
        keys, n_keys, key_targets, select = _sort_keys(target_index.size, features, sort, targets, n_vars)
        return cls(
            order=order,
            targets=targets,
            n_vars=n_vars,
            keeps_all_in_order=in_order and order.size == target_index.size,
            in_study_order=in_order,
            keys=keys,
            n_keys=n_keys,
            key_targets=key_targets,
            select=select,
        )

    def remap(self, chunk: sp.csr_matrix, dtype: np.dtype) -> sp.csr_matrix:
        """A study row block (CSR, study columns) as an atlas row block: dropped, summed n→1, sorted."""
        if self.keeps_all_in_order or self.in_study_order:
            sub = chunk if self.keeps_all_in_order else chunk[:, self.order]  # selection keeps the row order
            indices = self.targets[sub.indices]
        else:
            sub = self._sorted_by_key(chunk if self.select is None else chunk[:, self.select])
            indices = sub.indices if self.key_targets is None else self.key_targets[sub.indices]
        out = sp.csr_matrix(
            (sub.data.astype(dtype, copy=False), indices, sub.indptr), shape=(chunk.shape[0], self.n_vars)
        )
        out.sum_duplicates()  # sums n→1 (adjacent already); sorts only if the study's rows were unsorted
        return out

    def _sorted_by_key(self, chunk: sp.csr_matrix) -> sp.csr_matrix:
        """``chunk`` with columns relabelled by ``keys``, dropped ones removed, each row sorted by key.

        Parameters
        ----------
        chunk
            Study rows; column ``c`` becomes column ``keys[c]`` (``n_keys``: dropped).

        Returns
        -------
        scipy.sparse.csr_matrix
            ``n_keys`` columns, sorted rows, ``indptr`` of the dtype of ``chunk.indptr``.

        Notes
        -----
        A counting sort by key, then one by row (two transposes), done on row blocks of about
        ``SORT_BLOCK_NNZ`` values so that the transposes' scattered writes stay in the CPU cache; on the whole
        chunk they are several times slower.
        """
        n_rows, n_keys, index_dtype = chunk.shape[0], self.n_keys, self.keys.dtype
        keys = self.keys[chunk.indices]
        bounds = list(_row_bounds(chunk.indptr, max(n_rows, 1), SORT_BLOCK_NNZ))
        widest = max((int(chunk.indptr[r1] - chunk.indptr[r0]) for r0, r1 in bounds), default=0)
        by_key = _SortBuffers.empty(n_keys + 1, widest, index_dtype, chunk.data.dtype)
        row_ptr = np.empty(max((r1 - r0 for r0, r1 in bounds), default=0) + 1, dtype=index_dtype)
        indptr = np.zeros(n_rows + 1, dtype=chunk.indptr.dtype)
        indices = np.empty(chunk.nnz, dtype=index_dtype)
        data = np.empty(chunk.nnz, dtype=chunk.data.dtype)
        done = 0
        for r0, r1 in bounds:
            a0, a1 = int(chunk.indptr[r0]), int(chunk.indptr[r1])
            local_ptr = (chunk.indptr[r0 : r1 + 1] - a0).astype(index_dtype)
            n = r1 - r0
            csr_tocsc(n, n_keys + 1, local_ptr, keys[a0:a1], chunk.data[a0:a1], by_key.ptr, by_key.idx, by_key.val)
            m = int(by_key.ptr[n_keys])  # values with a kept key (the last column holds the dropped ones)
            csr_tocsc(
                n_keys, n, by_key.ptr[: n_keys + 1], by_key.idx, by_key.val, row_ptr[: n + 1],
                indices[done : done + m], data[done : done + m],
            )  # fmt: skip
            indptr[r0 + 1 : r1 + 1] = row_ptr[1 : n + 1] + done
            done += m
        return sp.csr_matrix((data[:done], indices[:done], indptr), shape=(n_rows, n_keys))


def _sort_keys(
    n_features: int, features: np.ndarray, sort: np.ndarray, targets: np.ndarray, n_vars: int
) -> tuple[np.ndarray, int, np.ndarray | None, np.ndarray | None]:
    """Sort keys of a study's columns for :meth:`_ColumnMap._sorted_by_key`.

    Parameters
    ----------
    n_features
        Columns of the study.
    features
        Study column of each kept (feature, atlas column) pair, 1→n copies included.
    sort
        The stable order of the pairs by atlas column (``features[sort]`` is ``_ColumnMap.order``).
    targets
        Atlas column of each pair in ``sort`` order (non-decreasing).
    n_vars
        Atlas columns.

    Returns
    -------
    keys, n_keys, key_targets, select
        As the :class:`_ColumnMap` fields of the same names.
    """
    index_dtype = targets.dtype
    position = np.empty(sort.size, dtype=index_dtype)  # of each pair in sort order
    position[sort] = np.arange(sort.size, dtype=index_dtype)
    if features.size > np.unique(features).size:  # copies: select the columns (in study order) first
        by_feature = np.argsort(features, kind="stable")
        return position[by_feature], sort.size, targets, features[by_feature]
    one_to_one = bool(np.all(np.diff(targets) > 0))
    keys = np.full(n_features, n_vars if one_to_one else sort.size, dtype=index_dtype)
    keys[features] = targets[position] if one_to_one else position
    return keys, (n_vars if one_to_one else sort.size), (None if one_to_one else targets), None


@dataclass(frozen=True)
class _SortBuffers:
    """Column pointers, row indices and values of one transposed row block (reused across blocks)."""

    ptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray

    @classmethod
    def empty(cls, n_cols: int, nnz: int, index_dtype: np.dtype, dtype: np.dtype) -> _SortBuffers:
        return cls(np.empty(n_cols + 1, index_dtype), np.empty(nnz, index_dtype), np.empty(nnz, dtype))


def _iter_row_chunks(x: Any, layout: XLayout, chunk_cells: int, max_chunk_nnz: int) -> Iterator[sp.csr_matrix]:
    """Yield ``X`` as CSR row blocks, whatever its stored format."""
    if layout.format == "csr":
        yield from _csr_chunks(x, layout, chunk_cells, max_chunk_nnz)
    elif layout.format == "csc":
        yield from _csc_chunks(x, layout, chunk_cells, max_chunk_nnz)
    else:
        yield from _dense_chunks(x, layout, chunk_cells)


def _csr_chunks(group: h5py.Group, layout: XLayout, chunk_cells: int, max_chunk_nnz: int) -> Iterator[sp.csr_matrix]:
    backed = sparse_dataset(group)
    indptr = np.asarray(group["indptr"][...], dtype=np.int64)
    for start, stop in _row_bounds(indptr, chunk_cells, max_chunk_nnz):
        chunk = backed[start:stop]
        yield chunk if isinstance(chunk, sp.csr_matrix) else sp.csr_matrix(chunk)


def _row_bounds(indptr: np.ndarray, chunk_cells: int, max_chunk_nnz: int) -> Iterator[tuple[int, int]]:
    n = len(indptr) - 1
    start = 0
    while start < n:
        stop = min(start + chunk_cells, n)
        if indptr[stop] - indptr[start] > max_chunk_nnz:
            stop = int(np.searchsorted(indptr, indptr[start] + max_chunk_nnz, side="right")) - 1
            stop = max(stop, start + 1)
        yield start, stop
        start = stop


def _csc_chunks(group: h5py.Group, layout: XLayout, chunk_cells: int, max_chunk_nnz: int) -> Iterator[sp.csr_matrix]:
    """Row blocks of a CSC ``X``: one pass over column blocks per row block (slower, memory-flat)."""
    backed = sparse_dataset(group)
    col_ptr = np.asarray(group["indptr"][...], dtype=np.int64)
    col_blocks = list(_row_bounds(col_ptr, max(layout.n_vars, 1), max_chunk_nnz))  # column bounds
    col_dtype = np.int32 if layout.n_vars < np.iinfo(np.int32).max else np.int64
    for r0 in range(0, layout.n_obs, chunk_cells):
        r1 = min(r0 + chunk_cells, layout.n_obs)
        rows, cols, vals = [], [], []
        for c0, c1 in col_blocks:
            block = backed[:, c0:c1]
            block = block if isinstance(block, sp.csc_matrix) else sp.csc_matrix(block)
            col_of = np.repeat(np.arange(c0, c1, dtype=col_dtype), np.diff(block.indptr))
            sel = (block.indices >= r0) & (block.indices < r1)
            rows.append(block.indices[sel] - r0)
            cols.append(col_of[sel])
            vals.append(block.data[sel])
        chunk = sp.coo_matrix(
            (
                np.concatenate(vals) if vals else np.empty(0, layout.dtype),
                (
                    np.concatenate(rows) if rows else np.empty(0, np.int64),
                    np.concatenate(cols) if cols else np.empty(0, np.int64),
                ),
            ),
            shape=(r1 - r0, layout.n_vars),
        ).tocsr()
        yield chunk


def _dense_chunks(ds: h5py.Dataset, layout: XLayout, chunk_cells: int) -> Iterator[sp.csr_matrix]:
    rows_by_bytes = max(1, DENSE_BLOCK_BYTES // max(1, layout.n_vars * layout.dtype.itemsize))
    step = max(1, min(chunk_cells, rows_by_bytes))
    for r0 in range(0, layout.n_obs, step):
        yield sp.csr_matrix(ds[r0 : min(r0 + step, layout.n_obs)])


# --------------------------------------------------------------------------------------------- output


@contextmanager
def _atomic_output(out: str, storage_options: Mapping[str, Any]) -> Iterator[str]:
    """Yield a local path to write; publish it at ``out`` only if the block finishes without error.

    Locally the file is written beside ``out`` under a hidden temporary name and renamed; for remote ``out`` it is
    written to the system's temporary folder and uploaded. The temporary file is removed in every case (after the
    block has closed it), and a previous file at ``out`` stays as it was unless the new one is complete.
    """
    fs, path = url_to_fs(out, **dict(storage_options))
    shown = redact(out)
    if is_local(fs):
        parent = os.path.dirname(os.path.abspath(path))
        with writing(shown):
            os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex}")
        try:
            with writing(shown):
                yield tmp
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return
    fd, tmp = tempfile.mkstemp(prefix="idtrack-atlas-", suffix=".h5ad")
    os.close(fd)
    try:
        with writing(f"{tmp} (the local copy of {shown})"):
            yield tmp
        # one PUT / a completed multipart upload: readers see the whole object or nothing
        retrying(lambda: fs.put_file(tmp, path), f"uploading {shown}")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
