"""An atlas written as a Zarr store by independent steps: one block of rows per study, in a layout fixed in advance.

The store holds the same AnnData as the ``.h5ad`` merge of :mod:`idtrack_core.harmonize.merge` (CSR ``X``,
``obs`` ``<study>_<cell>``, ``var``, ``uns``), in anndata's Zarr encoding (format 2), so ``anndata.read_zarr``
opens it. It is written in four steps, plain functions that a loop, a process pool or Dagster ops run:

1. :func:`size_block` (per study, in parallel): check the study file against its layout, read its ``obs`` columns,
   and count the values its rows will hold in the atlas (for a CSR ``X`` only the structure is read, not the values).
2. :func:`start_store`: the layout — every study's first row and first value, hence the final shapes — and an empty
   store at a temporary location beside the output: ``var``, ``obs`` and the ``X`` arrays at their final sizes.
3. :func:`write_block` (per study, in parallel): stream the study's ``X`` in row chunks, remap its columns
   (:class:`~idtrack_core.harmonize.merge._ColumnMap`: drops, n→1 sums, 1→n copies), and write every chunk of
   ``X/data`` and ``X/indices`` that lies wholly within its values. Values in a chunk it shares with a neighbouring
   study (at most the first and the last) and its row lengths go to a small side file.
4. :func:`finish_store`: write the shared chunks from the side files, ``X/indptr``, ``uns`` (the provenance) and
   the consolidated metadata, then publish. The root metadata (``.zgroup``, ``.zattrs``, ``.zmetadata``) is held
   back until everything else is written, so nothing opens as a store before it is complete: a local store is
   written in a temporary folder and renamed; on an object store the store is written in place, root metadata last.

Chunks of ``X`` are encoded with the array's compressor and stored as objects directly (Zarr's array API costs
several times the compression per chunk); every object is hashed (SHA-256) as it is written, by the step that writes
it, so the finished store comes with the checksum of each object without reading anything back.

No two steps ever write the same object, so blocks run on different machines sharing nothing but the storage.
Each step checks what it finds against the layout (a study file that changed between steps is an error naming it).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import posixpath
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numcodecs
import numpy as np
import pandas as pd
import scipy.sparse as sp
import zarr
from anndata.io import write_elem

from idtrack_core import network, storage
from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.merge import (
    MergeResult,
    StudyLayout,
    _check_arguments,
    _ColumnMap,
    _iter_row_chunks,
    _merge_obs,
    _prepare,
    _row_bounds,
    _storable,
)
from idtrack_core.harmonize.studyio import STREAM_BLOCK_SIZE, XLayout, open_h5ad, x_layout

log = logging.getLogger(__name__)

ZARR_FORMAT = 2
"""anndata's default Zarr format: consolidated metadata (``.zmetadata``) is part of the format."""
CHUNK_ENTRIES = 1 << 20
"""Default length of the chunks of ``X/data`` and ``X/indices`` (values), 4 MiB of float32."""
INDPTR_CHUNK = 1 << 18
"""Length of the chunks of ``X/indptr`` (rows)."""
CODEC = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
"""Compressor of the ``X`` arrays (fast; sorted indices and counts compress well)."""
WRITES_IN_FLIGHT = 4
"""Chunks of a block queued for compression and storage at most (bounds a block step's memory)."""
STORE, BLOCKS = "store", "blocks"
_ROOT_METADATA = (".zmetadata", ".zattrs", ".zgroup")
_METADATA_FILES = (".zgroup", ".zarray", ".zattrs")
_EMPTY_ELEMENTS = ("obsm", "varm", "obsp", "varp", "layers")


@dataclass(frozen=True, eq=False)
class BlockSize:
    """What :func:`size_block` found in one study.

    Attributes
    ----------
    name
        The study.
    x
        Shape, dtype and format of its stored ``X``.
    nnz
        Values its rows hold in the atlas (after drops, n→1 sums and 1→n copies).
    obs
        Its ``obs`` columns requested for the atlas.
    """

    name: str
    x: XLayout
    nnz: int
    obs: pd.DataFrame


@dataclass(frozen=True, eq=False)
class BlockPlacement:
    """Where one study's rows and values go in the atlas: rows ``[row_start, row_start + n_obs)``, values
    ``[value_start, value_start + nnz)``."""

    layout: StudyLayout
    x: XLayout
    row_start: int
    value_start: int
    nnz: int

    @property
    def name(self) -> str:
        return self.layout.name


