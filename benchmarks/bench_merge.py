"""Benchmark: out-of-core union/intersect merge vs ``anndata.concat`` in memory.

Generates ``--studies`` studies of sparse float32 counts (``--density``, ``--features`` per study drawn from a
shared gene pool so the gene sets overlap, genes in random order) for each ``--cells`` value, then measures,
each in a fresh process (wall time, peak RSS via ``os.wait4``):

* ours: :func:`idtrack_core.harmonize.merge.merge_studies` (union = ``outer``, intersect = ``inner``),
* baseline: ``anndata.read_h5ad`` of every study, ``anndata.concat(join=...)``, ``write_h5ad``.

in ``--repeat`` paired rounds (ours, then the baseline), reporting min and median, the ratios of both, and the load
average at the start and the end. Targets: our peak RSS flat in cells (largest run ≤ 1.3× smallest) and < 2 GiB;
time within 1.5× of baseline; DESIGN §8 asks for the union at ≤ 0.5× the baseline's time (printed).

Run from the repository root::

    python -m benchmarks.bench_merge                     # 4 studies × 25k and 100k cells (takes a while)
    python -m benchmarks.bench_merge --quick             # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import (
    Measurement,
    Timer,
    emit_result,
    format_table,
    human_bytes,
    load_average,
    machine_summary,
    peak_rss_self,
    run_python,
)

GIB = 1 << 30
JOINS = {"union": "outer", "intersect": "inner"}


# --------------------------------------------------------------------------------------------- data


def generate_study(
    path: Path, n_cells: int, genes: np.ndarray, density: float, seed: int, drop_obs_column: bool
) -> int:
    """Write one study ``.h5ad`` (CSR float32 counts) chunk by chunk; return its stored values."""
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    rng = np.random.default_rng(seed)
    n_genes = len(genes)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice([f"b{seed}_{i}" for i in range(4)], n_cells)),
            "n_counts": rng.random(n_cells).astype(np.float32),
        },
        index=pd.Index([f"cell{i}" for i in range(n_cells)], dtype=object),
    )
    if not drop_obs_column:
        obs["cell_type"] = pd.Categorical(rng.choice(["T", "B", "NK", "Mono", "DC"], n_cells))
    var = pd.DataFrame(index=pd.Index(genes, dtype=object))
    tmp = path.with_suffix(".tmp")
    nnz = 0
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        write_elem(f, "obs", obs)
        write_elem(f, "var", var)
        empty = sp.csr_matrix((0, n_genes), dtype=np.float32)
        write_elem(f, "X", empty, dataset_kwargs={"chunks": (1 << 18,), "indptr_dtype": np.int64})
        x = sparse_dataset(f["X"])
        per_row = max(1, int(n_genes * density * 1.5 + 8 * np.sqrt(n_genes * density) + 16))
        for r0 in range(0, n_cells, 2000):
            rows = min(2000, n_cells - r0)
            # Bernoulli(density) positions per row as cumulative geometric gaps, sorted by construction
            pos = np.cumsum(rng.geometric(density, size=(rows, per_row)), axis=1, dtype=np.int64) - 1
            mask = pos < n_genes
            counts = mask.sum(axis=1)
            indptr = np.zeros(rows + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            indices = pos[mask].astype(np.int32)
            data = rng.geometric(0.3, size=indices.size).astype(np.float32)
            x.append(sp.csr_matrix((data, indices, indptr), shape=(rows, n_genes)))
            nnz += indices.size
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            write_elem(f, key, {})
    os.replace(tmp, path)
    return nnz


def make_studies(root: Path, n_cells: int, n_studies: int, features: tuple[int, int], density: float) -> dict:
    """Generate (or reuse) a set of studies; return ``{name: path}``."""
    spec = {"cells": n_cells, "studies": n_studies, "features": features, "density": density, "v": 1}
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    folder = root / f"cells{n_cells}-{key}"
    done = folder / "spec.json"
    names = {f"study{i}": str(folder / f"study{i}.h5ad") for i in range(n_studies)}
    if done.exists():
        return names
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12345)
    pool_size = int(features[1] * 1.25)
    pool = np.array([f"ENSG{i:011d}" for i in range(pool_size)], dtype=object)
    with Timer() as t:
        total = 0
        for i, path in enumerate(names.values()):
            n_feat = int(rng.integers(features[0], features[1] + 1))
            genes = pool[rng.choice(pool_size, n_feat, replace=False)]  # random order
            total += generate_study(Path(path), n_cells, genes, density, seed=i + 1, drop_obs_column=(i == 1))
    print(f"generated {n_studies} studies × {n_cells} cells ({total:,} values) in {t.seconds:.1f}s", flush=True)
    done.write_text(json.dumps(spec))
    return names


# --------------------------------------------------------------------------------------------- workers


def worker_ours(studies: dict[str, str], join: str, out: str, chunk_cells: int) -> dict[str, Any]:
    from idtrack_core.harmonize.merge import layouts_by_var_names, merge_studies

    with Timer() as t:
        layouts, var = layouts_by_var_names(studies, join=join)
        res = merge_studies(layouts, var, out, obs_columns=["batch", "cell_type"], chunk_cells=chunk_cells)
    return {"seconds": t.seconds, "n_obs": res.n_obs, "n_vars": res.n_vars, "nnz": res.nnz}


def worker_baseline(studies: dict[str, str], join: str, out: str) -> dict[str, Any]:
    import anndata as ad

    with Timer() as t:
        adatas = []
        for name, path in studies.items():
            a = ad.read_h5ad(path)
            a.obs_names = [f"{name}_{c}" for c in a.obs_names]
            adatas.append(a)
        merged = ad.concat(adatas, join=join, label="handle_anndata", keys=list(studies))
        del adatas
        merged.write_h5ad(out)
    return {"seconds": t.seconds, "n_obs": merged.n_obs, "n_vars": merged.n_vars, "nnz": int(merged.X.nnz)}


def run_worker(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    studies = json.loads(args.spec)
    if args.worker == "ours":
        result = worker_ours(studies, args.join, args.out, args.chunk_cells)
    else:
        result = worker_baseline(studies, args.join, args.out)
    result["peak_rss_self"] = peak_rss_self()
    emit_result(result)


# --------------------------------------------------------------------------------------------- driver


def measure_paired(
    studies: dict[str, str], join: str, workdir: Path, label: str, chunk_cells: int, repeat: int, baseline: bool
) -> tuple[list[Measurement], list[Measurement]]:
    """``repeat`` paired rounds (ours, then the baseline), each run in a fresh process."""
    ours, base = [], []
    for _ in range(max(1, repeat)):
        ours.append(_measure_once("ours", studies, join, workdir / f"ours-{label}.h5ad", chunk_cells))
        if baseline:
            base.append(_measure_once("baseline", studies, join, workdir / f"base-{label}.h5ad", chunk_cells))
    return ours, base


def best(runs: list[Measurement]) -> Measurement:
    """The fastest run, with the largest peak RSS seen and the median time (``median_seconds``) in its result."""
    fastest = min(runs, key=lambda m: m.result["seconds"])
    result = {**fastest.result, "median_seconds": statistics.median(m.result["seconds"] for m in runs)}
    return dataclasses.replace(fastest, peak_rss_bytes=max(m.peak_rss_bytes for m in runs), result=result)


def _measure_once(kind: str, studies: dict[str, str], join: str, out: Path, chunk_cells: int) -> Measurement:
    m = run_python(
        [
            "-m",
            "benchmarks.bench_merge",
            "--worker",
            kind,
            "--join",
            join,
            "--out",
            str(out),
            "--spec",
            json.dumps(studies),
            "--chunk-cells",
            str(chunk_cells),
        ],
        cwd=str(Path(__file__).resolve().parent.parent),
    ).check()
    if out.exists():
        out.unlink()
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="25000,100000", help="cells per study, comma-separated")
    p.add_argument("--studies", type=int, default=4)
    p.add_argument("--features", default="20000-30000", help="features per study, min-max")
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--chunk-cells", type=int, default=10_000)
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    p.add_argument("--workdir", help="keep generated studies here (reused across runs); default: a temp dir")
    p.add_argument("--repeat", type=int, default=1, help="paired rounds (ours, anndata); min and median reported")
    p.add_argument("--skip-baseline", action="store_true", help="measure only ours")
    p.add_argument("--worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    p.add_argument("--join", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    if args.quick:
        args.cells, args.features, args.studies, args.chunk_cells = "500,2000", "800-1200", 3, 400
    cells = [int(c) for c in args.cells.split(",")]
    fmin, fmax = (int(x) for x in args.features.split("-"))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-merge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench_merge: {machine_summary()}", flush=True)
    print(
        f"{args.studies} studies × cells {cells}, {fmin}-{fmax} features, density {args.density}, "
        f"chunk_cells {args.chunk_cells}, {args.repeat} paired round(s) (ours, anndata), workdir {workdir}",
        flush=True,
    )
    load_start = load_average()
    rows = []
    peaks: dict[tuple[str, int], int] = {}
    try:
        for n in cells:
            studies = make_studies(workdir / "data", n, args.studies, (fmin, fmax), args.density)
            for label, join in JOINS.items():
                runs = measure_paired(
                    studies, join, workdir, label, args.chunk_cells, args.repeat, not args.skip_baseline
                )
                ours, base = best(runs[0]), (best(runs[1]) if runs[1] else None)
                shape = ("n_obs", "n_vars", "nnz")
                if base is not None and [ours.result[k] for k in shape] != [base.result[k] for k in shape]:
                    raise RuntimeError(f"output mismatch: ours {ours.result} vs baseline {base.result}")
                peaks[(label, n)] = ours.peak_rss_bytes
                rows.append(_row(n, label, ours, base))
                print(f"  {rows[-1]}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    headers = [
        "cells/study",
        "join",
        "atlas shape",
        "nnz",
        "ours s (min)",
        "anndata s (min)",
        "time ours/base (mins)",
        "time ours/base (medians)",
        "ours peak RSS",
        "anndata peak RSS",
        "mem ours/base",
    ]
    print()
    print(f"load average {load_start} at the start, {load_average()} at the end")
    print(format_table(rows, headers))
    print()
    lo, hi = min(cells), max(cells)
    ok = True
    for label in JOINS:
        peak_hi = peaks[(label, hi)]
        ratio = peak_hi / peaks[(label, lo)]
        flat = ratio <= 1.3
        small = peak_hi < 2 * GIB
        ok &= flat and small
        print(
            f"{label}: peak RSS {hi} / {lo} cells per study = {ratio:.2f}× "
            f"({'flat' if flat else 'NOT flat'}, target ≤ 1.30×); "
            f"largest {human_bytes(peak_hi)} ({'<' if small else '≥'} 2 GiB)"
        )
    if not args.skip_baseline:
        slow = [r for r in rows if r[6] > 1.5]
        union = [r[6] for r in rows if r[1] == "union"]
        print(f"union time ours/anndata.concat (mins): {', '.join(str(u) for u in union)} (target ≤ 0.5)")
        ok &= not slow
        print(f"time within 1.5× of anndata.concat: {'yes' if not slow else f'no ({len(slow)} runs slower)'}")
    if args.quick:
        print("quick run: sizes too small for the targets to mean anything")
    else:
        print("targets met" if ok else "TARGETS MISSED")
    return 0


def _row(n: int, label: str, ours: Measurement, base: Measurement | None) -> list[Any]:
    r = ours.result
    shape = f"{r['n_obs']}×{r['n_vars']}"
    if base is None:
        return [n, label, shape, r["nnz"], r["seconds"], "-", "-", "-", human_bytes(ours.peak_rss_bytes), "-", "-"]
    b = base.result
    return [
        n,
        label,
        shape,
        r["nnz"],
        round(r["seconds"], 2),
        round(b["seconds"], 2),
        round(r["seconds"] / b["seconds"], 2),
        round(r["median_seconds"] / b["median_seconds"], 2),
        human_bytes(ours.peak_rss_bytes),
        human_bytes(base.peak_rss_bytes),
        round(ours.peak_rss_bytes / base.peak_rss_bytes, 3),
    ]


if __name__ == "__main__":
    sys.exit(main())
