"""Study I/O without loading X, and the out-of-core union/intersect merge, on real .h5ad files.

Studies are derived from the real heart-atlas fixture (feature subsets in other orders, dense/CSC storage,
other dtypes) and written with anndata; every merged value is checked against its input cell by cell, and the
merge is compared with ``anndata.concat`` of the same re-indexed inputs.
"""

from __future__ import annotations

import http.server
import io
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata.io import write_elem

from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize import merge as merge_module
from idtrack_core.harmonize.merge import StudyLayout, layouts_by_var_names, merge_studies
from idtrack_core.harmonize.studyio import read_study_features, read_study_obs

from servers import http_server

HEART = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "h5ad" / "heart_atlas_subset_320x136.h5ad"
OBS_COLUMNS = ["tissue_type", "is_primary_data", "cell_type_ontology_term_id", "donor_group", "not_anywhere"]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def heart() -> ad.AnnData:
    return ad.read_h5ad(HEART)


@pytest.fixture(scope="module")
def studies(heart: ad.AnnData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Three float32 studies: A = the fixture (CSR); B = dense, reversed feature subset, fewer obs columns;
    C = CSC, another subset plus features no other study has, an extra categorical obs column."""
    folder = tmp_path_factory.mktemp("studies")
    rng = np.random.default_rng(7)

    b = heart[:120, heart.var_names[::-1][:90]].copy()
    b.X = b.X.toarray()
    b.obs = b.obs[["tissue_type", "is_primary_data"]].copy()
    b.write_h5ad(folder / "B.h5ad")

    c = heart[120:250, heart.var_names[30:]].copy()
    del c.raw
    extra = pd.DataFrame(index=pd.Index([f"ENSG9999999{i:04d}" for i in range(5)]))
    c = ad.concat(
        [
            c,
            ad.AnnData(
                sp.random(c.n_obs, 5, density=0.5, format="csr", dtype=np.float32, random_state=3),
                obs=c.obs,
                var=extra,
            ),
        ],
        axis=1,
        merge="first",
    )
    c = c[:, rng.permutation(c.n_vars)].copy()
    c.X = sp.csc_matrix(c.X, dtype=np.float32)
    c.obs = heart.obs.iloc[120:250][["tissue_type", "cell_type_ontology_term_id"]].copy()
    c.obs["donor_group"] = pd.Categorical(rng.choice(["g1", "g2"], c.n_obs))
    c.obs_names = [f"cell{i}" for i in range(c.n_obs)]
    c.write_h5ad(folder / "C.h5ad")
    return {"A": str(HEART), "B": str(folder / "B.h5ad"), "C": str(folder / "C.h5ad")}


@pytest.fixture(scope="module")
def big_dense_study(studies) -> str:
    """A dense float32 study of ~9.6 MB: larger than the remote read blocks, so HTTP reads are real ranges."""
    rng = np.random.default_rng(11)
    x = rng.random((4000, 600), dtype=np.float32)
    x[x < 0.95] = 0
    genes = list(read_study_features(studies["A"]).var_names[:100]) + [f"ENSG8888888{i:04d}" for i in range(500)]
    big = ad.AnnData(x, obs=pd.DataFrame(index=[f"b{i}" for i in range(4000)]), var=pd.DataFrame(index=genes))
    path = Path(studies["B"]).parent / "big.h5ad"
    big.write_h5ad(path)
    assert path.stat().st_size > 9_000_000
    return str(path)


def _dense(url: str) -> tuple[np.ndarray, pd.Index, pd.Index]:
    a = ad.read_h5ad(url)
    x = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
    return x, a.obs_names, a.var_names


def _check_cell_by_cell(merged: ad.AnnData, studies: dict[str, str], layouts: list[StudyLayout]) -> None:
    """Every atlas value equals the sum of the study values mapped to it; everything else is zero."""
    x_all = merged.X.toarray()
    row = 0
    for layout in layouts:
        x, obs_names, _ = _dense(studies[layout.name])
        expected = np.zeros((x.shape[0], merged.n_vars), dtype=np.float64)
        for j, t in enumerate(layout.target_index):
            if t >= 0:
                expected[:, t] += x[:, j]
        got = x_all[row : row + x.shape[0]]
        np.testing.assert_array_equal(got, expected.astype(merged.X.dtype))
        assert list(merged.obs_names[row : row + x.shape[0]]) == [f"{layout.name}_{o}" for o in obs_names]
        assert (merged.obs["handle_anndata"].iloc[row : row + x.shape[0]] == layout.name).all()
        row += x.shape[0]
    assert row == merged.n_obs


# --------------------------------------------------------------------------------------------- features


def test_read_study_features_of_the_fixture(heart):
    f = read_study_features(str(HEART))
    assert (f.n_obs, f.n_vars, f.x_format, f.x_dtype) == (320, 136, "csr", np.dtype(np.float32))
    assert list(f.var_names) == list(heart.var_names)
    assert all(isinstance(v, str) for v in f.var_names) and "ERCC-00002" in f.var_names
    pd.testing.assert_frame_equal(f.var, heart.var)
    assert f.obs_columns == tuple(heart.obs.columns)


def test_read_study_features_never_reads_x_values(tmp_path, heart):
    """X/data points to an external file that is then deleted: reading its values would fail."""
    path = tmp_path / "external.h5ad"
    heart.write_h5ad(path)
    raw = tmp_path / "data.bin"
    with h5py.File(path, "r+") as f:
        data = f["X/data"][...]
        data.tofile(raw)
        del f["X/data"]
        f["X"].create_dataset("data", shape=data.shape, dtype=data.dtype, external=[(str(raw), 0, data.nbytes)])
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["X/data"][:5], data[:5])  # the external storage is real
    raw.unlink()
    with h5py.File(path) as f, pytest.raises(OSError):
        f["X/data"][:5]

    features = read_study_features(str(path))
    assert (features.n_obs, features.n_vars, features.x_format) == (320, 136, "csr")


def test_dense_and_csc_layouts_and_obs(studies):
    b, c = read_study_features(studies["B"]), read_study_features(studies["C"])
    assert (b.x_format, b.n_obs, b.n_vars) == ("dense", 120, 90)
    assert (c.x_format, c.n_obs, c.n_vars) == ("csc", 130, 111)
    obs = read_study_obs(studies["C"], ["donor_group", "not_anywhere", "tissue_type"])
    assert list(obs.columns) == ["donor_group", "tissue_type"]
    assert list(obs.index[:2]) == ["cell0", "cell1"]
    assert isinstance(obs["donor_group"].dtype, pd.CategoricalDtype)


# --------------------------------------------------------------------------------------------- merge


@pytest.mark.parametrize("join", ["outer", "inner"])
def test_union_and_intersect_cell_by_cell(studies, tmp_path, join):
    layouts, var = layouts_by_var_names(studies, join=join)
    features = {k: read_study_features(u).var_names for k, u in studies.items()}
    for name, names in features.items():  # like the plan's converted_id_<study>: missing → None
        var[f"converted_id_{name}"] = [f"{name}:{g}" if g in names else None for g in var.index]
    out = tmp_path / f"{join}.h5ad"
    result = merge_studies(layouts, var, str(out), obs_columns=OBS_COLUMNS, chunk_cells=37, max_chunk_nnz=1500)
    merged = ad.read_h5ad(out)

    names = {k: set(read_study_features(u).var_names) for k, u in studies.items()}
    expected_vars = set.union(*names.values()) if join == "outer" else set.intersection(*names.values())
    assert set(merged.var_names) == expected_vars and merged.n_vars == len(expected_vars)
    assert merged.shape == (320 + 120 + 130, len(expected_vars)) == (result.n_obs, result.n_vars)
    assert list(merged.var.columns) == list(var.columns)
    pd.testing.assert_series_equal(merged.var["intersection"], var["intersection"])
    for name in studies:
        column = f"converted_id_{name}"
        if join == "inner":  # no gaps: written as is
            pd.testing.assert_series_equal(merged.var[column], var[column])
            continue
        assert var[column].isna().any()  # strings with gaps come back as categoricals with NaN
        assert isinstance(merged.var[column].dtype, pd.CategoricalDtype)
        assert merged.var[column].astype(object).where(merged.var[column].notna(), None).tolist() == list(var[column])
    assert sp.issparse(merged.X) and merged.X.format == "csr" and merged.X.dtype == np.float32
    assert merged.X.has_canonical_format
    assert result.nnz == merged.X.nnz
    assert dict(result.cells_per_study) == {"A": 320, "B": 120, "C": 130}
    assert not result.dtype_promoted and result.dtype == np.float32
    assert list(merged.obs["handle_anndata"].cat.categories) == ["A", "B", "C"]
    _check_cell_by_cell(merged, studies, layouts)

    # obs columns: present where the study has them, NA where it does not
    obs = merged.obs
    assert list(obs.columns) == ["handle_anndata", *OBS_COLUMNS]
    handle = obs["handle_anndata"]
    heart_obs = ad.read_h5ad(HEART).obs
    assert list(obs.loc[handle == "A", "tissue_type"]) == list(heart_obs["tissue_type"])
    assert obs.loc[handle == "B", "cell_type_ontology_term_id"].isna().all()
    assert obs.loc[handle != "B", "cell_type_ontology_term_id"].notna().all()
    assert obs.loc[handle != "C", "donor_group"].isna().all()
    assert set(obs.loc[handle == "C", "donor_group"]) == {"g1", "g2"}
    assert obs["not_anywhere"].isna().all()
    assert isinstance(obs["tissue_type"].dtype, pd.CategoricalDtype)
    # a boolean column absent from C becomes nullable boolean
    assert str(obs["is_primary_data"].dtype) == "boolean"
    assert obs.loc[handle == "C", "is_primary_data"].isna().all()
    assert list(obs.loc[handle == "A", "is_primary_data"]) == list(heart_obs["is_primary_data"])

    if join == "outer":  # genes a study lacks are structural zeros in its rows
        b_rows = merged[handle == "B"]
        missing = ~merged.var_names.isin(list(names["B"]))
        assert missing.any() and b_rows.X[:, np.flatnonzero(missing)].nnz == 0


@pytest.mark.parametrize("join", ["outer", "inner"])
def test_equals_anndata_concat(studies, tmp_path, join):
    adatas = []
    for name, url in studies.items():
        a = ad.read_h5ad(url)
        a.obs_names = [f"{name}_{o}" for o in a.obs_names]
        a.X = sp.csr_matrix(a.X)
        del a.raw
        adatas.append(a)
    ref = ad.concat(adatas, join=join)

    var = pd.DataFrame(index=ref.var_names.copy())
    layouts = [StudyLayout(n, u, var.index.get_indexer(read_study_features(u).var_names)) for n, u in studies.items()]
    merge_studies(layouts, var, str(tmp_path / "m.h5ad"), chunk_cells=50)
    merged = ad.read_h5ad(tmp_path / "m.h5ad")

    assert list(merged.obs_names) == list(ref.obs_names)
    assert list(merged.var_names) == list(ref.var_names)
    assert merged.X.dtype == ref.X.dtype
    assert merged.X.shape == ref.X.shape and (sp.csr_matrix(ref.X) != merged.X).nnz == 0


def test_n_to_1_sums_and_minus_1_drops(tmp_path, heart):
    x = heart.X.toarray()
    n = heart.n_vars
    target = np.arange(n, dtype=np.int64) % 40  # three or four study features per target: summed
    target[::7] = -1  # dropped
    var = pd.DataFrame({"converted_id": [f"G{i}" for i in range(45)]}, index=[f"ENSG{i:011d}" for i in range(45)])
    layouts = [StudyLayout("heart", str(HEART), target)]
    result = merge_studies(layouts, var, str(tmp_path / "m.h5ad"), chunk_cells=64)
    merged = ad.read_h5ad(tmp_path / "m.h5ad")

    expected = np.zeros((heart.n_obs, 45), dtype=np.float32)
    for j, t in enumerate(target):
        if t >= 0:
            expected[:, t] += x[:, j]
    got = merged.X.toarray()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert (got[:, 40:] == 0).all()  # targets nobody maps to
    assert merged.X.has_canonical_format  # summed duplicates, sorted indices
    assert result.nnz == merged.X.nnz == np.count_nonzero(got) + (merged.X.data == 0).sum()
    # a dropped feature's values are gone: the column that only dropped features would feed stays zero
    only_dropped = np.full(n, -1, dtype=np.int64)
    only_dropped[1] = 0
    merge_studies([StudyLayout("heart", str(HEART), only_dropped)], var, str(tmp_path / "d.h5ad"))
    d = ad.read_h5ad(tmp_path / "d.h5ad")
    np.testing.assert_array_equal(d.X[:, 0].toarray().ravel(), x[:, 1])
    assert d.X[:, 1:].nnz == 0


@pytest.mark.parametrize("block_nnz", [1, 97, 1 << 17])
@pytest.mark.parametrize("kind", ["permuted", "permuted, dropped, n→1, 1→n"])
def test_permuted_study_sorted_in_row_blocks(tmp_path, heart, monkeypatch, block_nnz, kind):
    """A study whose features are shuffled in the atlas is sorted row block by row block (one row, a few rows,
    the whole chunk): every value lands in its atlas column, rows sorted, n→1 summed, 1→n copied."""
    monkeypatch.setattr(merge_module, "SORT_BLOCK_NNZ", block_nnz)
    x = heart.X.toarray()
    n, n_vars = heart.n_vars, heart.n_vars + 25
    rng = np.random.default_rng(5)
    target = rng.permutation(n_vars)[:n].astype(np.int64)
    copies = np.zeros((0, 2), dtype=np.int64)
    if kind != "permuted":
        target[rng.random(n) < 0.1] = -1
        target[rng.choice(n, 30, replace=False)] = target[0]  # 31 features summed into one atlas column
        copies = np.stack([rng.integers(0, n, 20), rng.integers(0, n_vars, 20)], axis=1)
    var = pd.DataFrame(index=[f"ENSG{i:011d}" for i in range(n_vars)])
    result = merge_studies([StudyLayout("heart", str(HEART), target, copies)], var, str(tmp_path / "m.h5ad"))
    merged = ad.read_h5ad(tmp_path / "m.h5ad")

    expected = np.zeros((heart.n_obs, n_vars), dtype=np.float64)
    for j, t in [*enumerate(target), *copies]:
        if t >= 0:
            expected[:, t] += x[:, j]
    assert merged.X.has_canonical_format and result.nnz == merged.X.nnz
    if kind == "permuted":
        np.testing.assert_array_equal(merged.X.toarray(), expected.astype(np.float32))
        assert merged.X.nnz == heart.X.nnz
    else:
        np.testing.assert_allclose(merged.X.toarray(), expected, rtol=1e-5)


def test_dtype_promotion_is_reported(tmp_path, heart, caplog):
    ints = heart[:50].copy()
    ints.X = sp.csr_matrix(np.rint(ints.X.toarray() * 3).astype(np.int32))
    ints.write_h5ad(tmp_path / "ints.h5ad")
    studies = {"floats": str(HEART), "ints": str(tmp_path / "ints.h5ad")}
    layouts, var = layouts_by_var_names(studies)
    with caplog.at_level(logging.WARNING, logger="idtrack_core.harmonize.merge"):
        result = merge_studies(layouts, var, str(tmp_path / "m.h5ad"))
    assert result.dtype_promoted and result.dtype == np.float64
    assert dict(result.study_dtypes) == {"floats": "float32", "ints": "int32"}
    assert any("promoting to float64" in r.getMessage() for r in caplog.records)
    merged = ad.read_h5ad(tmp_path / "m.h5ad")
    assert merged.X.dtype == np.float64
    _check_cell_by_cell(merged, studies, layouts)

    same = merge_studies(layouts[1:], var, str(tmp_path / "ints_only.h5ad"))
    assert not same.dtype_promoted and same.dtype == np.int32
    assert ad.read_h5ad(tmp_path / "ints_only.h5ad").X.dtype == np.int32


# --------------------------------------------------------------------------------------------- bad input


def _write_raw_h5ad(path: Path, var: pd.DataFrame, n_obs: int = 3) -> None:
    """An h5ad written element by element (lets us store what AnnData itself would refuse or fix)."""
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        write_elem(f, "obs", pd.DataFrame(index=[f"c{i}" for i in range(n_obs)]))
        write_elem(f, "var", var)
        write_elem(f, "X", sp.csr_matrix((n_obs, len(var)), dtype=np.float32))


def test_bad_inputs_raise_study_input_error(tmp_path):
    text = tmp_path / "notes.h5ad"
    text.write_text("this is not HDF5\n" * 100)
    with pytest.raises(StudyInputError, match=r"notes\.h5ad.*not an HDF5"):
        read_study_features(str(text))

    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["numbers"] = np.arange(3)
    with pytest.raises(StudyInputError, match=r"plain\.h5.*no X"):
        read_study_features(str(plain))

    dup = tmp_path / "dup.h5ad"
    _write_raw_h5ad(dup, pd.DataFrame(index=["ENSG1", "ENSG2", "ENSG1", "ENSG3", "ENSG3"]))
    with pytest.raises(StudyInputError, match=r"dup\.h5ad: 2 duplicated var names: 'ENSG1', 'ENSG3'"):
        read_study_features(str(dup))

    empty = tmp_path / "empty.h5ad"
    _write_raw_h5ad(empty, pd.DataFrame(index=pd.Index([], dtype=object)))
    with pytest.raises(StudyInputError, match=r"empty\.h5ad: var is empty"):
        read_study_features(str(empty))

    ints = tmp_path / "ints.h5ad"
    _write_raw_h5ad(ints, pd.DataFrame({"symbol": ["A", "B"]}, index=pd.Index([101, 102])))
    with h5py.File(ints) as f:  # really stored as integers, not strings
        assert f["var/_index"].dtype.kind == "i"
    with pytest.raises(StudyInputError, match=r"ints\.h5ad: var index must hold feature names as strings"):
        read_study_features(str(ints))

    with pytest.raises(StudyInputError, match=r"missing\.h5ad: no such file"):
        read_study_features(str(tmp_path / "missing.h5ad"))


def test_unreachable_url_raises_after_bounded_retries(caplog):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/study.h5ad"
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(StudyInputError, match=re.escape(url) + ": unreadable"),
    ):
        read_study_features(url)
    assert time.monotonic() - started < 30
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2  # three attempts in all


def test_failure_during_merge_leaves_nothing_at_out(tmp_path, heart, studies):
    """The second study's X values live in an external file that is gone: streaming fails midway."""
    broken = tmp_path / "broken.h5ad"
    heart.write_h5ad(broken)
    raw = tmp_path / "data.bin"
    with h5py.File(broken, "r+") as f:
        data = f["X/data"][...]
        data.tofile(raw)
        del f["X/data"]
        f["X"].create_dataset("data", shape=data.shape, dtype=data.dtype, external=[(str(raw), 0, data.nbytes)])
    raw.unlink()
    out_dir = tmp_path / "atlas"
    out = out_dir / "atlas.h5ad"
    layouts, var = layouts_by_var_names({"A": studies["A"], "broken": str(broken)})
    with pytest.raises(OSError):
        merge_studies(layouts, var, str(out), chunk_cells=100)
    assert not out.exists()
    assert list(out_dir.iterdir()) == []  # no temp file left behind either

    # a study that fails before streaming (wrong feature count) also leaves nothing
    bad = [StudyLayout("A", studies["A"], np.arange(10))]
    with pytest.raises(StudyInputError, match="target_index has 10 entries"):
        merge_studies(bad, var, str(out))
    assert not out.exists() and list(out_dir.iterdir()) == []


def test_bad_merge_arguments(studies, tmp_path):
    layouts, var = layouts_by_var_names({"A": studies["A"]})
    with pytest.raises(ValueError, match="duplicate study names"):
        merge_studies([layouts[0], layouts[0]], var, str(tmp_path / "x.h5ad"))
    too_far = StudyLayout("A", studies["A"], np.full(136, len(var), dtype=np.int64))
    with pytest.raises(ValueError, match="target_index values must lie in"):
        merge_studies([too_far], var, str(tmp_path / "x.h5ad"))
    assert not (tmp_path / "x.h5ad").exists()


# --------------------------------------------------------------------------------------------- remote


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """``http.server`` plus byte ranges (what S3, nginx and CDNs serve); counts what it served."""

    ranges_served: list[int] = []
    full_files_served: list[str] = []

    def send_head(self):  # type: ignore[override]
        header = self.headers.get("Range")
        if not header:
            if self.command == "GET":
                self.full_files_served.append(self.path)
            return super().send_head()
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        size = os.path.getsize(path)
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if not m or (not m.group(1) and not m.group(2)):
            self.send_error(416)
            return None
        if m.group(1):
            start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
        else:
            start, end = max(0, size - int(m.group(2))), size - 1
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.ranges_served.append(len(body))
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def range_http(studies) -> Iterator[str]:
    """A threaded HTTP server with Range support on 127.0.0.1 serving the study folder; always stopped."""
    folder = Path(studies["B"]).parent
    (folder / "A.h5ad").write_bytes(HEART.read_bytes())

    def handler(*args, **kwargs):
        return _RangeHandler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.server
def test_read_features_and_merge_over_http_with_ranges(range_http, studies, big_dense_study, tmp_path):
    _RangeHandler.ranges_served.clear()
    _RangeHandler.full_files_served.clear()
    local = read_study_features(studies["C"])
    remote = read_study_features(f"{range_http}/C.h5ad")
    pd.testing.assert_frame_equal(remote.var, local.var)
    assert (remote.n_obs, remote.n_vars, remote.x_format, remote.x_dtype) == (130, 111, "csc", np.float32)
    assert list(read_study_obs(f"{range_http}/C.h5ad", ["donor_group"]).index) == list(
        read_study_obs(studies["C"], ["donor_group"]).index
    )
    big = read_study_features(f"{range_http}/big.h5ad")
    assert (big.n_obs, big.n_vars, big.x_format) == (4000, 600, "dense")
    size = Path(big_dense_study).stat().st_size
    assert _RangeHandler.ranges_served and max(_RangeHandler.ranges_served) < size  # only ranges were read
    assert _RangeHandler.full_files_served == []

    names = {"A": "A", "C": "C", "big": "big"}
    remote_studies = {k: f"{range_http}/{v}.h5ad" for k, v in names.items()}
    local_studies = {"A": studies["A"], "C": studies["C"], "big": big_dense_study}
    layouts, var = layouts_by_var_names(remote_studies)
    merge_studies(layouts, var, str(tmp_path / "remote.h5ad"), obs_columns=OBS_COLUMNS, chunk_cells=500)
    local_layouts, local_var = layouts_by_var_names(local_studies)
    merge_studies(local_layouts, local_var, str(tmp_path / "local.h5ad"), obs_columns=OBS_COLUMNS)
    a, b = ad.read_h5ad(tmp_path / "remote.h5ad"), ad.read_h5ad(tmp_path / "local.h5ad")
    assert a.shape == (320 + 130 + 4000, len(var)) and (a.X != b.X).nnz == 0
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)
    _check_cell_by_cell(b, local_studies, local_layouts)
    assert _RangeHandler.full_files_served == []

    with pytest.raises(StudyInputError, match=r"nope\.h5ad: no such file"):
        read_study_features(f"{range_http}/nope.h5ad")