@dataclass(frozen=True, eq=False)
class ZarrLayout:
    """The layout of a Zarr atlas, fixed before any block is written.

    Attributes
    ----------
    out
        Where the store is published (local path or ``s3://``).
    work
        The temporary folder beside ``out`` holding the store being written (``store/``) and the blocks' side files
        (``blocks/``).
    n_obs, n_vars, nnz
        Shape and stored values of the atlas ``X``.
    dtype
        dtype of the atlas ``X`` values (the studies' dtypes promoted with ``np.result_type``).
    chunk_entries
        Chunk length of ``X/data`` and ``X/indices``.
    blocks
        One placement per study, in atlas order.
    local
        Whether ``out`` is on the local filesystem.
    metadata
        The metadata objects (``.zgroup``, ``.zarray``, ``.zattrs``) :func:`start_store` made, by key: all written
        but the root's, which :func:`finish_store` writes last.
    objects
        SHA-256 of every object :func:`start_store` made (``var``, ``obs``, metadata), by key.
    """

    out: str
    work: str
    n_obs: int
    n_vars: int
    nnz: int
    dtype: np.dtype
    chunk_entries: int
    blocks: tuple[BlockPlacement, ...]
    local: bool
    metadata: Mapping[str, bytes] = field(default_factory=dict)
    objects: Mapping[str, str] = field(default_factory=dict)

    @property
    def store_url(self) -> str:
        """Where the store is written: a temporary folder for a local store (renamed when complete), the output
        itself on an object store (which opens once its root metadata is written, last)."""
        return storage.join(self.work, STORE) if self.local else self.out

    def block(self, name: str) -> BlockPlacement:
        """The placement of one study."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"study {name!r} is not in the atlas layout")

    @property
    def index_dtype(self) -> np.dtype:
        return np.dtype(np.int32 if self.n_vars < np.iinfo(np.int32).max else np.int64)


@dataclass(frozen=True)
class BlockWritten:
    """What :func:`write_block` wrote: the study, its values, and the SHA-256 of every store object it wrote."""

    name: str
    nnz: int
    objects: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ZarrResult:
    """A published Zarr atlas: the merge summary and the SHA-256 of every object of the store (by key)."""

    merge: MergeResult
    objects: Mapping[str, str]

    @property
    def sha256(self) -> str:
        """One checksum of the whole store: SHA-256 of its sorted ``key sha256`` lines."""
        lines = "".join(f"{k} {v}\n" for k, v in sorted(self.objects.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


# --------------------------------------------------------------------------------------------- 1. size


def size_block(
    study: StudyLayout,
    n_vars: int,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    chunk_cells: int = 10_000,
    max_chunk_nnz: int = 1 << 25,
) -> BlockSize:
    """Check one study against its layout and count the values its rows hold in the atlas.

    Parameters
    ----------
    study
        The study's layout (where its features go).
    n_vars
        Features of the atlas.
    obs_columns
        ``obs`` columns to keep.
    storage_options
        fsspec options for the study URL.
    chunk_cells, max_chunk_nnz
        Row chunks read at once (bound memory).

    Returns
    -------
    BlockSize

    Raises
    ------
    StudyInputError
        The study cannot be read or disagrees with its layout.
    """
    opts = dict(storage_options or {})
    prepared, obs = _prepare(study, n_vars, obs_columns, opts)
    columns = _ColumnMap.build(study.target_index, n_vars, study.copies)
    weights = _column_weights(study)
    nnz = 0
    for chunk in _structure_chunks(study.url, prepared.x, chunk_cells, max_chunk_nnz, opts):
        if weights is not None and chunk.has_canonical_format:
            nnz += int(weights[chunk.indices].sum())
        else:  # values of one row summed n→1 (or stored twice): the remapped structure tells
            nnz += columns.remap(chunk, np.dtype(np.uint8)).nnz
    log.info("study %s: %d cells, %d atlas values", study.name, prepared.x.n_obs, nnz)
    return BlockSize(study.name, prepared.x, nnz, obs)


def _column_weights(study: StudyLayout) -> np.ndarray | None:
    """How many atlas values each stored value of a study column becomes (0 dropped, 1, or more with 1→n copies),
    when no two of its features land on one atlas feature; None when some do (n→1 sums merge values per row)."""
    kept = study.target_index >= 0
    targets = np.concatenate([study.target_index[kept], study.copies[:, 1]])
    if np.unique(targets).size < targets.size:
        return None
    weights = kept.astype(np.int64)
    np.add.at(weights, study.copies[:, 0], 1)
    return weights


def _structure_chunks(
    url: str, x: XLayout, chunk_cells: int, max_chunk_nnz: int, storage_options: Mapping[str, Any]
) -> Iterator[sp.csr_matrix]:
    """Row blocks of ``X`` whose stored values are replaced by ones: for a CSR ``X`` only ``indptr`` and ``indices``
    are read; other formats are read whole, block by block."""
    shown = storage.redact(url)
    with open_h5ad(url, storage_options, block_size=STREAM_BLOCK_SIZE, cache_type="readahead") as h5:
        if x_layout(h5, shown) != x:
            raise StudyInputError(f"{shown}: X changed while the atlas was being laid out")
        if x.format != "csr":
            for chunk in _iter_row_chunks(h5["X"], x, chunk_cells, max_chunk_nnz):
                yield sp.csr_matrix((np.ones(chunk.nnz, np.uint8), chunk.indices, chunk.indptr), shape=chunk.shape)
            return
        indptr = np.asarray(h5["X"]["indptr"][...], dtype=np.int64)
        indices = h5["X"]["indices"]
        for start, stop in _row_bounds(indptr, chunk_cells, max_chunk_nnz):
            lo, hi = int(indptr[start]), int(indptr[stop])
            yield sp.csr_matrix(
                (np.ones(hi - lo, np.uint8), indices[lo:hi], indptr[start : stop + 1] - lo),
                shape=(stop - start, x.n_vars),
            )


# --------------------------------------------------------------------------------------------- 2. start


def start_store(
    out: str,
    studies: Sequence[StudyLayout],
    sizes: Sequence[BlockSize],
    var: pd.DataFrame,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    chunk_entries: int = CHUNK_ENTRIES,
    token: str | None = None,
) -> ZarrLayout:
    """Fix the layout and create the empty store (``var``, ``obs``, ``X`` arrays at their final sizes).

    Parameters
    ----------
    out
        Where the store will be published (local path or ``s3://``).
    studies
        Every study's layout, in atlas order.
    sizes
        :func:`size_block` of every study (any order).
    var
        The atlas ``var``.
    obs_columns
        ``obs`` columns kept (as given to :func:`size_block`).
    storage_options
        fsspec options for ``out``.
    chunk_entries
        Chunk length of ``X/data`` and ``X/indices``.
    token
        Names the temporary folder (one per attempt; default: random). Every step of one attempt finds the folder
        through the returned layout.

    Returns
    -------
    ZarrLayout

    Raises
    ------
    ValueError
        Invalid arguments, or ``sizes`` does not match ``studies``.
    """
    studies = list(studies)
    _check_arguments(studies, var, obs_columns, 1)
    if chunk_entries < 1:
        raise ValueError("chunk_entries must be ≥ 1")
    by_name = {s.name: s for s in sizes}
    if sorted(by_name) != sorted(s.name for s in studies):
        raise ValueError(f"sizes are for {sorted(by_name)}, the studies are {sorted(s.name for s in studies)}")
    dtypes = {s.name: by_name[s.name].x.dtype for s in studies}
    dtype = np.result_type(*dtypes.values()) if studies else np.dtype(np.float32)
    if len(set(dtypes.values())) > 1:
        log.warning("X dtypes differ across studies (%s); promoting to %s", dtypes, dtype)
    blocks, row, value = [], 0, 0
    for s in studies:
        size = by_name[s.name]
        blocks.append(BlockPlacement(s, size.x, row, value, size.nnz))
        row, value = row + size.x.n_obs, value + size.nnz
    opts = dict(storage_options or {})
    parent, name = posixpath.split(out.rstrip("/"))
    work = storage.join(parent, f".{name}.tmp-{token or uuid.uuid4().hex}")
    fs, _ = storage.url_to_fs(out, **opts)
    layout = ZarrLayout(
        out, work, row, len(var), value, np.dtype(dtype), chunk_entries, tuple(blocks), storage.is_local(fs)
    )
    obs = _merge_obs([by_name[s.name].obs for s in studies], [s.name for s in studies], obs_columns)
    objects = _create_store(layout, var, obs, opts)
    metadata = {k: v for k, v in objects.items() if k.rsplit("/", 1)[-1] in _METADATA_FILES}
    hashes = {k: hashlib.sha256(v).hexdigest() for k, v in objects.items()}
    log.info("zarr atlas laid out: %d cells × %d features, %d values, at %s", row, len(var), value, work)
    return replace(layout, metadata=metadata, objects=hashes)


def _create_store(layout: ZarrLayout, var: pd.DataFrame, obs: pd.DataFrame, opts: Mapping[str, Any]) -> dict:
    """Write ``var``, ``obs`` and the empty ``X`` arrays (what an earlier attempt left is cleared first); return
    every object of this skeleton, root metadata included, which is not written yet (:func:`finish_store` does)."""
    fs, work = storage.url_to_fs(layout.work, **opts)
    for path in {work, storage.url_to_fs(layout.store_url, **opts)[1]}:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    memory, contents = _memory_store({})
    root = zarr.open_group(memory, mode="w", zarr_format=ZARR_FORMAT)
    write_elem(root, "var", _storable(var))
    write_elem(root, "obs", obs)
    x = root.create_group("X")
    x.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": [layout.n_obs, layout.n_vars]})
    values = max(layout.nnz, 1), layout.chunk_entries
    codec = {"compressors": CODEC, "filters": None, "fill_value": 0}
    x.create_array("data", shape=(layout.nnz,), chunks=(min(values),), dtype=layout.dtype, **codec)
    x.create_array("indices", shape=(layout.nnz,), chunks=(min(values),), dtype=layout.index_dtype, **codec)
    x.create_array("indptr", shape=(layout.n_obs + 1,), chunks=(INDPTR_CHUNK,), dtype=np.int64, **codec)
    objects = _as_bytes(contents)
    _put_objects(layout.store_url, {k: v for k, v in objects.items() if k not in _ROOT_METADATA}, opts)
    return objects


def _memory_store(objects: Mapping[str, bytes]) -> tuple[zarr.storage.MemoryStore, dict[str, Any]]:
    """An in-memory store holding ``objects``, and its contents (key → buffer) as it grows."""
    from zarr.core.buffer import default_buffer_prototype

    contents = {key: default_buffer_prototype().buffer.from_bytes(data) for key, data in objects.items()}
    return zarr.storage.MemoryStore(contents), contents


def _as_bytes(contents: Mapping[str, Any]) -> dict[str, bytes]:
    return {key: buffer.to_bytes() for key, buffer in sorted(contents.items())}


def _put_objects(store_url: str, objects: Mapping[str, bytes], opts: Mapping[str, Any]) -> None:
    """Write many small objects at once (one concurrent batch on an object store)."""
    if not objects:
        return
    fs, base = storage.url_to_fs(store_url, **opts)
    paths = {f"{base.rstrip('/')}/{key}": data for key, data in objects.items()}
    if storage.is_local(fs):
        for path, data in paths.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    else:
        network.retrying(lambda: fs.pipe(paths), what=f"write {len(paths)} objects to {storage.redact(store_url)}")


class _ChunkWriter:
    """Stores whole chunks of one 1-d array of the store: encoded with the array's own compressor (as Zarr would,
    the last chunk padded with the fill value), written as objects, each hashed as it is written.

    Blocks write their chunks this way rather than through ``zarr.Array`` (whose per-chunk overhead is several
    times the compression's); what they write is what Zarr reads.
    """

    def __init__(self, layout: ZarrLayout, key: str, opts: Mapping[str, Any]) -> None:
        meta = json.loads(layout.metadata[f"{key}/.zarray"])
        if meta.get("filters") or meta["order"] != "C":
            raise ValueError(f"{key}: only C-order arrays without filters are written chunk by chunk")
        self.key, self.length, self.chunk = key, meta["shape"][0], meta["chunks"][0]
        self.dtype, self.fill = np.dtype(meta["dtype"]), meta["fill_value"] or 0
        self.codec = numcodecs.get_codec(meta["compressor"]) if meta["compressor"] else None
        self.fs, base = storage.url_to_fs(layout.store_url, **opts)
        self.base = base.rstrip("/")
        self.local = storage.is_local(self.fs)
        self.hashes: dict[str, str] = {}

    def put(self, j: int, values: np.ndarray) -> None:
        """Store chunk ``j`` (its values, in order: ``chunk`` of them, fewer for the last)."""
        expected = min(self.chunk, self.length - j * self.chunk)
        if values.size != expected:
            raise ValueError(f"{self.key} chunk {j}: {values.size} values, expected {expected}")
        full = np.full(self.chunk, self.fill, dtype=self.dtype)
        full[: values.size] = values
        data = self.codec.encode(full) if self.codec else full.tobytes()
        data = bytes(data)
        key = f"{self.key}/{j}"
        self.hashes[key] = hashlib.sha256(data).hexdigest()
        path = f"{self.base}/{key}"
        if self.local:
            with open(path, "wb") as f:
                f.write(data)
        else:
            network.retrying(lambda: self.fs.pipe_file(path, data), what=f"write {key}")

    def put_all(self, values: np.ndarray) -> None:
        """Store the whole array."""
        for j, start in enumerate(range(0, max(self.length, 1), self.chunk)):
            if start < self.length:
                self.put(j, values[start : start + self.chunk])


def open_atlas_store(url: str, storage_options: Mapping[str, Any] | None = None) -> zarr.Group:
    """Open a published Zarr atlas read-only (its consolidated metadata: one read for the whole tree).

    Raises
    ------
    StudyInputError
        Nothing complete is at ``url``.
    """
    try:
        return zarr.open_consolidated(_store(url, dict(storage_options or {})), mode="r", zarr_format=ZARR_FORMAT)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise StudyInputError(f"{storage.redact(url)}: no complete Zarr atlas here ({exc})") from exc


def _store(url: str, opts: Mapping[str, Any]) -> Any:
    fs, path = storage.url_to_fs(url, **opts)
    if storage.is_local(fs):
        return zarr.storage.LocalStore(path)
    return zarr.storage.FsspecStore.from_url(url, storage_options=dict(opts))


# --------------------------------------------------------------------------------------------- 3. blocks


def write_block(
    layout: ZarrLayout,
    name: str,
    storage_options: Mapping[str, Any] | None = None,
    chunk_cells: int = 10_000,
    max_chunk_nnz: int = 1 << 25,
) -> BlockWritten:
    """Write one study's rows into the store laid out by :func:`start_store`.

    Chunks of ``X/data``/``X/indices`` that lie wholly within the study's values are written; values of chunks it
    shares with its neighbours, and its row lengths, go to ``blocks/{name}.npz`` for :func:`finish_store`.

    Returns
    -------
    BlockWritten

    Raises
    ------
    StudyInputError
        The study's file changed since it was sized (other shape, or another number of values).
    """
    opts = dict(storage_options or {})
    block = layout.block(name)
    shown = storage.redact(block.layout.url)
    started = time.perf_counter()
    data, indices = _ChunkWriter(layout, "X/data", opts), _ChunkWriter(layout, "X/indices", opts)
    columns = _ColumnMap.build(block.layout.target_index, layout.n_vars, block.layout.copies)
    row_nnz = []
    with (
        _RegionWriter(data, indices, block.value_start, block.value_start + block.nnz, layout) as writer,
        open_h5ad(block.layout.url, opts, block_size=STREAM_BLOCK_SIZE, cache_type="readahead") as h5,
    ):
        if x_layout(h5, shown) != block.x:
            raise StudyInputError(f"{shown}: X changed since the atlas was laid out")
        for chunk in _iter_row_chunks(h5["X"], block.x, chunk_cells, max_chunk_nnz):
            remapped = columns.remap(chunk, layout.dtype)
            writer.append(remapped.data, remapped.indices.astype(layout.index_dtype, copy=False))
            row_nnz.append(np.diff(remapped.indptr))
        pieces = writer.close(shown)
    rows = np.concatenate(row_nnz) if row_nnz else np.zeros(0, np.int64)
    if rows.size != block.x.n_obs:
        raise StudyInputError(f"{shown}: read {rows.size} cells, expected {block.x.n_obs}")
    _save_pieces(layout, name, pieces, rows.astype(np.int64), opts)
    seconds = time.perf_counter() - started
    log.info("study %s: %d values written in %.1fs (%d pieces shared)", name, block.nnz, seconds, len(pieces))
    return BlockWritten(name, block.nnz, {**data.hashes, **indices.hashes})


class _RegionWriter:
    """Writes values at positions ``[start, stop)`` of ``X/data`` and ``X/indices`` in lockstep.

    A chunk wholly inside the region is written as soon as its values are in hand; the values of a chunk that the
    region shares with another (its first and its last, at most) are kept as pieces ``(position, data, indices)``.
    """

    def __init__(self, data: _ChunkWriter, indices: _ChunkWriter, start: int, stop: int, layout: ZarrLayout) -> None:
        self.data, self.indices = data, indices
        self.start, self.stop, self.total, self.chunk = start, stop, layout.nnz, layout.chunk_entries
        self.position = start
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_n = 0
        self.pieces: list[tuple[int, np.ndarray, np.ndarray]] = []
        # chunks are compressed and stored by one background thread while the next rows are read and remapped;
        # at most WRITES_IN_FLIGHT chunks wait, so memory stays bounded
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="zarr-block")
        self.in_flight: deque[Future] = deque()

    def append(self, data: np.ndarray, indices: np.ndarray) -> None:
        if self.position + self.pending_n + data.size > self.stop:
            raise StudyInputError("more values than the layout holds for this study (was its file replaced?)")
        if data.size:
            self.pending.append((data, indices))
            self.pending_n += data.size
        self._flush()

    def _flush(self) -> None:
        while self.pending_n:
            j = self.position // self.chunk
            chunk_start, chunk_stop = j * self.chunk, min((j + 1) * self.chunk, self.total)
            own = self.position == chunk_start and chunk_stop <= self.stop
            need = chunk_stop - self.position if own else min(chunk_stop, self.stop) - self.position
            if self.pending_n < need:
                return
            data, indices = self._take(need)
            if own:
                self.in_flight.append(self.writes.submit(self._write, j, data, indices))
                while len(self.in_flight) > WRITES_IN_FLIGHT:
                    self.in_flight.popleft().result()
            else:
                self.pieces.append((self.position, data, indices))
            self.position += need

    def _write(self, j: int, data: np.ndarray, indices: np.ndarray) -> None:
        self.data.put(j, data)
        self.indices.put(j, indices)

    def _take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([d for d, _ in self.pending]) if len(self.pending) > 1 else self.pending[0][0]
        indices = np.concatenate([i for _, i in self.pending]) if len(self.pending) > 1 else self.pending[0][1]
        rest = (data[n:], indices[n:])
        self.pending = [rest] if rest[0].size else []
        self.pending_n = rest[0].size
        return data[:n], indices[:n]

    def __enter__(self) -> _RegionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writes.shutdown(wait=True, cancel_futures=True)

    def close(self, shown: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Wait for the chunks being written; the pieces of shared chunks.

        Raises
        ------
        StudyInputError
            The study held another number of values than the layout says.
        """
        while self.in_flight:
            self.in_flight.popleft().result()
        if self.position != self.stop or self.pending_n:
            raise StudyInputError(
                f"{shown}: wrote {self.position - self.start} values, the layout holds {self.stop - self.start} "
                "(was the file replaced?)"
            )
        return self.pieces


def _save_pieces(
    layout: ZarrLayout,
    name: str,
    pieces: list[tuple[int, np.ndarray, np.ndarray]],
    row_nnz: np.ndarray,
    opts: Mapping[str, Any],
) -> None:
    arrays = {"row_nnz": row_nnz, "starts": np.array([p[0] for p in pieces], dtype=np.int64)}
    for i, (_, data, indices) in enumerate(pieces):
        arrays[f"data{i}"], arrays[f"indices{i}"] = data, indices
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    storage.atomic_write_bytes(_pieces_url(layout, name), buffer.getvalue(), **opts)


def _load_pieces(layout: ZarrLayout, name: str, opts: Mapping[str, Any]) -> tuple[list, np.ndarray]:
    with np.load(io.BytesIO(storage.read_bytes(_pieces_url(layout, name), **opts))) as f:
        pieces = [(int(s), f[f"data{i}"], f[f"indices{i}"]) for i, s in enumerate(f["starts"])]
        return pieces, f["row_nnz"]


def _pieces_url(layout: ZarrLayout, name: str) -> str:
    return storage.join(layout.work, BLOCKS, f"{name}.npz")


# --------------------------------------------------------------------------------------------- 4. finish


def finish_store(
    layout: ZarrLayout,
    written: Sequence[BlockWritten],
    uns: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ZarrResult:
    """Complete the store from the blocks' side files and publish it at ``layout.out``.

    Parameters
    ----------
    layout
        From :func:`start_store`.
    written
        :func:`write_block` of every study (any order).
    uns
        The atlas ``uns`` (its provenance under ``"idtrack"``).
    storage_options
        fsspec options for the store.

    Returns
    -------
    ZarrResult

    Raises
    ------
    StudyInputError
        A study's block is missing or holds another number of values than the layout.
    """
    started = time.perf_counter()
    opts = dict(storage_options or {})
    done = {w.name: w for w in written}
    missing = [b.name for b in layout.blocks if b.name not in done or done[b.name].nnz != b.nnz]
    if missing:
        raise StudyInputError(f"zarr atlas {storage.redact(layout.out)}: blocks of {missing} missing or incomplete")
    writers = {key: _ChunkWriter(layout, f"X/{key}", opts) for key in ("data", "indices", "indptr")}
    rows, shared = [], []
    for b in layout.blocks:
        pieces, row_nnz = _load_pieces(layout, b.name, opts)
        shared += pieces
        rows.append(row_nnz)
    _write_shared_chunks(writers["data"], writers["indices"], shared, layout)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(rows) if rows else [], dtype=np.int64)])
    if indptr[-1] != layout.nnz:
        raise StudyInputError(
            f"zarr atlas {storage.redact(layout.out)}: rows hold {indptr[-1]} values, not {layout.nnz}"
        )
    writers["indptr"].put_all(indptr)
    metadata = _finish_metadata(layout, uns)
    _put_objects(layout.store_url, {k: v for k, v in metadata.items() if k not in _ROOT_METADATA}, opts)
    written_here = {k: v for w in writers.values() for k, v in w.hashes.items()}
    objects = _all_hashes(layout, done, written_here, metadata, opts)
    for key in reversed(_ROOT_METADATA):  # the store opens only once these exist: consolidated metadata last
        _put_objects(layout.store_url, {key: metadata[key]}, opts)
    _publish(layout, opts)
    seconds = time.perf_counter() - started
    log.info("zarr atlas published in %.1fs → %s", seconds, storage.redact(layout.out))
    merge = MergeResult(
        out=storage.redact(layout.out),
        n_obs=layout.n_obs,
        n_vars=layout.n_vars,
        nnz=layout.nnz,
        cells_per_study={b.name: b.x.n_obs for b in layout.blocks},
        dtype=layout.dtype,
        dtype_promoted=len({b.x.dtype for b in layout.blocks}) > 1,
        study_dtypes={b.name: str(b.x.dtype) for b in layout.blocks},
        seconds=seconds,
    )
    return ZarrResult(merge, objects)


