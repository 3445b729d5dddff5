"""Benchmark: release extracts → identifier graph snapshot → resolution index → batch conversion.

Human section (``human_releases``, found at ``../shared/data/human_releases`` beside the repository: releases 84,
93, 100, 104, 110, 114), every phase in a fresh process (wall time and peak RSS via ``os.wait4``; "in-call" =
seconds inside the measured library call, without interpreter start-up, imports or input loading):

1. extract every release (``extract_release(..., history="new")`` + ``write_extract``), one process per release;
2. snapshot build (``build_snapshot`` from the extract URLs + ``write_snapshot``), snapshot size on disk;
3. snapshot load (``read_snapshot``), best of ``--repeat``;
4. resolution index build (``ResolutionIndex.build(snap, ConversionTarget(114, "HGNC Symbol"))`` + ``write``);
5. index open (``ResolutionIndex.read``, memory-mapped) + a first lookup, best of ``--repeat``;
6. batch lookup of ``--queries`` mixed queries (mix printed) after a warm-up call, paired with the baseline in the
   same process (A B A B, ``--repeat`` pairs): a plain ``dict`` of ``{name: answer}`` built from the index (exact
   keys, then lower-cased keys) with one ``dict.get`` per query (no version stripping, tuples, no DataFrame);
7. the CLI end to end (``idtrack-atlas convert … --input <the genes of the first release>``; 60,675 IDs for
   release 84): cold home (``--cold-repeat`` runs from an empty home: extracts, snapshot, index, lookup), then
   warm home paired with a bare ``python -c "import pandas, pyarrow"`` (A B A B, ``--repeat`` pairs).

Simulated section (``--sim``, takes many minutes): ``simulate_mirror(genes=80_000, releases=(1, 50), seed=0)``
(reused from ``--workdir`` when there), every release extracted one after the other in one process (history new
since the previous release), snapshots built from the first 25 and from all 50 extracts.

Targets (DESIGN §8 and issue 12): lookup ≥ 1.0× the ``dict.get`` loop; warm CLI ≤ 1.5× the bare import; cold
home ≤ 15 s on an idle machine; every human phase < 1 GiB; snapshot and index build < 60 s; loads < 5 s;
simulated: extract + build of 50 releases ≤ 3 min and ≤ 2.2× that of 25 (linear would be 2.0×). Ratio targets
must hold on both the min and the median of the paired runs.

``--profile PHASE,...`` re-runs those phases once more under py-spy (or cProfile with ``--profiler cprofile``)
after the measurements and prints where the time goes; profiled runs are not part of the numbers.

Run from the repository root::

    python -m benchmarks.bench_convert --workdir bench-work/convert           # human section (~5 min)
    python -m benchmarks.bench_convert --workdir bench-work/convert --sim     # + simulated 80k × 50 (long)
    python -m benchmarks.bench_convert --quick                               # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
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
    min_median,
    paired,
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
    from idtrack_core.ensembl.sources import find_database, previous_database

    source = open_source(spec["source"])
    since = previous_database(source, find_database(source, spec["species"], spec["assembly"], spec["release"]))
    history = "new" if since is None or since.release in spec["releases"] else "all"  # keep the chain complete
    with Timer() as t_extract:
        ex = extract_release(source, spec["species"], spec["assembly"], spec["release"], history)
    with Timer() as t_write:
        manifest = write_extract(ex, spec["out"])
    return {
        "seconds": t_extract.seconds + t_write.seconds,
        "extract_seconds": t_extract.seconds,
        "write_seconds": t_write.seconds,
        "rows": {name: info["rows"] for name, info in manifest["tables"].items()},
        "history_source_rows": manifest["source_rows"].get("stable_id_event", 0),
    }


def w_extract_many(spec: dict[str, Any]) -> dict[str, Any]:
    """Extract releases one after the other in this process (history="new"), timing each."""
    from idtrack_core.ensembl import extract_release, open_source, write_extract

    source = open_source(spec["source"])
    per_release = {}
    for release in spec["releases"]:
        with Timer() as t:
            ex = extract_release(source, spec["species"], spec["assembly"], release, history="new")
            manifest = write_extract(ex, str(Path(spec["out"]) / str(release)))
        per_release[str(release)] = {
            "seconds": t.seconds,
            "history_rows": manifest["tables"]["history"]["rows"],
            "history_source_rows": manifest["source_rows"].get("stable_id_event", 0),
        }
        print(
            f"    release {release}: {t.seconds:.2f}s, history rows read "
            f"{per_release[str(release)]['history_source_rows']:,}",
            file=sys.stderr,
            flush=True,
        )
    return {"seconds": sum(r["seconds"] for r in per_release.values()), "per_release": per_release}


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
        "rows": index.keys.num_rows,
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
    first_genes = extracts[min(extracts)].tables["genes"]["stable_id"].astype(object)
    Path(spec["cli_out"]).write_text("".join(f"{g}\n" for g in first_genes))
    return {
        "seconds": 0.0,
        "counts": {k: len(v) for k, v in parts.items()},
        "examples": {k: [str(s) for s in v[:3]] for k, v in parts.items()},
        "versioned_releases": sorted(versioned),
        "cli_ids": len(first_genes),
    }


def _read_queries(path: str) -> tuple[list[str], list[str]]:
    kinds, queries = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            kind, _, query = line.rstrip("\n").partition("\t")
            kinds.append(kind)
            queries.append(query)
    return kinds, queries


def answer_dict(index: Any) -> tuple[dict[str, tuple], tuple]:
    """The baseline's plain ``dict``: exact keys, then lower-cased keys not already present, each mapped to its
    answer tuple (category, target_ids, ensembl_genes, reason, fallback); and the answer for unknown names."""
    t = index.table
    keys, lower, rows = (index.keys[c].to_pylist() for c in ("key", "lower", "row"))
    columns = [t[c].to_pylist() for c in ("category", "target_ids", "ensembl_genes", "reason", "fallback")]
    answers = list(zip(*columns, strict=True))
    answer_of: dict[str, tuple] = {}
    for wanted in (False, True):
        for key, is_lower, row in zip(keys, lower, rows, strict=True):
            if is_lower == wanted and key not in answer_of:
                answer_of[key] = answers[row]
    return answer_of, answers[-1]


def w_lookup(spec: dict[str, Any]) -> dict[str, Any]:
    """``index.lookup`` of the whole batch and the plain ``dict.get`` loop over the same queries, alternately."""
    import numpy as np

    from benchmarks._util import paired
    from idtrack_core.convert import ResolutionIndex

    index = ResolutionIndex.read(spec["index"])
    kinds, queries = _read_queries(spec["queries"])
    with Timer() as t_dict:
        answer_of, unknown = answer_dict(index)
    with Timer() as warm:
        index.lookup(queries[:1000])
    last: dict[str, Any] = {}

    def ours() -> float:
        with Timer() as t:
            last["result"] = index.lookup(queries)
        return t.seconds

    def baseline() -> float:
        with Timer() as t:
            get = answer_of.get
            last["dict"] = [get(q, unknown) for q in queries]
        return t.seconds

    times, dict_times = paired(ours, baseline, spec["repeat"])
    result = last["result"]
    kind_arr, q_arr = np.asarray(kinds, dtype=object), np.asarray(queries, dtype=object)
    by_kind = {}
    for kind in QUERY_MIX:
        sub = list(q_arr[kind_arr == kind])
        if sub:
            best = min(_timed(lambda s=sub: index.lookup(s)) for _ in range(spec["repeat"]))
            by_kind[kind] = {"n": len(sub), "seconds": best, "ids_per_s": len(sub) / best if best else None}
    agree = sum(a[1] == b for a, b in zip(last["dict"], result["target_ids"].astype(object).tolist(), strict=True))
    n = len(queries)
    return {
        "seconds": min(times),
        "times": times,
        "dict_times": dict_times,
        "warmup_seconds": warm.seconds,
        "n": n,
        "ids_per_s": n / min(times),
        "dict_ids_per_s": n / min(dict_times),
        "dict_build_seconds": t_dict.seconds,
        "dict_keys": len(answer_of),
        "agree_target_ids": agree / n,
        "categories": {str(k): int(v) for k, v in result["category"].value_counts().items()},
        "matches": {str(k): int(v) for k, v in result["match"].value_counts(dropna=False).items()},
        "by_kind": by_kind,
    }


def _timed(fn: Any) -> float:
    with Timer() as t:
        fn()
    return t.seconds


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
    "extract_many": w_extract_many,
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
        spec = {"source": source, "species": species, "assembly": assembly, "release": r, "releases": releases}
        spec["out"] = url
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
    peak_limit = GIB
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
            "< 1 GiB",
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
            "< 60 s, < 1 GiB",
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
            "< 5 s, < 1 GiB",
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
            "< 60 s, < 1 GiB",
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
            "< 5 s, < 1 GiB",
            within(il.result["seconds"], 5.0, il.peak_rss_bytes, peak_limit),
            f"ResolutionIndex.read {il.result['read_seconds']:.2f}s + first lookup (pages in the mapped keys) "
            f"{il.result['hash_seconds']:.2f}s",
        )
    )

    queries, cli_ids = work / "queries.tsv", work / f"genes{min(releases)}.txt"
    qm = measure(
        "queries",
        {
            "extracts": urls,
            "to_release": to_release,
            "n": args.queries,
            "seed": 0,
            "out": str(queries),
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

    print(f"lookup of {args.queries:,} queries vs a plain dict.get loop, {args.repeat} paired runs:", flush=True)
    lk = measure("lookup", {"index": index, "queries": str(queries), "repeat": args.repeat})
    r = lk.result
    ratio_min = min(r["dict_times"]) / min(r["times"])
    ratio_median = statistics.median(r["dict_times"]) / statistics.median(r["times"])
    report.add(
        Row(
            "human",
            f"index.lookup({args.queries:,})",
            r["seconds"],
            lk.wall_seconds,
            lk.peak_rss_bytes,
            "≥ 1.0× dict.get (same run)",
            min(ratio_min, ratio_median) >= 1.0,
            f"{r['ids_per_s']:,.0f} IDs/s; min/median {min_median(r['times'])} s; dict.get min/median "
            f"{min_median(r['dict_times'])} s; speed ÷ dict.get {ratio_min:.2f} (min) / {ratio_median:.2f} (median)",
        )
    )
    report.add(
        Row(
            "human",
            f"baseline: dict.get × {args.queries:,}",
            min(r["dict_times"]),
            None,
            None,
            note=f"{r['dict_ids_per_s']:,.0f} IDs/s; dict of {r['dict_keys']:,} keys built in "
            f"{r['dict_build_seconds']:.1f}s; same target_ids as the index for "
            f"{100 * r['agree_target_ids']:.1f}% of queries (it strips no versions)",
        )
    )
    report.extra["lookup"] = {**r, "ratio_min": ratio_min, "ratio_median": ratio_median}

    if not args.skip_cli:
        cli_section(args, report, work, cli_ids, to_release)


def cli_command(args: argparse.Namespace, home: Path, ids: Path, out: Path, to_release: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "idtrack_assets.console",  # what the idtrack-atlas script runs (the installed script may be another tree's)
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


#: Children may cache compiled bytecode, as an installed CLI does: a ``PYTHONDONTWRITEBYTECODE`` in the
#: benchmark's own environment would otherwise recompile every idtrack module from source in every run (≈0.2 s),
#: while pandas and pyarrow load from the ``.pyc`` files their installation wrote.
BYTECODE_CACHED = {"PYTHONDONTWRITEBYTECODE": ""}


def cli_section(args: argparse.Namespace, report: Report, work: Path, ids: Path, to_release: int) -> None:
    """The CLI end to end on the genes of the first release: cold home (empty) and warm home, the warm runs paired
    with a bare ``python -c "import pandas, pyarrow"`` (A B A B …). Every child may write bytecode caches
    (:data:`BYTECODE_CACHED`); the first cold run writes them."""
    n_ids = sum(1 for _ in ids.open())
    home, out = work / "cli-home", work / "out.csv"
    print(f"CLI: convert --input {ids.name} ({n_ids:,} ids); cold home {args.cold_repeat}×:", flush=True)
    colds = []
    for _ in range(args.cold_repeat):
        shutil.rmtree(home, ignore_errors=True)
        colds.append(
            run_measured(cli_command(args, home, ids, out, to_release), env=BYTECODE_CACHED, cwd=str(work)).check()
        )
    cold_times = [m.wall_seconds for m in colds]
    peak = max(m.peak_rss_bytes for m in colds)
    report.add(
        Row(
            "human",
            f"CLI convert {n_ids:,} ids, cold home",
            None,
            min(cold_times),
            peak,
            "≤ 15 s wall (idle machine), < 1 GiB",
            min(cold_times) <= 15.0 and peak < GIB,
            f"min/median {min_median(cold_times)} s of {len(colds)}; extracts {len(args.release_list)} releases "
            f"+ snapshot + index + lookup; {colds[0].stderr.strip().splitlines()[-1][:120]}",
        )
    )
    argv = cli_command(args, home, ids, out, to_release)
    bare = [sys.executable, "-c", "import pandas, pyarrow"]
    warm_runs: list[Measurement] = []

    def cli() -> float:
        warm_runs.append(run_measured(argv, env=BYTECODE_CACHED, cwd=str(work)).check())
        return warm_runs[-1].wall_seconds

    print(f"CLI warm home vs bare import, {args.repeat} pairs:", flush=True)
    base_times, warm_times = paired(
        lambda: run_measured(bare, env=BYTECODE_CACHED).check().wall_seconds, cli, args.repeat
    )
    ratio_min = min(warm_times) / min(base_times)
    ratio_median = statistics.median(warm_times) / statistics.median(base_times)
    report.add(
        Row(
            "human",
            f"CLI convert {n_ids:,} ids, warm home",
            None,
            min(warm_times),
            max(m.peak_rss_bytes for m in warm_runs),
            "≤ 1.5× bare import (same run)",
            max(ratio_min, ratio_median) <= 1.5,
            f"min/median {min_median(warm_times)} s; bare `import pandas, pyarrow` min/median "
            f"{min_median(base_times)} s; ratio {ratio_min:.2f} (min) / {ratio_median:.2f} (median)",
        )
    )
    report.extra["cli"] = {
        "cold": cold_times,
        "warm": warm_times,
        "bare_import": base_times,
        "warm_ratio_min": ratio_min,
        "warm_ratio_median": ratio_median,
        "argv": argv,
    }


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

    half = n_rel // 2
    print(
        f"extract releases 1–{n_rel} one after the other in one process (history new since the previous):", flush=True
    )
    ex = run_python(
        worker_argv(
            "extract_many",
            {
                "source": str(mirror),
                "species": SIM_SPECIES,
                "assembly": None,
                "releases": releases,
                "out": str(work / "extracts"),
            },
        ),
        cwd=str(REPO),
    ).check()
    per = ex.result["per_release"]
    extract_s = {n: sum(per[str(r)]["seconds"] for r in releases[:n]) for n in (half, n_rel)}
    report.add(
        Row(
            "sim",
            f"extract {n_rel} releases",
            extract_s[n_rel],
            ex.wall_seconds,
            ex.peak_rss_bytes,
            note=f"release 1: {per['1']['seconds']:.1f}s … release {half}: {per[str(half)]['seconds']:.1f}s … release "
            f"{n_rel}: {per[str(n_rel)]['seconds']:.1f}s; history rows read at release {n_rel}: "
            f"{per[str(n_rel)]['history_source_rows']:,}; first {half} releases {extract_s[half]:.1f}s",
        )
    )
    report.extra["sim_extract"] = {**ex.result, "wall": ex.wall_seconds, "peak": ex.peak_rss_bytes}
    urls = [str(work / "extracts" / str(r)) for r in releases]
    builds = {}
    for n in (half, n_rel):
        print(f"snapshot build from the first {n} extracts:", flush=True)
        builds[n] = measure("build", {"extracts": urls[:n], "out": str(work / f"snapshot{n}")})
        b = builds[n]
        report.add(
            Row(
                "sim",
                f"snapshot build + write ({n} extracts)",
                b.result["seconds"],
                b.wall_seconds,
                b.peak_rss_bytes,
                note=f"build_snapshot {b.result['build_seconds']:.1f}s + write {b.result['write_seconds']:.1f}s; "
                f"{human_bytes(b.result['size_bytes'])} on disk",
            )
        )
    total = {n: extract_s[n] + builds[n].result["seconds"] for n in (half, n_rel)}
    for n in (half, n_rel):
        report.add(
            Row(
                "sim",
                f"extract {n} + snapshot build",
                total[n],
                None,
                max(ex.peak_rss_bytes, builds[n].peak_rss_bytes),
                "≤ 3 min" if n == n_rel else "-",
                total[n] <= 3 * MIN if n == n_rel else None,
                "library time (in-call), sequential, one process for the extraction",
            )
        )
    growth = total[n_rel] / total[half]
    report.add(
        Row(
            "sim",
            f"growth: {n_rel} releases ÷ {half}",
            None,
            None,
            None,
            "≤ 2.2× (linear: 2.0×)",
            growth <= 2.2,
            f"{growth:.2f}× (extraction {extract_s[n_rel] / extract_s[half]:.2f}×, snapshot build "
            f"{builds[n_rel].result['seconds'] / builds[half].result['seconds']:.2f}×)",
        )
    )
    report.extra["sim_snapshot"] = {str(n): b.result for n, b in builds.items()}
    report.extra["sim_growth"] = growth


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
            "releases": args.release_list,
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
            "releases": list(range(1, args.sim_releases + 1)),
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
    p.add_argument("--repeat", type=int, default=5, help="paired runs of lookup/dict and warm CLI/bare import")
    p.add_argument("--cold-repeat", type=int, default=2, help="cold-home CLI runs (each extracts every release)")
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
        args.releases, args.queries, args.repeat, args.cold_repeat = "110,114", 20_000, 2, 1
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
    if "lookup" in ex:
        lk = ex["lookup"]
        print("\n## ratios against baselines measured in the same run\n")
        rows = [
            [
                "index.lookup speed ÷ plain dict.get loop (paired runs; min / median)",
                lk["ratio_min"],
                lk["ratio_median"],
            ],
        ]
        if "cli" in ex:
            c = ex["cli"]
            rows.append(
                [
                    "warm CLI wall ÷ bare `import pandas, pyarrow` (paired runs)",
                    c["warm_ratio_min"],
                    c["warm_ratio_median"],
                ]
            )
        if "sim_growth" in ex:
            rows.append(
                [
                    f"extract + build: {args.sim_releases} ÷ {args.sim_releases // 2} simulated releases",
                    ex["sim_growth"],
                    "-",
                ]
            )
        print(
            format_table(
                [[r[0], ratio(r[1], 1.0), r[2] if isinstance(r[2], str) else ratio(r[2], 1.0)] for r in rows],
                ["ratio", "min", "median"],
            )
        )
        published = [
            ["index.lookup IDs/s ÷ reference tool ≈100 IDs/s", ratio(lk["ids_per_s"], PUBLISHED_IDS_PER_S, 0)],
        ]
        if "cli" in ex:
            published.append(
                [
                    "reference tool ≈9 h cold human build ÷ our cold CLI wall",
                    ratio(PUBLISHED_COLD_BUILD_S, min(ex["cli"]["cold"]), 0),
                ]
            )
        print("\nagainst published figures (not measured here):\n")
        print(format_table(published, ["ratio", "value"]))
        print("\nlookup throughput by query kind (each kind alone, best of --repeat):")
        kind_rows = [
            [k, v["n"], round(1000 * v["seconds"], 1), round(v["ids_per_s"])] for k, v in lk["by_kind"].items()
        ]
        print(format_table(kind_rows, ["kind", "queries", "ms", "IDs/s"]))
        print(f"\nresult categories: {lk['categories']}")
        matches = {("none (1:0)" if k == "nan" else k): v for k, v in lk["matches"].items() if v}
        print(f"match kinds: {matches}")
    if "human_snapshot" in ex:
        print(f"human_snapshot rows: {ex['human_snapshot']['rows']}")
    timed = [r for r in report.rows if r.ok is not None]
    missed = [r.phase for r in timed if not r.ok]
    if args.quick:
        print("\nquick run: sizes too small for the targets to mean anything")
    else:
        print("\ntargets met" if not missed else f"\nTARGETS MISSED: {'; '.join(missed)}")


if __name__ == "__main__":
    sys.exit(main())