@pytest.mark.server
def test_read_features_from_plain_python_http_server(studies, big_dense_study, tmp_path, caplog):
    """``python -m http.server`` ignores Range headers: a study larger than one read block is downloaded."""
    folder = Path(studies["B"]).parent
    with http_server(folder, tmp_path) as url, caplog.at_level(logging.WARNING):
        features = read_study_features(f"{url}/big.h5ad")
        small = read_study_features(f"{url}/B.h5ad")  # fits in the first block: read from the start
    assert (features.n_obs, features.n_vars, features.x_format) == (4000, 600, "dense")
    assert list(features.var_names) == list(read_study_features(big_dense_study).var_names)
    assert list(small.var_names) == list(read_study_features(studies["B"]).var_names)
    assert sum("range requests" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.server
def test_merge_from_and_to_s3(s3, studies, tmp_path):
    """Studies on S3 (moto server), atlas written to S3: uploaded only when complete."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.mkdir("studies")
    fs.put_file(studies["A"], "studies/A.h5ad")
    fs.put_file(studies["C"], "studies/C.h5ad")
    remote = {"A": "s3://studies/A.h5ad", "C": "s3://studies/C.h5ad"}
    opts = s3.storage_options

    features = read_study_features(remote["C"], storage_options=opts)
    assert (features.n_obs, features.n_vars, features.x_format) == (130, 111, "csc")

    layouts, var = layouts_by_var_names(remote, join="inner", storage_options=opts)
    result = merge_studies(layouts, var, "s3://studies/atlas/intersect.h5ad", ["tissue_type"], storage_options=opts)
    assert result.out == "s3://studies/atlas/intersect.h5ad"
    fs.get_file("studies/atlas/intersect.h5ad", str(tmp_path / "got.h5ad"))
    got = ad.read_h5ad(tmp_path / "got.h5ad")
    assert got.shape == (450, len(var)) == (result.n_obs, result.n_vars)
    _check_cell_by_cell(got, studies, layouts)

    with pytest.raises(StudyInputError):
        bad = [StudyLayout("A", remote["A"], np.arange(3))]
        merge_studies(bad, var, "s3://studies/atlas/failed.h5ad", storage_options=opts)
    assert not fs.exists("studies/atlas/failed.h5ad")