def _write_shared_chunks(
    data: _ChunkWriter, indices: _ChunkWriter, pieces: list[tuple[int, np.ndarray, np.ndarray]], layout: ZarrLayout
) -> None:
    """Assemble every chunk that several blocks share from their pieces (which tile it exactly)."""
    by_chunk: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for piece in pieces:
        by_chunk.setdefault(piece[0] // layout.chunk_entries, []).append(piece)
    for j, parts in sorted(by_chunk.items()):
        parts.sort(key=lambda p: p[0])
        start, stop = j * layout.chunk_entries, min((j + 1) * layout.chunk_entries, layout.nnz)
        position = start
        for piece_start, piece_values, _ in parts:
            if piece_start != position:
                raise StudyInputError(
                    f"zarr atlas {storage.redact(layout.out)}: chunk {j} has a gap at value {piece_start}"
                )
            position += piece_values.size
        if position != stop:
            raise StudyInputError(f"zarr atlas {storage.redact(layout.out)}: chunk {j} ends at {position}, not {stop}")
        data.put(j, np.concatenate([p[1] for p in parts]))
        indices.put(j, np.concatenate([p[2] for p in parts]))


def _finish_metadata(layout: ZarrLayout, uns: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The metadata objects a finished store adds to its skeleton: ``uns``, the empty elements, the root's attributes
    and the consolidated metadata (built in memory from the skeleton's metadata: nothing is read back)."""
    skeleton = dict(layout.metadata)
    memory, contents = _memory_store(skeleton)
    root = zarr.open_group(memory, mode="r+", zarr_format=ZARR_FORMAT)
    root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    for key in _EMPTY_ELEMENTS:
        write_elem(root, key, {})
    write_elem(root, "uns", dict(uns or {}))
    zarr.consolidate_metadata(memory, zarr_format=ZARR_FORMAT)
    return {k: v for k, v in _as_bytes(contents).items() if skeleton.get(k) != v or k in _ROOT_METADATA}


def _all_hashes(
    layout: ZarrLayout,
    done: Mapping[str, BlockWritten],
    written_here: Mapping[str, str],
    metadata: Mapping[str, bytes],
    opts: Mapping[str, Any],
) -> dict[str, str]:
    """SHA-256 of every object of the finished store, from the steps that wrote them, checked against a listing."""
    hashes = {**layout.objects, **{k: hashlib.sha256(v).hexdigest() for k, v in metadata.items()}}
    hashes.update({k: v for w in done.values() for k, v in w.objects.items()})
    hashes.update(written_here)
    chunks = {"X/data": (layout.nnz, layout.chunk_entries), "X/indices": (layout.nnz, layout.chunk_entries)}
    chunks["X/indptr"] = (layout.n_obs + 1, INDPTR_CHUNK)
    for key, (length, size) in chunks.items():
        absent = [j for j in range(-(-length // size)) if f"{key}/{j}" not in hashes]
        if absent:
            raise StudyInputError(f"zarr atlas {storage.redact(layout.out)}: chunks {absent[:5]} of {key} not written")
    fs, base = storage.url_to_fs(layout.store_url, **opts)
    prefix = base.rstrip("/") + "/"
    listed = {p[len(prefix) :] for p in fs.find(base)} | set(_ROOT_METADATA)
    if listed != set(hashes):
        unknown, vanished = sorted(listed - set(hashes))[:5], sorted(set(hashes) - listed)[:5]
        raise StudyInputError(
            f"zarr atlas {storage.redact(layout.out)}: objects not written by its steps {unknown}, missing {vanished}"
        )
    return dict(sorted(hashes.items()))


def _publish(layout: ZarrLayout, opts: Mapping[str, Any]) -> None:
    """A local store is renamed to ``layout.out`` (an object store was written in place); the side files go."""
    fs, work = storage.url_to_fs(layout.work, **opts)
    if layout.local:
        _, out = storage.url_to_fs(layout.out, **opts)
        if fs.exists(out):  # a store left by an attempt that failed after publishing
            fs.rm(out, recursive=True)
        os.replace(f"{work.rstrip('/')}/{STORE}", out)
    if fs.exists(work):
        fs.rm(work, recursive=True)


# --------------------------------------------------------------------------------------------- all steps


def merge_studies_zarr(
    studies: Sequence[StudyLayout],
    var: pd.DataFrame,
    out: str,
    obs_columns: Sequence[str] = (),
    storage_options: Mapping[str, Any] | None = None,
    *,
    uns: Mapping[str, Any] | None = None,
    workers: int = 1,
    chunk_entries: int = CHUNK_ENTRIES,
    chunk_cells: int = 10_000,
) -> ZarrResult:
    """Write the atlas as a Zarr store at ``out``: every step of this module, the per-study steps on ``workers``
    processes.

    Parameters
    ----------
    studies, var, obs_columns, storage_options, uns, chunk_cells
        As for :func:`~idtrack_core.harmonize.merge.merge_studies`.
    out
        The store's URL (a local folder or ``s3://``), published when complete.
    workers
        Processes for the per-study steps (1: all in this process).
    chunk_entries
        Chunk length of ``X/data`` and ``X/indices``.

    Returns
    -------
    ZarrResult
    """
    started = time.perf_counter()
    studies, opts, n_vars = list(studies), dict(storage_options or {}), len(var)
    _check_arguments(studies, var, obs_columns, chunk_cells)
    with _pool(workers) as run:
        sizes = run(size_block, [(s, n_vars, list(obs_columns), opts, chunk_cells) for s in studies])
        layout = start_store(out, studies, sizes, var, obs_columns, opts, chunk_entries)
        written = run(write_block, [(layout, s.name, opts, chunk_cells) for s in studies])
    result = finish_store(layout, written, uns, opts)
    merge = result.merge
    seconds = time.perf_counter() - started
    log.info("zarr atlas: %d cells × %d features in %.1fs on %d worker(s)", merge.n_obs, merge.n_vars, seconds, workers)
    return ZarrResult(replace(merge, seconds=seconds), result.objects)


class _pool:
    """``with _pool(n) as run: run(fn, [args, …])`` → results in order; in this process when ``n`` is 1."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be ≥ 1")
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Any:
        if self.workers > 1:  # Zarr and fsspec reset their event loops in forked children
            self.executor = ProcessPoolExecutor(self.workers)

        def run(fn: Any, calls: list[tuple]) -> list:
            if self.executor is None:
                return [fn(*args) for args in calls]
            return [f.result() for f in [self.executor.submit(fn, *args) for args in calls]]

        return run

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
