"""Benchmark: release extracts → identifier graph snapshot → resolution index → batch conversion.

Human section (``human_releases``: releases 84, 93, 100, 104, 110, 114), every phase in a fresh process
(wall time and peak RSS via ``os.wait4``; "in-call" = seconds inside the measured library call, without
interpreter start-up, imports or input loading):

1. extract every release (``extract_release`` + ``write_extract``), one process per release;
2. snapshot build (``build_snapshot`` from the extract URLs + ``write_snapshot``), snapshot size on disk;
3. snapshot load (``read_snapshot``), best of ``--repeat``;
4. resolution index build (``ResolutionIndex.build(snap, ConversionTarget(114, "HGNC Symbol"))`` + ``write``);
5. index load (``ResolutionIndex.read`` + the hash tables the first lookup builds), best of ``--repeat``;
6. batch lookup of ``--queries`` mixed queries (mix printed) after a warm-up call, best of ``--repeat``;
   baseline in the same run: a plain ``dict`` of ``{name: answer}`` built from the index (exact keys, then
   lower-cased keys), one ``dict.get`` per query, no version stripping; plus the reference tool's *published*
   ≈100 IDs/s (a constant, not measured);
7. the CLI end to end (``idtrack-atlas convert … --input <30,000 ids>``), cold (empty home) and warm, wall time
   including Python start-up.

Simulated human-scale section (``--sim``, takes many minutes): ``simulate_mirror(genes=80_000,
releases=(1, 50), seed=0)``, extract all 50 releases (one process each), build the snapshot from them.

Targets (DESIGN §8 and the issue; checked on the in-call time of the library phases): snapshot and index build
< 60 s, snapshot and index load < 5 s, ≥ 1,000,000 IDs/s, every human phase < 4 GiB peak; warm CLI "a few
seconds" (≤ 5 s wall); simulated: snapshot build from the 50 extracts < 10 min and < 12 GiB (also shown:
extraction of all 50 releases + build, against the same 10 min).

``--profile PHASE,...`` re-runs those phases once more under py-spy (or cProfile with ``--profiler cprofile``)
after the measurements and prints where the time goes; profiled runs are not part of the numbers.

Run from the repository root::

    python -m benchmarks.bench_convert --workdir /tmp/benchconvert           # human section (~5 min)
    python -m benchmarks.bench_convert --workdir /tmp/benchconvert --sim     # + simulated 80k × 50 (long)
    python -m benchmarks.bench_convert --quick                               # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._util import (
    GIB,
    Measurement,
    Timer,
    best_of,
    dir_size,
    emit_result,
    format_table,
    human_bytes,
    load_average,
    machine_summary,
    peak_rss_self,
    profiled,
    py_spy_command,
    py_spy_summary,
    ratio,
    run_measured,
    run_python,
    verdict,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = str((REPO / ".." / "shared" / "data" / "human_releases").resolve())  # the shared fixtures
HUMAN_RELEASES = (84, 93, 100, 104, 110, 114)
FINAL_DATABASE = "HGNC Symbol"
SIM_SPECIES = "idtrack_simulans"
PUBLISHED_IDS_PER_S = 100.0  # reference tool, published figure (≈70–114 IDs/s), not measured here
PUBLISHED_COLD_BUILD_S = 9 * 3600.0  # reference tool, published ≈9 h cold human build, not measured here
MIN = 60.0

# query mix: kind → share of the batch
QUERY_MIX = {
    "current_symbol": 0.30,
    "previous_or_alias_symbol": 0.10,
    "ensembl_gene_unversioned": 0.20,
    "ensembl_gene_versioned": 0.15,
    "ensembl_gene_unknown_version": 0.05,
    "lowercased_symbol": 0.10,
    "junk": 0.10,
}
QUERY_MIX_TEXT = {
    "current_symbol": "HGNC symbols (xref display labels) of the target release",
    "previous_or_alias_symbol": "previous symbols and aliases (synonyms table of the target release)",
    "ensembl_gene_unversioned": "ENSG… without version, gene drawn from a random release of the snapshot",
    "ensembl_gene_versioned": "ENSG….v with the version that release knows (releases with versions only)",
    "ensembl_gene_unknown_version": "ENSG….99 (a version no release has), random release",
    "lowercased_symbol": "current symbols lower-cased",
    "junk": "random 5–10 character upper-case alphanumerics",
}


# --------------------------------------------------------------------------------------------- workers
# Each worker runs in its own process, takes a JSON spec and returns a JSON-able dict; "seconds" is the
# in-call time of the measured library call.


def w_extract(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.ensembl import extract_release, open_source, write_extract

    with Timer() as t_extract:
        ex = extract_release(open_source(spec["source"]), spec["species"], spec["assembly"], spec["release"])
    with Timer() as t_write:
        manifest = write_extract(ex, spec["out"])
    return {
        "seconds": t_extract.seconds + t_write.seconds,
        "extract_seconds": t_extract.seconds,
        "write_seconds": t_write.seconds,
        "rows": {name: info["rows"] for name, info in manifest["tables"].items()},
        "history_source_rows": manifest["source_rows"].get("stable_id_event", 0),
    }


def w_build(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.graph import build_snapshot, write_snapshot

    with Timer() as t_build:
        snap = build_snapshot(spec["extracts"])
    with Timer() as t_write:
        write_snapshot(snap, spec["out"])
    return {
        "seconds": t_build.seconds + t_write.seconds,
        "build_seconds": t_build.seconds,
        "write_seconds": t_write.seconds,
        "rows": snap.manifest["rows"],
        "size_bytes": dir_size(spec["out"]),
    }


def w_load(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.graph import read_snapshot

    with Timer() as t:
        snap = read_snapshot(spec["snapshot"])
    return {"seconds": t.seconds, "rows": {k: len(v) for k, v in snap.tables.items()}}


def w_index(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.convert import ConversionTarget, ResolutionIndex
    from idtrack_core.graph import read_snapshot

    with Timer() as t_load:
        snap = read_snapshot(spec["snapshot"])
    with Timer() as t_build:
        index = ResolutionIndex.build(snap, ConversionTarget(spec["to_release"], spec["final_database"]))
    with Timer() as t_write:
        index.write(spec["out"])
    return {
        "seconds": t_build.seconds + t_write.seconds,
        "build_seconds": t_build.seconds,
        "write_seconds": t_write.seconds,
        "snapshot_load_seconds": t_load.seconds,
        "rows": index.manifest["rows"],
        "categories": index.manifest["categories"],
        "size_bytes": dir_size(spec["out"]),
    }


def w_index_load(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.convert import ResolutionIndex

    with Timer() as t_read:
        index = ResolutionIndex.read(spec["index"])
    with Timer() as t_hash:  # the first lookup builds the hash tables (exact, version-stripped, lower-cased paths)
        index.lookup(["TP53", "NOT_A_GENE.1"])
    return {
        "seconds": t_read.seconds + t_hash.seconds,
        "read_seconds": t_read.seconds,
        "hash_seconds": t_hash.seconds,
        "rows": len(index.table),
    }


def w_queries(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the mixed query batch (``kind<TAB>query`` lines) and the CLI's id file; return the mix."""
    import numpy as np
    import pandas as pd

    from idtrack_core.ensembl import read_extract

    rng = np.random.default_rng(spec["seed"])
    n = spec["n"]
    extracts = {int(Path(u).name): read_extract(u) for u in spec["extracts"]}
    target = extracts[spec["to_release"]].tables
    x = target["xrefs"]
    symbols = x.loc[(x["db_name"] == "HGNC") & (x["display_label"] != ""), "display_label"].astype(object).unique()
    synonyms = target["synonyms"]["synonym"].astype(object).unique()
    genes = {r: ex.tables["genes"] for r, ex in extracts.items()}
    versioned = {r: g[g["version"].notna()] for r, g in genes.items()}
    versioned = {r: g for r, g in versioned.items() if len(g)}

    counts = dict(zip(QUERY_MIX, rng.multinomial(n, list(QUERY_MIX.values())), strict=True))

    def ids_from(tables: dict[int, pd.DataFrame], k: int, suffix: str | None) -> np.ndarray:
        if not tables or not k:
            return np.array([], dtype=object)
        releases = rng.choice(sorted(tables), k)
        out = np.empty(k, dtype=object)
        for r in np.unique(releases):
            where = np.flatnonzero(releases == r)
            g = tables[int(r)]
            rows = rng.integers(0, len(g), len(where))
            ids = g["stable_id"].to_numpy(dtype=object)[rows]
            if suffix == "version":
                ids = ids + "." + g["version"].astype("int64").astype(str).to_numpy(dtype=object)[rows]
            elif suffix:
                ids = ids + suffix
            out[where] = ids
        return out

    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    lengths = rng.integers(5, 11, counts["junk"])
    junk = np.array(["".join(rng.choice(alphabet, m)) for m in lengths], dtype=object)
    parts = {
        "current_symbol": rng.choice(symbols, counts["current_symbol"]),
        "previous_or_alias_symbol": rng.choice(synonyms, counts["previous_or_alias_symbol"]),
        "ensembl_gene_unversioned": ids_from(genes, counts["ensembl_gene_unversioned"], None),
        "ensembl_gene_versioned": ids_from(versioned, counts["ensembl_gene_versioned"], "version"),
        "ensembl_gene_unknown_version": ids_from(genes, counts["ensembl_gene_unknown_version"], ".99"),
        "lowercased_symbol": np.array([s.lower() for s in rng.choice(symbols, counts["lowercased_symbol"])]),
        "junk": junk,
    }
    kinds = np.concatenate([np.full(len(v), k, dtype=object) for k, v in parts.items()])
    queries = np.concatenate([np.asarray(v, dtype=object) for v in parts.values()])
    order = rng.permutation(len(queries))
    kinds, queries = kinds[order], queries[order]
    Path(spec["out"]).write_text("".join(f"{k}\t{q}\n" for k, q in zip(kinds, queries, strict=True)))
    cli_ids = queries[rng.permutation(len(queries))[: spec["cli_ids"]]]
    Path(spec["cli_out"]).write_text("".join(f"{q}\n" for q in cli_ids))
    return {
        "seconds": 0.0,
        "counts": {k: len(v) for k, v in parts.items()},
        "examples": {k: [str(s) for s in v[:3]] for k, v in parts.items()},
        "versioned_releases": sorted(versioned),
        "cli_ids": len(cli_ids),
    }


