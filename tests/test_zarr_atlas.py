"""The Zarr atlas written block by block: the same AnnData as the .h5ad merge, whatever the chunking, the workers
or the storage; steps that disagree with the layout are refused and nothing is published."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_harmonize_merge import OBS_COLUMNS, heart, studies  # noqa: F401  (module fixtures: dense, CSC, CSR)

from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.merge import StudyLayout, layouts_by_var_names, merge_studies
from idtrack_core.harmonize.zarr_atlas import (
    finish_store,
    merge_studies_zarr,
    open_atlas_store,
    size_block,
    start_store,
    write_block,
)
from idtrack_core.provenance import read_atlas_provenance

UNS = {"idtrack": {"atlas": {"version": "0123456789abcdef0123"}, "studies": ["A", "B", "C"]}}


def assert_same_atlas(h5ad_path: Path | str, zarr_path: Path | str) -> None:
    """X (values, indices, row pointers, dtype), obs, var and uns of the two atlases are identical."""
    a, z = ad.read_h5ad(h5ad_path), ad.read_zarr(zarr_path)
    assert isinstance(z.X, sp.csr_matrix) and z.X.dtype == a.X.dtype and z.X.shape == a.X.shape
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(z.X, part), getattr(a.X, part))
    pd.testing.assert_frame_equal(z.obs, a.obs)
    pd.testing.assert_frame_equal(z.var, a.var)
    assert z.uns.keys() == a.uns.keys()


@pytest.mark.parametrize("join", ["outer", "inner"])
@pytest.mark.parametrize("chunk_entries", [97, 1 << 20])
def test_zarr_atlas_equals_the_h5ad_merge(studies, tmp_path, join, chunk_entries):  # noqa: F811
    """CSR, dense and CSC studies; chunks of 97 values (chunks owned by one study and chunks shared) and of more
    values than the atlas holds (one chunk shared by every study)."""
    layouts, var = layouts_by_var_names(studies, join)
    merge_studies(layouts, var, str(tmp_path / "a.h5ad"), OBS_COLUMNS, uns=UNS)
    result = merge_studies_zarr(
        layouts, var, str(tmp_path / "a.zarr"), OBS_COLUMNS, uns=UNS, chunk_entries=chunk_entries
    )
    assert_same_atlas(tmp_path / "a.h5ad", tmp_path / "a.zarr")
    assert result.merge.nnz == ad.read_h5ad(tmp_path / "a.h5ad").X.nnz > 0
    assert result.merge.cells_per_study == {"A": 320, "B": 120, "C": 130}
    assert sorted(os.listdir(tmp_path)) == ["a.h5ad", "a.zarr"]  # the temporary folder is gone
    assert set(result.objects) == {
        str(p.relative_to(tmp_path / "a.zarr")) for p in (tmp_path / "a.zarr").rglob("*") if p.is_file()
    }
    assert read_atlas_provenance(str(tmp_path / "a.zarr")) == {
        "atlas": {"version": "0123456789abcdef0123"},
        "studies": ["A", "B", "C"],
    }


def test_n_to_1_sums_drops_and_1_to_n_copies(studies, tmp_path):  # noqa: F811
    """Features summed into one atlas column, dropped (-1) and copied to a second column: as in the .h5ad merge."""
    n = ad.read_h5ad(studies["A"], backed="r").n_vars
    target = np.arange(n, dtype=np.int64) % 40
    target[::7] = -1
    copies = np.array([[1, 45], [2, 46], [2, 47]], dtype=np.int64)
    layouts = [StudyLayout("A", studies["A"], target, copies), StudyLayout("A2", studies["A"], target[::-1].copy())]
    var = pd.DataFrame(index=pd.Index([f"g{i}" for i in range(50)], dtype=object))
    merge_studies(layouts, var, str(tmp_path / "a.h5ad"))
    merge_studies_zarr(layouts, var, str(tmp_path / "a.zarr"), chunk_entries=50)
    assert_same_atlas(tmp_path / "a.h5ad", tmp_path / "a.zarr")


def test_two_workers_write_the_byte_identical_store(studies, tmp_path):  # noqa: F811
    layouts, var = layouts_by_var_names(studies, "outer")
    one = merge_studies_zarr(layouts, var, str(tmp_path / "one.zarr"), OBS_COLUMNS, uns=UNS, chunk_entries=500)
    two = merge_studies_zarr(
        layouts, var, str(tmp_path / "two.zarr"), OBS_COLUMNS, uns=UNS, chunk_entries=500, workers=2
    )
    assert one.objects == two.objects and one.sha256 == two.sha256
    for key in one.objects:
        assert (tmp_path / "one.zarr" / key).read_bytes() == (tmp_path / "two.zarr" / key).read_bytes()


def test_each_study_is_written_by_its_own_step_into_the_layout(studies, tmp_path):  # noqa: F811
    """The steps one by one: a block owns whole chunks only, shares at most two; nothing is visible at the output
    before the last step; a block whose file changed after sizing is refused."""
    layouts, var = layouts_by_var_names(studies, "outer")
    out = str(tmp_path / "atlas.zarr")
    sizes = [size_block(s, len(var), OBS_COLUMNS) for s in reversed(layouts)]  # any order
    layout = start_store(out, layouts, sizes, var, OBS_COLUMNS, chunk_entries=300, token="attempt1")
    assert [b.row_start for b in layout.blocks] == [0, 320, 440]
    assert [b.value_start for b in layout.blocks] == [
        0,
        layout.blocks[0].nnz,
        layout.blocks[0].nnz + layout.blocks[1].nnz,
    ]
    assert layout.work == str(tmp_path / ".atlas.zarr.tmp-attempt1")
    written = [write_block(layout, s.name) for s in layouts]
    for w, b in zip(written, layout.blocks, strict=True):
        chunks = {int(k.rsplit("/", 1)[1]) for k in w.objects if k.startswith("X/data/")}
        first, stop = b.value_start, b.value_start + b.nnz
        assert all(first <= j * 300 and min((j + 1) * 300, layout.nnz) <= stop for j in chunks)
        assert len(chunks) >= b.nnz // 300 - 1
    assert not os.path.exists(out)
    with pytest.raises(StudyInputError, match="no complete Zarr atlas"):
        open_atlas_store(out)
    result = finish_store(layout, written, UNS)
    assert open_atlas_store(out)["X"]["data"].shape == (result.merge.nnz,)
    merge_studies(layouts, var, str(tmp_path / "a.h5ad"), OBS_COLUMNS, uns=UNS)
    assert_same_atlas(tmp_path / "a.h5ad", out)

    # a study replaced between sizing and writing: refused, nothing published
    copy = {**studies, "A": str(tmp_path / "A.h5ad")}
    shutil.copy(studies["A"], copy["A"])
    layouts, var = layouts_by_var_names(copy, "outer")
    sizes = [size_block(s, len(var), OBS_COLUMNS) for s in layouts]
    layout = start_store(str(tmp_path / "b.zarr"), layouts, sizes, var, OBS_COLUMNS, chunk_entries=300)
    small = ad.read_h5ad(studies["A"])[:300].copy()
    small.write_h5ad(copy["A"])
    with pytest.raises(StudyInputError, match=r"A\.h5ad: X changed since the atlas was laid out"):
        write_block(layout, "A")
    with pytest.raises(StudyInputError, match=r"blocks of \['A', 'B', 'C'\] missing"):
        finish_store(layout, [], UNS)
    assert not (tmp_path / "b.zarr").exists()


@pytest.mark.server
def test_zarr_atlas_on_s3_from_studies_on_s3(studies, s3, tmp_path):  # noqa: F811
    """Studies read from and the store written to moto's S3 server; the store opens only once published."""
    import s3fs
    import zarr

    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.mkdir("zarr-bucket")
    remote = {}
    for name, path in studies.items():
        fs.put(path, f"zarr-bucket/studies/{name}.h5ad")
        remote[name] = f"s3://zarr-bucket/studies/{name}.h5ad"
    layouts, var = layouts_by_var_names(remote, "outer", s3.storage_options)
    out = "s3://zarr-bucket/atlases/a.zarr"
    result = merge_studies_zarr(
        layouts, var, out, OBS_COLUMNS, s3.storage_options, uns=UNS, chunk_entries=4000, workers=2
    )
    listing = fs.find("zarr-bucket/atlases")
    assert listing and all(p.startswith("zarr-bucket/atlases/a.zarr/") for p in listing)  # no temporaries left
    assert {p.removeprefix("zarr-bucket/atlases/a.zarr/") for p in listing} == set(result.objects)
    store = zarr.storage.FsspecStore.from_url(out, storage_options=s3.storage_options, read_only=True)
    remote_atlas = ad.read_zarr(store)
    local_layouts, _ = layouts_by_var_names(studies, "outer")
    merge_studies(local_layouts, var, str(tmp_path / "a.h5ad"), OBS_COLUMNS, uns=UNS)
    local = ad.read_h5ad(tmp_path / "a.h5ad")
    assert (remote_atlas.X != local.X).nnz == 0 and remote_atlas.X.dtype == local.X.dtype
    pd.testing.assert_frame_equal(remote_atlas.obs, local.obs)
    assert read_atlas_provenance(out, **s3.storage_options)["studies"] == ["A", "B", "C"]
