"""Benchmark: the graph snapshot build from release extracts, this working tree (B) against a git revision (A), paired.

``build_snapshot(extract URLs)`` + ``write_snapshot``, the call of ``bench_convert``'s build phase, each run in a
fresh process (A B A B, ``--pairs`` pairs) on extracts already written (e.g. the ``human/extracts/*`` or
``sim-80000x50/extracts/*`` folders a ``bench_convert --workdir`` run leaves behind), so that no run re-extracts.
Prints the seconds in ``build_snapshot`` and in ``write_snapshot``, CPU seconds of the build (user + system: less
sensitive to a busy machine than wall time), peak RSS of the process and the load average before each run, then
min/median per side and the ratio B ÷ A, and checks that both sides wrote the same snapshot files, byte for byte.

Run from the repository root::

    python -m benchmarks.bench_snapshot_build --extracts bench-work/convert/human/extracts --baseline main
    python -m benchmarks.bench_snapshot_build --extracts bench-work/convert/sim-80000x50/extracts --first 50

``--extracts`` is a folder of extract folders; they are ordered by release number (their names) and ``--first N``
keeps the first N.
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
from idtrack_core.graph import build_snapshot, write_snapshot

def cpu():
    a = resource.getrusage(resource.RUSAGE_SELF)
    return a.ru_utime + a.ru_stime

urls = json.loads(sys.argv[1])
cpu0, started = cpu(), time.perf_counter()
snap = build_snapshot(urls)
built, cpu1 = time.perf_counter(), cpu()
write_snapshot(snap, sys.argv[2])
print(json.dumps({"build": built - started, "cpu": cpu1 - cpu0, "write": time.perf_counter() - built}))
"""
KEYS = (("build", "s build"), ("cpu", "s CPU build"), ("write", "s write"), ("peak_mib", "MiB peak"))


def extract_urls(folder: Path, first: int | None) -> list[str]:
    """The extract folders under ``folder`` (those with a manifest), by release number, the first ``first``."""
    found = sorted((p for p in folder.iterdir() if (p / "manifest.json").exists()), key=lambda p: int(p.name))
    return [str(p) for p in found[:first]]


def run(code: Path, urls: list[str], out: Path) -> dict[str, float | str]:
    """One snapshot build + write with the code of ``code`` in a fresh process."""
    load = load_average()
    m = run_measured(
        [sys.executable, "-c", WORKER, json.dumps(urls), str(out)], env={"PYTHONPATH": str(code)}, cwd=str(code)
    )
    if m.returncode != 0:
        raise SystemExit(f"snapshot build with {code} failed:\n{m.stderr[-3000:]}")
    result = json.loads(m.stdout.strip().splitlines()[-1])
    return {**result, "peak_mib": m.peak_rss_bytes / 2**20, "load": load}


def same_files(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` hold the same file names with the same bytes."""
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--extracts", required=True, type=Path, help="a folder of release extract folders")
    p.add_argument("--first", type=int, help="only the first N extracts (by release)")
    p.add_argument("--baseline", default="main", help="git revision of side A (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=3)
    args = p.parse_args(argv)
    urls = extract_urls(args.extracts, args.first)
    print(f"bench_snapshot_build: {len(urls)} extracts from {args.extracts}; {machine_summary()}")
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        sides = {"A": checkout(args.baseline, REPO, Path(tmp) / "baseline"), "B": REPO}
        runs: dict[str, list[dict[str, float | str]]] = {"A": [], "B": []}
        for i in range(args.pairs):
            for side, code in sides.items():
                r = run(code, urls, Path(tmp) / f"out-{side}-{i}")
                runs[side].append(r)
                print(
                    f"pair {i + 1} {side}: build {r['build']:.2f} s, {r['cpu']:.2f} s CPU, write {r['write']:.2f} s, "
                    f"peak {r['peak_mib']:.0f} MiB, load before {r['load']}",
                    flush=True,
                )
        print_paired_summary(runs, KEYS, args.baseline)
        outs = [Path(tmp) / f"out-{side}-{i}" for i in range(args.pairs) for side in sides]
        same = all(same_files(outs[0], o) for o in outs[1:])
        print(f"snapshot files of every A and B run identical byte for byte: {same}")
    print(f"load average at the end: {load_average()}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
