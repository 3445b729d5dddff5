"""Benchmark: the Zarr atlas written block by block on 2 worker processes vs 1, with the ``.h5ad`` merge beside.

Generates ``--studies`` studies (as ``bench_merge`` does: sparse float32 counts, 20–30k features per study from a
shared gene pool) and measures, each run in a fresh process, in paired rounds (A B C, A B C, …):

* A: :func:`idtrack_core.harmonize.zarr_atlas.merge_studies_zarr` with ``workers=1`` (every step in one process),
* B: the same with ``workers=2`` (the per-study ``size`` and ``block`` steps on a pool of 2 processes),
* C: :func:`idtrack_core.harmonize.merge.merge_studies` (the ``.h5ad`` atlas, one step): the default format.

It reports min and median in-call seconds and process peak RSS per method, the ratios B/A and A/C, B/C on both, the
load average at the start and the end, and checks that A and B wrote byte-identical stores (same object SHA-256s).

Run from the repository root::

    python -m benchmarks.bench_zarr_atlas --cells 50000 --repeat 3 --workdir bench-work/merge
    python -m benchmarks.bench_zarr_atlas --quick             # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

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
    ratio,
    run_python,
)
from benchmarks.bench_merge import make_studies

METHODS = {"zarr1": "zarr, 1 worker", "zarr2": "zarr, 2 workers", "h5ad": "h5ad merge (default)"}
OBS = ["batch", "cell_type"]


def worker(method: str, studies: dict[str, str], join: str, out: str, chunk_cells: int) -> dict[str, Any]:
    """One measured atlas write (in-call time: layouts and the write, no imports)."""
    from idtrack_core.harmonize.merge import layouts_by_var_names, merge_studies
    from idtrack_core.harmonize.zarr_atlas import merge_studies_zarr

    with Timer() as t:
        layouts, var = layouts_by_var_names(studies, join=join)
        if method == "h5ad":
            res, digest = merge_studies(layouts, var, out, OBS, chunk_cells=chunk_cells), ""
        else:
            stored = merge_studies_zarr(layouts, var, out, OBS, workers=int(method[-1]), chunk_cells=chunk_cells)
            res, digest = stored.merge, stored.sha256
    return {"seconds": t.seconds, "n_obs": res.n_obs, "n_vars": res.n_vars, "nnz": res.nnz, "sha256": digest}


def measure(method: str, studies: dict[str, str], join: str, out: Path, chunk_cells: int) -> Measurement:
    spec = json.dumps(studies)
    argv = ["-m", "benchmarks.bench_zarr_atlas", "--worker", method, "--join", join, "--out", str(out)]
    m = run_python([*argv, "--spec", spec, "--chunk-cells", str(chunk_cells)], cwd=str(Path(__file__).parents[1]))
    m.check()
    shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=50_000, help="cells per study")
    p.add_argument("--studies", type=int, default=4)
    p.add_argument("--features", default="20000-30000", help="features per study, min-max")
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--join", choices=["outer", "inner"], default="outer")
    p.add_argument("--chunk-cells", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3, help="paired rounds (each runs every method once)")
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    p.add_argument("--workdir", help="keep generated studies here (reused across runs); default: a temp dir")
    p.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        logging.basicConfig(level=logging.WARNING)
        result = worker(args.worker, json.loads(args.spec), args.join, args.out, args.chunk_cells)
        emit_result({**result, "peak_rss_self": peak_rss_self()})
        return 0

    if args.quick:
        args.cells, args.features, args.studies, args.chunk_cells, args.repeat = 2000, "800-1200", 4, 400, 2
    fmin, fmax = (int(x) for x in args.features.split("-"))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-zarr-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench_zarr_atlas: {machine_summary()}", flush=True)
    print(
        f"{args.studies} studies × {args.cells} cells, {fmin}-{fmax} features, density {args.density}, "
        f"join {args.join}, {args.repeat} paired rounds",
        flush=True,
    )
    runs: dict[str, list[Measurement]] = {m: [] for m in METHODS}
    try:
        studies = make_studies(workdir / "data", args.cells, args.studies, (fmin, fmax), args.density)
        load_start = load_average()
        for i in range(args.repeat):
            for method in METHODS:
                out = workdir / f"atlas-{method}.{'h5ad' if method == 'h5ad' else 'zarr'}"
                runs[method].append(measure(method, studies, args.join, out, args.chunk_cells))
            print(
                f"  round {i + 1}: "
                + ", ".join(f"{m} {runs[m][-1].result['seconds']:.2f}s" for m in METHODS)
                + f" (load {load_average()})",
                flush=True,
            )
        load_end = load_average()
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    shapes = {(r.result["n_obs"], r.result["n_vars"], r.result["nnz"]) for rs in runs.values() for r in rs}
    if len(shapes) != 1:
        raise RuntimeError(f"the methods wrote different atlases: {shapes}")
    digests = {r.result["sha256"] for m in ("zarr1", "zarr2") for r in runs[m]}
    n_obs, n_vars, nnz = shapes.pop()
    stat = {m: _stats(rs) for m, rs in runs.items()}
    rows = [[METHODS[m], round(s["min"], 2), round(s["median"], 2), human_bytes(s["peak"])] for m, s in stat.items()]
    print()
    print(f"atlas {n_obs}×{n_vars}, {nnz:,} values; load average {load_start} at the start, {load_end} at the end")
    print(format_table(rows, ["method", "min s", "median s", "peak RSS (largest)"]))
    print()
    ratios = [
        ["zarr 2 workers / zarr 1 worker", *_ratios(stat, "zarr2", "zarr1")],
        ["zarr 1 worker / h5ad merge", *_ratios(stat, "zarr1", "h5ad")],
        ["zarr 2 workers / h5ad merge", *_ratios(stat, "zarr2", "h5ad")],
    ]
    print(format_table(ratios, ["ratio (same run)", "of mins", "of medians"]))
    print(f"zarr stores byte-identical across workers and rounds: {'yes' if len(digests) == 1 else 'NO'}")
    if args.quick:
        print("quick run: sizes too small for the numbers to mean anything")
    return 0 if len(digests) == 1 else 1


def _stats(runs: list[Measurement]) -> dict[str, float]:
    seconds = [r.result["seconds"] for r in runs]
    return {"min": min(seconds), "median": statistics.median(seconds), "peak": max(r.peak_rss_bytes for r in runs)}


def _ratios(stat: dict[str, dict[str, float]], a: str, b: str) -> list[Any]:
    return [ratio(stat[a]["min"], stat[b]["min"]), ratio(stat[a]["median"], stat[b]["median"])]


if __name__ == "__main__":
    sys.exit(main())
