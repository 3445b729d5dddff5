"""Benchmark: the resolution index build of one snapshot, this working tree (B) against a git revision (A), paired.

``ResolutionIndex.build(snap, ConversionTarget(114, "HGNC Symbol"))`` + ``write``, the call of ``bench_convert``'s
index phase, each run in a fresh process (A B A B, ``--pairs`` pairs) on a snapshot already written (e.g. the
``human/snapshot`` a ``bench_convert --workdir`` run leaves behind), so that no run re-extracts. Prints in-call
seconds (build + write), CPU seconds (user + system, with forked children: less sensitive to a busy machine than
wall time), peak RSS (the process and its forked children) and the load average before each run, then min/median
per side and the ratio B ÷ A, and checks that both sides wrote the same ``keys.arrow`` and ``answers.arrow``,
byte for byte. ``--fork always`` makes the build's background steps (name table, half of the walks, answers
table) fork a second process whatever the load average, as on an idle 2-CPU machine, so that this path can be
measured on a busy one; ``--fork never`` keeps everything in one process.

Run from the repository root::

    python -m benchmarks.bench_index_build --snapshot bench-work/convert/human/snapshot --baseline main
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import checkout, load_average, machine_summary, print_paired_summary, run_measured

REPO = Path(__file__).resolve().parent.parent
WORKER = """
import json, resource, sys, time
from idtrack_core.convert import ConversionTarget, ResolutionIndex
from idtrack_core.graph import read_snapshot

def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

if sys.argv[5] != "auto":  # the background steps fork (always) or not (never) whatever the load average says
    import idtrack_core.parallel
    idtrack_core.parallel.idle_cpu = lambda: sys.argv[5] == "always"
snap = read_snapshot(sys.argv[1])
cpu0, started = cpu(), time.perf_counter()
index = ResolutionIndex.build(snap, ConversionTarget(int(sys.argv[3]), sys.argv[4]))
index.write(sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": cpu() - cpu0}))
"""


def run(code: Path, snapshot: str, out: Path, to_release: int, database: str, fork: str) -> dict[str, float]:
    """One index build + write with the code of ``code`` in a fresh process."""
    load = load_average()
    m = run_measured(
        [sys.executable, "-c", WORKER, snapshot, str(out), str(to_release), database, fork],
        env={"PYTHONPATH": str(code)},
        cwd=str(code),
    )
    if m.returncode != 0:
        raise SystemExit(f"index build with {code} failed:\n{m.stderr[-3000:]}")
    result = json.loads(m.stdout.strip().splitlines()[-1])
    return {**result, "peak_mib": m.peak_rss_bytes / 2**20, "load": load}


def same_files(a: Path, b: Path) -> bool:
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in ("keys.arrow", "answers.arrow"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snapshot", required=True, help="a written snapshot folder")
    p.add_argument("--baseline", default="main", help="git revision of side A (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--to-release", type=int, default=114)
    p.add_argument("--final-database", default="HGNC Symbol")
    p.add_argument(
        "--fork",
        choices=("auto", "always", "never"),
        default="auto",
        help="whether the build's background steps fork a second process: when a CPU is free now (auto), "
        "always (the path of an idle 2-CPU machine, measurable on a busy one) or never (one process)",
    )
    args = p.parse_args(argv)
    print(f"bench_index_build: {machine_summary()}")
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        sides = {"A": checkout(args.baseline, REPO, Path(tmp) / "baseline"), "B": REPO}
        runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for i in range(args.pairs):
            for side, code in sides.items():
                r = run(code, args.snapshot, Path(tmp) / f"out-{side}", args.to_release, args.final_database, args.fork)
                runs[side].append(r)
                print(
                    f"pair {i + 1} {side}: {r['seconds']:.2f} s in-call, {r['cpu']:.2f} s CPU, "
                    f"peak {r['peak_mib']:.0f} MiB, load before {r['load']}",
                    flush=True,
                )
        print_paired_summary(
            runs, (("seconds", "s in-call"), ("cpu", "s CPU"), ("peak_mib", "MiB peak")), args.baseline
        )
        same = same_files(Path(tmp) / "out-A", Path(tmp) / "out-B")
        print(f"index files of A and B identical byte for byte: {same}")
    print(f"load average at the end: {load_average()}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
