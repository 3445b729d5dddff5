"""Benchmark: archive lookup throughput (``ArchiveIndex.lookup``) on IDs from the human mirror.

The snapshot of ``human_releases`` (84, 93, 100, 104, 110, 114) is built once into ``--workdir`` through the
:class:`~idtrack_core.workspace.Workspace` (reused on later runs). Then, in this process:

1. ``ArchiveIndex.build(snapshot)`` (the archive of release 114), best of ``--repeat``;
2. ``--queries`` IDs (default 60,000), drawn with a fixed seed: current gene IDs unversioned and versioned, older
   versions, IDs retired before 114 and unknown IDs (the mix is printed);
3. paired runs A B A B … (``--repeat`` pairs): A = ``index.lookup(queries)`` (the full answer table), B = the
   baseline measured in the same run: a plain ``dict`` of ``{key: answer row tuple}`` built from the index's
   table, one ``dict.get`` per query (no case-insensitive fallback, no DataFrame). Min and median of each, and the
   ratio of ours to the baseline (IDs/s ÷ IDs/s).

Target (issue 10): ≥ 100,000 IDs/s for ours.

Run from the repository root::

    python -m benchmarks.bench_archive --workdir bench-work/archive [--queries 60000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import format_table, load_average, machine_summary, verdict

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = str((REPO / ".." / "shared" / "data" / "human_releases").resolve())  # the shared fixtures
TARGET_IDS_PER_S = 100_000


def snapshot(root: str, workdir: str):
    """The human snapshot, built (or found) in the workspace under ``workdir``."""
    from idtrack_core.ensembl import DumpSource
    from idtrack_core.workspace import Workspace

    ws = Workspace(workdir, "homo_sapiens", "GRCh38")
    return ws.load_snapshot(ws.snapshot(ws.extracts(DumpSource(root))))


def queries(index, n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, int]]:
    """A fixed mix of query kinds drawn from the index's own keys (plus unknown IDs)."""
    t = index.table
    rng = np.random.default_rng(seed)
    versioned = t["key"] != t["id"]
    kinds = {
        "current, unversioned": t.loc[t["is_current"] & ~versioned, "key"],
        "current, ID.version": t.loc[t["is_current"] & versioned, "key"],
        "older version": t.loc[~t["is_current"] & versioned, "key"],
        "retired, unversioned": t.loc[~t["is_current"] & ~versioned, "key"],
    }
    shares = {
        "current, unversioned": 0.4,
        "current, ID.version": 0.3,
        "older version": 0.15,
        "retired, unversioned": 0.1,
    }
    counts = {k: int(n * s) for k, s in shares.items()}
    counts["unknown"] = n - sum(counts.values())
    parts = [rng.choice(kinds[k].to_numpy(dtype=object), counts[k]) for k in shares]
    parts.append(np.array([f"ENSG9{i:010d}" for i in range(counts["unknown"])], dtype=object))
    q = np.concatenate(parts)
    rng.shuffle(q)
    return q, counts


def baseline_dict(index) -> dict[str, tuple]:
    t = index.table
    rows = t.drop(columns=["key"]).itertuples(index=False, name=None)
    return dict(zip(t["key"].tolist(), rows, strict=True))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "bencharchive"))
    p.add_argument("--queries", type=int, default=60_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    from idtrack_core.archive import ArchiveIndex

    print(f"# bench_archive — {machine_summary()}; load average before: {load_average()}")
    started = time.perf_counter()
    snap = snapshot(args.root, args.workdir)
    print(f"snapshot ready in {time.perf_counter() - started:.1f}s: {snap!r}")
    builds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        index = ArchiveIndex.build(snap)
        builds.append(time.perf_counter() - started)
    q, mix = queries(index, args.queries)
    print(
        f"archive index: {len(index.table):,} keys, built in min {min(builds):.2f}s / median "
        f"{statistics.median(builds):.2f}s; query mix: {mix}"
    )
    table = baseline_dict(index)
    index.lookup(q[:1000])  # warm-up: the hash index of the keys
    ours, base = [], []
    for _ in range(args.repeat):  # paired A B A B
        ours.append(timed(lambda: index.lookup(q)))
        base.append(timed(lambda: [table.get(x) for x in q.tolist()]))
    ids = len(q)
    rows = [
        ["ArchiveIndex.lookup (answer table)", min(ours), statistics.median(ours), ids / min(ours)],
        ["baseline: dict.get per query", min(base), statistics.median(base), ids / min(base)],
    ]
    print()
    print(format_table(rows, ["method", "min s", "median s", "IDs/s (min)"]))
    speed = ids / min(ours)
    print(f"\nratio ours ÷ dict baseline (IDs/s): {speed / (ids / min(base)):.2f}")
    print(f"target ≥ {TARGET_IDS_PER_S:,} IDs/s: {verdict(speed >= TARGET_IDS_PER_S)} ({speed:,.0f} IDs/s)")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
