"""Benchmark: extract one Ensembl release from MySQL dumps into a Parquet release extract.

Measures, each in a fresh process (wall time, peak RSS via ``os.wait4``; the fastest of ``--repeat`` runs is
reported with the largest peak RSS seen):

* ours: ``idtrack_core.ensembl.extract_release(source, species, assembly, release, history=...)`` then
  ``write_extract`` to a temporary folder (``--history all``, the default, reads the whole ``stable_id_event`` like
  the baselines; ``new`` only the mapping sessions the previous release lacks, as the workspace does);
* baseline "naive pandas": ``pandas.read_csv(sep="\\t", header=None, quoting=3, na_values=["\\\\N"],
  keep_default_na=False)`` of the same ``.txt.gz`` tables that ours reads. It is **not escape-correct**
  (MySQL's backslash escapes of tabs, newlines and backslashes are left in place; an escaped newline splits a
  row) and does no normalization, joins or validation: a lower bound for "read the dump with pandas";
* baseline "gunzip": bare decompression of the same files (``gzip`` in 8 MiB blocks, newlines counted).

Targets on the 2-core development machine (DESIGN §8, issue): ours < 20 s and < 1 GiB peak RSS for human
release 114. The process wall time (interpreter start-up and imports included) is what is checked.

Run from the repository root::

    python -m benchmarks.bench_extract                               # human_releases, release 114, best of 3
    python -m benchmarks.bench_extract --release 84 --repeat 1
    python -m benchmarks.bench_extract --source https://mirror.example/pub   # any dump root URL (or mysql://)
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import (
    GIB,
    Measurement,
    Timer,
    best_of,
    emit_result,
    format_table,
    human_bytes,
    load_average,
    machine_summary,
    peak_rss_self,
    ratio,
    run_python,
    verdict,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = str((REPO / ".." / "shared" / "data" / "human_releases").resolve())  # the shared fixtures
TARGET_SECONDS = 20.0
TARGET_PEAK = 1 * GIB
_BLOCK = 1 << 23
METHODS = {
    "ours": "idtrack extract_release + write_extract",
    "pandas": "naive pandas.read_csv (not escape-correct)",
    "gunzip": "bare gzip decompression",
}


# --------------------------------------------------------------------------------------------- workers


class _ReadTimes(logging.Handler):
    """Collects the per-table read times that ``idtrack_core.ensembl.extract`` logs at INFO."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s.%s: %d rows in %.2fs" and isinstance(record.args, tuple):
            _, table, _, seconds = record.args
            self.seconds[str(table)] = self.seconds.get(str(table), 0.0) + float(seconds)


def worker_ours(source_url: str, species: str, assembly: str | None, release: int, history: str) -> dict[str, Any]:
    from idtrack_core.ensembl import extract_release, open_source, write_extract

    times = _ReadTimes()
    log = logging.getLogger("idtrack_core.ensembl.extract")
    log.setLevel(logging.INFO)
    log.addHandler(times)
    out = tempfile.mkdtemp(prefix="bench-extract-")
    cpu = time.process_time()
    try:
        with Timer() as t_extract:
            extract = extract_release(open_source(source_url), species, assembly, release, history=history)
        with Timer() as t_write:
            manifest = write_extract(extract, str(Path(out) / "extract"))
        cpu = time.process_time() - cpu
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "seconds": t_extract.seconds + t_write.seconds,
        "cpu_seconds": cpu,
        "extract_seconds": t_extract.seconds,
        "write_seconds": t_write.seconds,
        "database": extract.database,
        "source_rows": manifest["source_rows"],
        "extract_rows": {name: info["rows"] for name, info in manifest["tables"].items()},
        "table_seconds": times.seconds,
    }


def _table_files(source_url: str, species: str, assembly: str | None, release: int, tables: list[str]) -> Any:
    """(fsspec filesystem, [(table, path)]) of the dump files of ``tables`` (``.txt.gz`` or ``.txt``)."""
    from idtrack_core.ensembl import DumpSource, find_database

    source = DumpSource(source_url)
    db = find_database(source, species, assembly, release)
    files = []
    for table in tables:
        for name in (f"{table}.txt.gz", f"{table}.txt"):
            path = f"{db.location}/{name}"
            if source.fs.exists(path):
                files.append((table, path))
                break
    return source.fs, files


def worker_pandas(source_url: str, species: str, assembly: str | None, release: int, tables: list[str]) -> dict:
    import pandas as pd

    fs, files = _table_files(source_url, species, assembly, release, tables)
    rows, seconds = {}, {}
    with Timer() as total:
        for table, path in files:
            with Timer() as t, fs.open(path, "rb") as f:
                try:
                    df = pd.read_csv(
                        f,
                        sep="\t",
                        header=None,
                        quoting=3,
                        na_values=["\\N"],
                        keep_default_na=False,
                        compression="gzip" if path.endswith(".gz") else None,
                    )
                except pd.errors.EmptyDataError:  # an empty table: pandas cannot infer its columns
                    df = pd.DataFrame()
            rows[table], seconds[table] = len(df), t.seconds
            del df
    return {"seconds": total.seconds, "source_rows": rows, "table_seconds": seconds}


def worker_gunzip(source_url: str, species: str, assembly: str | None, release: int, tables: list[str]) -> dict:
    fs, files = _table_files(source_url, species, assembly, release, tables)
    lines, seconds = {}, {}
    decompressed = 0
    with Timer() as total:
        for table, path in files:
            n = 0
            with Timer() as t, fs.open(path, "rb") as raw:
                stream = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
                while block := stream.read(_BLOCK):
                    n += block.count(b"\n")
                    decompressed += len(block)
            lines[table], seconds[table] = n, t.seconds
    return {"seconds": total.seconds, "source_rows": lines, "table_seconds": seconds, "bytes": decompressed}