def _read_queries(path: str) -> tuple[list[str], list[str]]:
    kinds, queries = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            kind, _, query = line.rstrip("\n").partition("\t")
            kinds.append(kind)
            queries.append(query)
    return kinds, queries


def w_lookup(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from idtrack_core.convert import ResolutionIndex

    index = ResolutionIndex.read(spec["index"])
    kinds, queries = _read_queries(spec["queries"])
    with Timer() as warm:
        index.lookup(queries[:1000])  # builds the hash tables
    times = []
    for _ in range(spec["repeat"]):
        with Timer() as t:
            result = index.lookup(queries)
        times.append(t.seconds)
    kind_arr = np.asarray(kinds, dtype=object)
    q_arr = np.asarray(queries, dtype=object)
    by_kind = {}
    for kind in QUERY_MIX:
        sub = list(q_arr[kind_arr == kind])
        if not sub:
            continue
        best = min(_timed(lambda s=sub: index.lookup(s)) for _ in range(spec["repeat"]))
        by_kind[kind] = {"n": len(sub), "seconds": best, "ids_per_s": len(sub) / best if best else None}
    return {
        "seconds": min(times),
        "times": times,
        "warmup_seconds": warm.seconds,
        "n": len(queries),
        "ids_per_s": len(queries) / min(times),
        "categories": {str(k): int(v) for k, v in result["category"].value_counts().items()},
        "matches": {str(k): int(v) for k, v in result["match"].value_counts(dropna=False).items()},
        "by_kind": by_kind,
    }


def _timed(fn: Any) -> float:
    with Timer() as t:
        fn()
    return t.seconds


def w_dict(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.convert import ResolutionIndex

    index = ResolutionIndex.read(spec["index"])
    table = index.table
    _, queries = _read_queries(spec["queries"])
    with Timer() as t_build:
        answers = list(
            zip(
                table["category"].astype(object),
                table["target_ids"].astype(object),
                table["ensembl_genes"].astype(object),
                table["reason"].astype(object),
                table["fallback"],
                strict=True,
            )
        )
        keys = table["key"].astype(object).tolist()
        lower = table["lower"].tolist()
        answer_of: dict[str, tuple] = {}
        for key, is_lower, ans in zip(keys, lower, answers, strict=True):
            if not is_lower or key not in answer_of:
                answer_of[key] = ans
        unknown = answers[-1]
    times = []
    for _ in range(spec["repeat"]):
        with Timer() as t:
            get = answer_of.get
            out = [get(q, unknown) for q in queries]
        times.append(t.seconds)
    reference = index.lookup(queries)["target_ids"].astype(object).tolist()
    agree = sum(a[1] == b for a, b in zip(out, reference, strict=True))
    return {
        "seconds": min(times),
        "times": times,
        "n": len(queries),
        "ids_per_s": len(queries) / min(times),
        "dict_build_seconds": t_build.seconds,
        "dict_keys": len(answer_of),
        "agree_target_ids": agree / len(queries),
    }


def w_simulate(spec: dict[str, Any]) -> dict[str, Any]:
    from idtrack_core.simulation import simulate_mirror

    with Timer() as t:
        summary = simulate_mirror(
            spec["out"], genes=spec["genes"], releases=tuple(spec["releases"]), seed=spec["seed"], overwrite=True
        )
    return {"seconds": t.seconds, "releases": list(summary.releases), "size_bytes": dir_size(spec["out"])}


WORKERS = {
    "extract": w_extract,
    "build": w_build,
    "load": w_load,
    "index": w_index,
    "index_load": w_index_load,
    "queries": w_queries,
    "lookup": w_lookup,
    "dict": w_dict,
    "simulate": w_simulate,
}


def run_worker(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(args.spec)
    fn = WORKERS[args.worker]
    if args.cprofile:
        result, report = profiled(lambda: fn(spec), args.cprofile, top=args.profile_top, strip_dirs=False)
        result["profile"] = report
    else:
        result = fn(spec)
    result["peak_rss_self"] = peak_rss_self()
    emit_result(result)


# --------------------------------------------------------------------------------------------- driver


def worker_argv(phase: str, spec: dict[str, Any]) -> list[str]:
    return ["-m", "benchmarks.bench_convert", "--worker", phase, "--spec", json.dumps(spec)]


def measure(phase: str, spec: dict[str, Any], repeat: int = 1) -> Measurement:
    """Best of ``repeat`` fresh-process runs of a worker (largest peak RSS kept)."""
    runs = [run_python(worker_argv(phase, spec), cwd=str(REPO)).check() for _ in range(max(1, repeat))]
    return best_of(runs)


@dataclass
class Row:
    """One line of the results table."""

    section: str
    phase: str
    seconds: float | None
    wall: float | None
    peak: int | None
    target: str = "-"
    ok: bool | None = None
    note: str = ""

    def cells(self) -> list[Any]:
        return [
            self.section,
            self.phase,
            "-" if self.seconds is None else round(self.seconds, 2),
            "-" if self.wall is None else round(self.wall, 2),
            "-" if self.peak is None else human_bytes(self.peak),
            self.target,
            verdict(self.ok),
            self.note,
        ]


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        cells = row.cells()
        print(
            f"  {cells[1]}: in-call {cells[2]} s, wall {cells[3]} s, peak {cells[4]} {cells[6]} {row.note}", flush=True
        )
        return row


def within(seconds: float | None, limit: float | None, peak: int | None, peak_limit: int | None) -> bool | None:
    checks = []
    if limit is not None and seconds is not None:
        checks.append(seconds < limit)
    if peak_limit is not None and peak is not None:
        checks.append(peak < peak_limit)
    return all(checks) if checks else None


def extract_all(
    source: str, species: str, assembly: str | None, releases: list[int], out: Path
) -> tuple[list[str], list[Measurement]]:
    """Extract every release in its own process (printing each); return the extract URLs and measurements."""
    urls, runs = [], []
    for r in releases:
        url = str(out / str(r))
        spec = {"source": source, "species": species, "assembly": assembly, "release": r, "out": url}
        m = measure("extract", spec)
        print(
            f"    release {r}: {m.result['seconds']:.2f}s in call ({m.result['extract_seconds']:.2f} extract + "
            f"{m.result['write_seconds']:.2f} write), {m.wall_seconds:.2f}s wall, "
            f"peak {human_bytes(m.peak_rss_bytes)}, history rows {m.result['history_source_rows']:,}",
            flush=True,
        )
        urls.append(url)
        runs.append(m)
    return urls, runs


def human_section(args: argparse.Namespace, report: Report, work: Path) -> None:
    releases = args.release_list
    to_release = args.to_release or max(releases)
    peak_limit = 4 * GIB
    print(f"\n## human: releases {releases} from {args.source}, target {to_release} / {FINAL_DATABASE!r}", flush=True)

    print("extract (one process per release):", flush=True)
    urls, runs = extract_all(args.source, "homo_sapiens", "GRCh38", releases, work / "extracts")
    slowest = max(runs, key=lambda m: m.result["seconds"])
    peak = max(m.peak_rss_bytes for m in runs)
    total = sum(m.result["seconds"] for m in runs)
    report.add(
        Row(
            "human",
            f"extract {len(releases)} releases",
            total,
            sum(m.wall_seconds for m in runs),
            peak,
            "< 4 GiB",
            within(None, None, peak, peak_limit),
            f"slowest {slowest.result['seconds']:.1f}s; per release "
            + ", ".join(f"{r}: {m.result['seconds']:.1f}" for r, m in zip(releases, runs, strict=True)),
        )
    )
    report.extra["human_extract"] = {str(r): m.result for r, m in zip(releases, runs, strict=True)}

    snapshot = str(work / "snapshot")
    print("snapshot build:", flush=True)
    b = measure("build", {"extracts": urls, "out": snapshot})
    report.add(
        Row(
            "human",
            "snapshot build + write",
            b.result["seconds"],
            b.wall_seconds,
            b.peak_rss_bytes,
            "< 60 s, < 4 GiB",
            within(b.result["seconds"], MIN, b.peak_rss_bytes, peak_limit),
            f"build_snapshot {b.result['build_seconds']:.1f}s + write {b.result['write_seconds']:.1f}s; "
            f"{human_bytes(b.result['size_bytes'])} on disk",
        )
    )
    report.extra["human_snapshot"] = b.result

    print("snapshot load:", flush=True)
    ld = measure("load", {"snapshot": snapshot}, args.repeat)
    report.add(
        Row(
            "human",
            "snapshot load",
            ld.result["seconds"],
            ld.wall_seconds,
            ld.peak_rss_bytes,
            "< 5 s, < 4 GiB",
            within(ld.result["seconds"], 5.0, ld.peak_rss_bytes, peak_limit),
            "read_snapshot",
        )
    )

    index = str(work / "index")
    print("resolution index build:", flush=True)
    ix = measure(
        "index", {"snapshot": snapshot, "to_release": to_release, "final_database": FINAL_DATABASE, "out": index}
    )
    report.add(
        Row(
            "human",
            "index build + write",
            ix.result["seconds"],
            ix.wall_seconds,
            ix.peak_rss_bytes,
            "< 60 s, < 4 GiB",
            within(ix.result["seconds"], MIN, ix.peak_rss_bytes, peak_limit),
            f"ResolutionIndex.build {ix.result['build_seconds']:.1f}s + write {ix.result['write_seconds']:.1f}s; "
            f"{ix.result['rows']['exact']:,} names + {ix.result['rows']['lower']:,} lower-cased; "
            f"{human_bytes(ix.result['size_bytes'])} on disk",
        )
    )
    report.extra["human_index"] = ix.result

    print("index load:", flush=True)
    il = measure("index_load", {"index": index}, args.repeat)
    report.add(
        Row(
            "human",
            "index load",
            il.result["seconds"],
            il.wall_seconds,
            il.peak_rss_bytes,
            "< 5 s, < 4 GiB",
            within(il.result["seconds"], 5.0, il.peak_rss_bytes, peak_limit),
            f"ResolutionIndex.read {il.result['read_seconds']:.2f}s + first lookup (builds hash tables) "
            f"{il.result['hash_seconds']:.2f}s",
        )
    )

    queries, cli_ids = work / "queries.tsv", work / f"ids{args.cli_ids}.txt"
    qm = measure(
        "queries",
        {
            "extracts": urls,
            "to_release": to_release,
            "n": args.queries,
            "seed": 0,
            "out": str(queries),
            "cli_ids": args.cli_ids,
            "cli_out": str(cli_ids),
        },
    )
    report.extra["query_mix"] = qm.result
    print("\nquery mix (shuffled):")
    mix_rows = [
        [
            k,
            qm.result["counts"][k],
            f"{100 * qm.result['counts'][k] / args.queries:.1f}%",
            QUERY_MIX_TEXT[k],
            ", ".join(qm.result["examples"][k]),
        ]
        for k in QUERY_MIX
    ]
    print(format_table(mix_rows, ["kind", "queries", "share", "what", "examples"]))
    print(f"(versioned IDs from releases {qm.result['versioned_releases']}; other IDs from {releases})\n", flush=True)

    print(f"lookup of {args.queries:,} queries (best of {args.repeat} after a warm-up call):", flush=True)
    lk = measure("lookup", {"index": index, "queries": str(queries), "repeat": args.repeat})
    rate = lk.result["ids_per_s"]
    report.add(
        Row(
            "human",
            f"index.lookup({args.queries:,})",
            lk.result["seconds"],
            lk.wall_seconds,
            lk.peak_rss_bytes,
            "≥ 1,000,000 IDs/s, < 4 GiB",
            within(None, None, lk.peak_rss_bytes, peak_limit) is not False and rate >= 1_000_000,
            f"{rate:,.0f} IDs/s; warm-up {lk.result['warmup_seconds']:.2f}s; runs "
            + ", ".join(f"{t:.2f}" for t in lk.result["times"]),
        )
    )
    report.extra["lookup"] = lk.result

    dc = measure("dict", {"index": index, "queries": str(queries), "repeat": args.repeat})
    report.add(
        Row(
            "human",
            f"baseline: dict.get × {args.queries:,}",
            dc.result["seconds"],
            dc.wall_seconds,
            dc.peak_rss_bytes,
            note=f"{dc.result['ids_per_s']:,.0f} IDs/s; dict of {dc.result['dict_keys']:,} keys built in "
            f"{dc.result['dict_build_seconds']:.1f}s; same target_ids as the index for "
            f"{100 * dc.result['agree_target_ids']:.1f}% of queries",
        )
    )
    report.extra["dict"] = dc.result

    if not args.skip_cli:
        cli_section(args, report, work, cli_ids, to_release)


def cli_command(args: argparse.Namespace, home: Path, ids: Path, out: Path, to_release: int) -> list[str]:
    exe = Path(sys.executable).parent / "idtrack-atlas"
    prefix = [str(exe)] if exe.exists() else [sys.executable, "-m", "idtrack_core.cli"]
    return [
        *prefix,
        "convert",
        "--source",
        args.source,
        "--home",
        str(home),
        "--species",
        "homo_sapiens",
        "--assembly",
        "GRCh38",
        "--to-release",
        str(to_release),
        "--final-database",
        FINAL_DATABASE,
        "--input",
        str(ids),
        "--output",
        str(out),
    ]


def cli_section(args: argparse.Namespace, report: Report, work: Path, ids: Path, to_release: int) -> None:
    home, out = work / "cli-home", work / "out.csv"
    shutil.rmtree(home, ignore_errors=True)
    argv = cli_command(args, home, ids, out, to_release)
    print(f"CLI: {' '.join(argv[:1])} convert … --input {ids.name} ({args.cli_ids:,} ids)", flush=True)
    cold = run_measured(argv, cwd=str(work)).check()
    report.add(
        Row(
            "human",
            f"CLI convert {args.cli_ids:,} ids, cold home",
            None,
            cold.wall_seconds,
            cold.peak_rss_bytes,
            note=f"extracts every release ≤ {to_release} at the source + snapshot + index + lookup; "
            f"{cold.stderr.strip()[-200:]}",
        )
    )
    warm = best_of([run_measured(argv, cwd=str(work)).check() for _ in range(args.repeat)], key=None)
    warm_wall = warm.wall_seconds
    report.add(
        Row(
            "human",
            f"CLI convert {args.cli_ids:,} ids, warm home",
            None,
            warm_wall,
            warm.peak_rss_bytes,
            "≤ 5 s wall ('a few seconds')",
            warm_wall <= 5.0,
            f"best of {args.repeat}; includes Python start-up, index load, CSV write",
        )
    )
    report.extra["cli"] = {"cold_wall": cold.wall_seconds, "warm_wall": warm_wall, "argv": argv}


def sim_section(args: argparse.Namespace, report: Report, work: Path) -> None:
    genes, n_rel = args.sim_genes, args.sim_releases
    releases = list(range(1, n_rel + 1))
    mirror = work / "mirror"
    print(f"\n## simulated: {genes:,} genes × releases 1–{n_rel}, seed 0, in {work}", flush=True)
    stamp = work / "simulate.json"
    spec = {"out": str(mirror), "genes": genes, "releases": [1, n_rel], "seed": 0}
    cached = json.loads(stamp.read_text()) if stamp.exists() else None
    if cached and cached["spec"] == spec and (mirror / "ground_truth" / "truth.json").exists() and not args.resimulate:
        sim = cached
        note = f"reused mirror of {cached['date']} (time from that run; --resimulate to redo)"
    else:
        m = measure("simulate", spec)
        sim = {
            "spec": spec,
            "seconds": m.result["seconds"],
            "wall": m.wall_seconds,
            "peak": m.peak_rss_bytes,
            "size": m.result["size_bytes"],
            "date": machine_summary().split(";")[0],
        }
        stamp.write_text(json.dumps(sim))
        note = ""
    report.add(
        Row(
            "sim",
            "simulate_mirror",
            sim["seconds"],
            sim["wall"],
            sim["peak"],
            note=f"{human_bytes(sim['size'])} of dumps; {note}".rstrip("; "),
        )
    )

    print("extract (one process per release):", flush=True)
    urls, runs = extract_all(str(mirror), SIM_SPECIES, None, releases, work / "extracts")
    total = sum(m.result["seconds"] for m in runs)
    slowest = max(zip(releases, runs, strict=True), key=lambda p: p[1].result["seconds"])
    peak = max(m.peak_rss_bytes for m in runs)
    heaviest = max(zip(releases, runs, strict=True), key=lambda p: p[1].peak_rss_bytes)
    report.add(
        Row(
            "sim",
            f"extract {n_rel} releases",
            total,
            sum(m.wall_seconds for m in runs),
            peak,
            note=f"slowest: release {slowest[0]} {slowest[1].result['seconds']:.1f}s "
            f"({slowest[1].result['history_source_rows']:,} history rows); largest peak: release {heaviest[0]}; "
            f"first release {runs[0].result['seconds']:.1f}s",
        )
    )
    report.extra["sim_extract"] = {
        str(r): {**m.result, "wall": m.wall_seconds, "peak": m.peak_rss_bytes}
        for r, m in zip(releases, runs, strict=True)
    }
    print("snapshot build:", flush=True)
    b = measure("build", {"extracts": urls, "out": str(work / "snapshot")})
    report.add(
        Row(
            "sim",
            f"snapshot build + write ({n_rel} extracts)",
            b.result["seconds"],
            b.wall_seconds,
            b.peak_rss_bytes,
            "< 10 min, < 12 GiB",
            within(b.result["seconds"], 10 * MIN, b.peak_rss_bytes, 12 * GIB),
            f"build_snapshot {b.result['build_seconds']:.1f}s + write {b.result['write_seconds']:.1f}s; "
            f"{human_bytes(b.result['size_bytes'])} on disk",
        )
    )
    report.extra["sim_snapshot"] = b.result
    end_to_end = total + b.result["seconds"]
    both_peak = max(peak, b.peak_rss_bytes)
    report.add(
        Row(
            "sim",
            f"extract {n_rel} + snapshot build (from dumps)",
            end_to_end,
            sum(m.wall_seconds for m in runs) + b.wall_seconds,
            both_peak,
            "< 10 min, < 12 GiB",
            within(end_to_end, 10 * MIN, both_peak, 12 * GIB),
            "the stricter reading: sequential, one process per release (simulate not counted)",
        )
    )


def profile_phases(args: argparse.Namespace, work: Path, human: Path, sim: Path) -> None:
    """Re-run the requested phases once under a profiler and print the report."""
    specs: dict[str, tuple[str, dict[str, Any]]] = {}
    last = max(args.release_list)
    specs["extract"] = (
        "extract",
        {
            "source": args.source,
            "species": "homo_sapiens",
            "assembly": "GRCh38",
            "release": last,
            "out": str(work / "profile-extract"),
        },
    )
    urls = [str(human / "extracts" / str(r)) for r in args.release_list]
    specs["build"] = ("build", {"extracts": urls, "out": str(work / "profile-snapshot")})
    specs["index"] = (
        "index",
        {
            "snapshot": str(human / "snapshot"),
            "to_release": args.to_release or last,
            "final_database": FINAL_DATABASE,
            "out": str(work / "profile-index"),
        },
    )
    specs["lookup"] = ("lookup", {"index": str(human / "index"), "queries": str(human / "queries.tsv"), "repeat": 1})
    specs["sim_extract"] = (
        "extract",
        {
            "source": str(sim / "mirror"),
            "species": SIM_SPECIES,
            "assembly": None,
            "release": args.sim_releases,
            "out": str(work / "profile-sim-extract"),
        },
    )
    sim_urls = [str(sim / "extracts" / str(r)) for r in range(1, args.sim_releases + 1)]
    specs["sim_build"] = ("build", {"extracts": sim_urls, "out": str(work / "profile-sim-snapshot")})
    for name in args.profile:
        if name not in specs:
            raise SystemExit(f"--profile: unknown phase {name!r} (choose from {', '.join(specs)})")
        phase, spec = specs[name]
        print(f"\n## profile of {name} ({args.profiler}; not part of the measurements)", flush=True)
        argv = worker_argv(phase, spec)
        raw = work / f"profile-{name}.txt"
        wrapped = py_spy_command([sys.executable, *argv], raw) if args.profiler == "py-spy" else None
        if wrapped:
            m = run_measured(wrapped, cwd=str(REPO)).check()
            print(f"in-call {m.result['seconds']:.1f}s under py-spy; stacks in {raw}")
            print(py_spy_summary(raw, top=args.profile_top))
        else:
            prof = work / f"profile-{name}.prof"
            m = run_python(
                [*argv, "--cprofile", str(prof), "--profile-top", str(args.profile_top)], cwd=str(REPO)
            ).check()
            print(f"in-call {m.result['seconds']:.1f}s under cProfile (inflated); stats in {prof}")
            print(m.result["profile"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=DEFAULT_ROOT, help="human dump root (default: %(default)s)")
    p.add_argument("--source", help="any dump root URL for the human section; overrides --root")
    p.add_argument("--releases", default=",".join(map(str, HUMAN_RELEASES)), help="human releases, comma-separated")
    p.add_argument("--to-release", type=int, help="target release of the index and CLI (default: the newest)")
    p.add_argument("--queries", type=int, default=1_000_000, help="queries in the lookup batch")
    p.add_argument("--cli-ids", type=int, default=30_000, help="identifiers in the CLI input file")
    p.add_argument("--repeat", type=int, default=3, help="runs of load/lookup/warm CLI; the fastest is reported")
    p.add_argument("--workdir", help="keep artifacts here (the simulated mirror is reused); default: a temp dir")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 2 releases, 20k queries, small sim")
    p.add_argument("--sim", action="store_true", help="also run the simulated human-scale section (long)")
    p.add_argument("--skip-cli", action="store_true", help="skip the CLI end-to-end timing")
    p.add_argument("--skip-human", action="store_true", help="only the simulated section (with --sim)")
    p.add_argument("--sim-genes", type=int, default=80_000)
    p.add_argument("--sim-releases", type=int, default=50)
    p.add_argument("--resimulate", action="store_true", help="regenerate the simulated mirror even if cached")
    p.add_argument(
        "--profile", default="", help="phases to profile afterwards: extract,build,index,lookup,sim_extract,sim_build"
    )
    p.add_argument(
        "--profile-only",
        action="store_true",
        help="skip the measurements; profile the phases of --profile on the artifacts a previous run left in --workdir",
    )
    p.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    p.add_argument("--profile-top", type=int, default=20)
    p.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--cprofile", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    args.source = args.source or args.root
    if args.quick:
        args.releases, args.queries, args.cli_ids, args.repeat = "110,114", 20_000, 1_000, 1
        args.sim_genes, args.sim_releases = 2_000, 5
    args.release_list = sorted(int(r) for r in args.releases.split(","))
    args.profile = [s for s in args.profile.split(",") if s]
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-convert-"))
    work.mkdir(parents=True, exist_ok=True)
    human_dir = work / ("human-quick" if args.quick else "human")
    sim_dir = work / f"sim-{args.sim_genes}x{args.sim_releases}"
    print(f"bench_convert: workdir {work}", flush=True)
    start = machine_summary()
    print(f"machine at start: {start}", flush=True)
    if args.profile_only:
        profile_phases(args, work, human_dir, sim_dir)
        return 0
    report = Report()
    try:
        if not args.skip_human:
            human_dir.mkdir(parents=True, exist_ok=True)
            human_section(args, report, human_dir)
        if args.sim:
            sim_dir.mkdir(parents=True, exist_ok=True)
            sim_section(args, report, sim_dir)
        print_summary(args, report)
        print(
            f"\nload average at start: {start.rsplit('load average ', 1)[-1]}; at end: {load_average()} "
            "(other processes may share the 2 CPUs: numbers can be pessimistic)"
        )
        (work / "results.json").write_text(
            json.dumps({"machine": start, "rows": [r.cells() for r in report.rows], **report.extra}, indent=1)
        )
        if args.profile:
            profile_phases(args, work, human_dir, sim_dir)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def print_summary(args: argparse.Namespace, report: Report) -> None:
    print("\n## results\n")
    headers = ["section", "phase", "in-call s", "process wall s", "peak RSS", "target", "result", "notes"]
    print(format_table([r.cells() for r in report.rows], headers))
    ex = report.extra
    if "lookup" in ex and "cli" in ex:
        lk, dc = ex["lookup"], ex["dict"]
        print("\n## ratios against baselines\n")
        rows = [
            ["index.lookup IDs/s ÷ dict.get IDs/s (measured, same run)", ratio(lk["ids_per_s"], dc["ids_per_s"])],
            [
                "index.lookup IDs/s ÷ reference tool ≈100 IDs/s (published figure, not measured)",
                ratio(lk["ids_per_s"], PUBLISHED_IDS_PER_S, 0),
            ],
            [
                "reference tool ≈9 h cold human build (published, not measured) ÷ our cold CLI wall",
                ratio(PUBLISHED_COLD_BUILD_S, ex["cli"]["cold_wall"], 0),
            ],
        ]
        print(format_table(rows, ["ratio", "value"]))
        print(
            f"\nlookup: {lk['ids_per_s']:,.0f} IDs/s (index) vs {dc['ids_per_s']:,.0f} IDs/s (plain dict, exact and "
            "lower-cased keys, no version stripping, returns tuples instead of a DataFrame)"
        )
        print("\nlookup throughput by query kind (each kind alone, best of --repeat):")
        kind_rows = [
            [k, v["n"], round(1000 * v["seconds"], 1), round(v["ids_per_s"])] for k, v in lk["by_kind"].items()
        ]
        print(format_table(kind_rows, ["kind", "queries", "ms", "IDs/s"]))
        print(f"\nresult categories: {lk['categories']}")
        matches = {("none (1:0)" if k == "nan" else k): v for k, v in lk["matches"].items() if v}
        print(f"match kinds: {matches}")
    for key in ("human_snapshot", "sim_snapshot"):
        if key in ex:
            print(f"{key} rows: {ex[key]['rows']}")
    timed = [r for r in report.rows if r.ok is not None]
    missed = [r.phase for r in timed if not r.ok]
    if args.quick:
        print("\nquick run: sizes too small for the targets to mean anything")
    else:
        print("\ntargets met" if not missed else f"\nTARGETS MISSED: {'; '.join(missed)}")


if __name__ == "__main__":
    sys.exit(main())