def run_worker(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    args.assembly = args.assembly or None
    if args.worker == "ours":
        result = worker_ours(args.source, args.species, args.assembly, args.release, args.history)
    else:
        tables = json.loads(args.tables)
        fn = worker_pandas if args.worker == "pandas" else worker_gunzip
        result = fn(args.source, args.species, args.assembly, args.release, tables)
    result["peak_rss_self"] = peak_rss_self()
    emit_result(result)


# --------------------------------------------------------------------------------------------- driver


def measure(kind: str, args: argparse.Namespace, tables: list[str] | None = None) -> Measurement:
    """Best of ``args.repeat`` fresh-process runs of one worker."""
    argv = ["-m", "benchmarks.bench_extract", "--worker", kind, "--source", args.source]
    argv += ["--species", args.species, "--assembly", args.assembly or "", "--release", str(args.release)]
    argv += ["--history", args.history]
    if tables is not None:
        argv += ["--tables", json.dumps(tables)]
    runs = []
    for i in range(max(1, args.repeat)):
        m = run_python(argv, cwd=str(REPO)).check()
        cpu = f" ({m.result['cpu_seconds']:.2f}s CPU)" if "cpu_seconds" in m.result else ""
        print(
            f"  {kind} run {i + 1}: {m.result['seconds']:.2f}s in call{cpu}, {m.wall_seconds:.2f}s process, "
            f"peak {human_bytes(m.peak_rss_bytes)}",
            flush=True,
        )
        runs.append(m)
    return best_of(runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=DEFAULT_ROOT, help="local dump root (default: %(default)s)")
    p.add_argument("--source", help="any dump root URL (path, http(s)://, s3://) or mysql://…; overrides --root")
    p.add_argument("--species", default="homo_sapiens")
    p.add_argument("--assembly", default="GRCh38", help="'' for any (default: %(default)s)")
    p.add_argument("--release", type=int, default=114)
    p.add_argument("--history", choices=["all", "new"], default="all", help="what history ours reads")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported")
    p.add_argument("--skip-baseline", action="store_true", help="measure only ours")
    p.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--tables", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.source = args.source or args.root
    if args.worker:
        run_worker(args)
        return 0

    print(
        f"bench_extract: {args.species} {args.assembly} release {args.release} from {args.source}, "
        f"history {args.history}, best of {args.repeat}",
        flush=True,
    )
    print(f"machine: {machine_summary()}", flush=True)
    results = {"ours": measure("ours", args)}
    ours = results["ours"].result
    tables = sorted(ours["source_rows"])
    if args.source.startswith("mysql://"):
        print("mysql:// source: no dump files, baselines skipped", flush=True)
    elif not args.skip_baseline:
        for kind in ("pandas", "gunzip"):
            results[kind] = measure(kind, args, tables)

    base = results.get("pandas")
    gz = results.get("gunzip")
    rows = []
    for kind, m in results.items():
        rows.append(
            [
                METHODS[kind],
                round(m.result["seconds"], 2),
                round(m.wall_seconds, 2),
                human_bytes(m.peak_rss_bytes),
                ratio(m.result["seconds"], base.result["seconds"] if base else None),
                ratio(m.result["seconds"], gz.result["seconds"] if gz else None),
                ratio(m.peak_rss_bytes, base.peak_rss_bytes if base else None),
            ]
        )
    print()
    print(f"database {ours['database']}; tables read: {', '.join(tables)}")
    if gz:
        print(f"decompressed size of those tables: {human_bytes(gz.result['bytes'])}")
    print()
    headers = ["method", "in-call s", "process wall s", "peak RSS", "time ÷ pandas", "time ÷ gunzip", "RSS ÷ pandas"]
    print(format_table(rows, headers))
    print()

    per_table = []
    for table in tables:
        row: list[Any] = [table, ours["source_rows"][table], round(ours["table_seconds"].get(table, 0.0), 2)]
        for m in (base, gz):
            if m is None:
                row += ["-", "-"]
            else:
                row += [m.result["source_rows"].get(table, "-"), round(m.result["table_seconds"].get(table, 0.0), 2)]
        per_table.append(row)
    print("per source table (ours: rows parsed and read+parse seconds from the extract log; baselines: their rows)")
    print(
        format_table(
            per_table, ["table", "ours rows", "ours read s", "pandas rows", "pandas s", "gunzip lines", "gunzip s"]
        )
    )
    print()
    read = sum(ours["table_seconds"].values())
    print(
        f"ours: extract_release {ours['extract_seconds']:.2f}s (of which reading + parsing the source tables "
        f"{read:.2f}s, normalization and validation the rest) + write_extract {ours['write_seconds']:.2f}s; "
        f"extract rows {ours['extract_rows']}"
    )
    if base:
        mismatched = [t for t in tables if base.result["source_rows"].get(t) != ours["source_rows"][t]]
        print(f"naive pandas row counts differ from ours for: {mismatched or 'none'}")

    m = results["ours"]
    fast = m.wall_seconds < TARGET_SECONDS
    small = m.peak_rss_bytes < TARGET_PEAK
    print()
    print(
        format_table(
            [
                [
                    "extract + write, process wall",
                    f"{m.wall_seconds:.2f} s",
                    f"< {TARGET_SECONDS:.0f} s",
                    verdict(fast),
                ],
                ["peak RSS", human_bytes(m.peak_rss_bytes), f"< {human_bytes(TARGET_PEAK)}", verdict(small)],
            ],
            ["target", "measured", "target", "result"],
        )
    )
    print(f"\nload average after the run: {load_average()} (other processes may share the CPUs)")
    print("targets met" if fast and small else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
