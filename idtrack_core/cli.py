"""``idtrack-atlas`` command line: thin wrappers over idtrack_core.

Sources are URLs: a dump root (local folder, ``http(s)://``, ``s3://``) or ``mysql://user[:password]@host[:port]``
(prefer the ``IDTRACK_MYSQL_PASSWORD`` environment variable to a password in the URL). S3 credentials and
endpoints come from the standard ``AWS_*`` environment variables.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from idtrack_core.errors import IdtrackError

log = logging.getLogger("idtrack_core")
Command = Callable[[argparse.Namespace], int]


def _release_arg(text: str) -> int | str:
    if text == "latest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"release must be a number or 'latest', not {text!r}") from None


def _release_range(text: str) -> tuple[int, int]:
    try:
        first, _, last = text.partition("-")
        return int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a release range such as 1-10, not {text!r}") from None


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="dump root URL (path, http(s)://, s3://) or mysql://user@host:port")
    p.add_argument("--species", required=True, help="production name, e.g. homo_sapiens")
    p.add_argument("--assembly", default=None, help="e.g. GRCh38 (or 38); default: any")


def cmd_releases(args: argparse.Namespace) -> int:
    from idtrack_core.ensembl import open_source

    dbs = open_source(args.source).list_databases(args.species, args.assembly)
    if not dbs:
        print(f"no core databases of {args.species} at {args.source}", file=sys.stderr)
        return 1
    for db in dbs:
        print(f"{db.release}\t{db.assembly}\t{db.name}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from idtrack_core.ensembl import extract_release, latest_release, open_source, write_extract

    source = open_source(args.source)
    release = args.release
    if release == "latest":
        release = latest_release(source, args.species, args.assembly)
    extract = extract_release(source, args.species, args.assembly, release)
    manifest = write_extract(extract, args.out)
    rows = ", ".join(f"{name} {info['rows']:,}" for name, info in manifest["tables"].items())
    print(f"{extract.database} (release {extract.release}) → {args.out}: {rows}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from idtrack_core.simulation import simulate_mirror

    summary = simulate_mirror(
        args.out, genes=args.genes, releases=args.releases, seed=args.seed, overwrite=args.overwrite
    )
    first, last = summary.releases[0], summary.releases[-1]
    print(f"simulated {summary.species} {summary.assembly} releases {first}-{last} → {args.out}")
    return 0


def _read_ids(args: argparse.Namespace) -> list[str]:
    ids = list(args.ids)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            ids += [line.strip() for line in f if line.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("give identifiers as arguments or with --input FILE")
    return ids


def _write_table(df, output: str | None) -> None:
    """CSV to stdout, or an atomic write of CSV / Parquet (by extension) to ``output``."""
    from idtrack_core import storage

    if output is None:
        df.to_csv(sys.stdout, index=False)
    elif output.endswith(".parquet"):
        storage.atomic_write_bytes(output, storage.parquet_bytes(df))
    else:
        storage.atomic_write_bytes(output, df.to_csv(index=False).encode())


def summary_line(result) -> str:
    """One line of 1:1 / 1:n / 1:0 / fallback counts of a conversion result."""
    counts = result["category"].value_counts()
    reasons = result["reason"].value_counts()
    return (
        f"{len(result):,} ids: 1:1 {counts.get('1:1', 0):,} · 1:n {counts.get('1:n', 0):,} · "
        f"1:0 {counts.get('1:0', 0):,} (no_corresponding {reasons.get('no_corresponding', 0):,}, "
        f"no_conversion {reasons.get('no_conversion', 0):,}) · fallback {int(result['fallback'].sum()):,}"
    )


def cmd_convert(args: argparse.Namespace) -> int:
    from idtrack_core.ensembl import open_source
    from idtrack_core.workspace import Workspace, convert_with_home

    ids = _read_ids(args)
    source = open_source(args.source) if args.source else None
    ws = Workspace(args.home, args.species, args.assembly)
    result = convert_with_home(ws, source, ids, _target_from(args, ws, source))
    _write_table(result, args.output)
    print(summary_line(result), file=sys.stderr)
    return 0


def _study_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--study expects NAME=PATH, not {text!r}")
    return name, path


def _target_from(args: argparse.Namespace, ws, source):
    from idtrack_core.convert import ConversionTarget

    to_release = args.to_release
    if to_release == "latest":
        to_release = max(ws.available_releases(source))
    return ConversionTarget(to_release, args.final_database, args.from_release, args.strategy, args.target_field)


def cmd_harmonize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from idtrack_core.ensembl import open_source
    from idtrack_core.harmonize.pipeline import harmonize
    from idtrack_core.harmonize.plan import HarmonizationPolicy
    from idtrack_core.workspace import Workspace, index_with_home

    studies = dict(args.study)
    if len(studies) != len(args.study):
        raise argparse.ArgumentTypeError("each --study NAME must be unique")
    source = open_source(args.source) if args.source else None
    ws = Workspace(args.home, args.species, args.assembly)
    index = index_with_home(ws, source, _target_from(args, ws, source))
    policy = HarmonizationPolicy(args.one_to_many, args.many_to_one, not args.drop_consistent_failures)
    with tqdm(total=len(studies), desc="matching studies", unit="study", file=sys.stderr) as bar:
        result = harmonize(
            studies,
            index.lookup,
            out=args.out,
            mode=args.mode,
            policy=policy,
            obs_columns=[c for c in args.obs_columns.split(",") if c],
            progress=lambda name: (bar.set_postfix_str(name), bar.update()),
        )
    table = result.diagnostics_table
    print(table.to_string())
    for study, reason in result.plan.excluded_studies.items():
        print(f"left out: {study} ({reason})", file=sys.stderr)
    merged = result.merged[args.mode]
    print(f"{args.mode} atlas: {merged.n_obs:,} cells × {merged.n_vars:,} features → {args.out}", file=sys.stderr)
    if args.report:
        _write_table(table.reset_index(), args.report)
    return 0


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extend(subparsers)`` may add commands (the platform adds ``demo``)."""
    parser = argparse.ArgumentParser(
        prog="idtrack-atlas",
        description="Track gene identifiers across Ensembl releases and harmonize single-cell atlases.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("releases", help="list the releases and core databases a source has")
    _add_source_args(p)
    p.set_defaults(func=cmd_releases)

    p = sub.add_parser("extract", help="normalize one release into a Parquet release extract")
    _add_source_args(p)
    p.add_argument("--release", required=True, type=_release_arg, help="release number or 'latest'")
    p.add_argument("--out", required=True, help="output folder (local path or s3://)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("simulate", help="write a seeded simulated Ensembl mirror with ground truth")
    p.add_argument("--out", required=True)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--releases", type=_release_range, default=(1, 10), help="inclusive range, e.g. 1-10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing mirror at --out")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("convert", help="convert identifiers to a target release and database")
    _add_target_args(p)
    p.add_argument("--input", help="file with one identifier per line")
    p.add_argument("--output", help="CSV (default: stdout) or .parquet file")
    p.add_argument("ids", nargs="*", help="identifiers to convert")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("harmonize", help="harmonize the features of several .h5ad studies and merge them")
    _add_target_args(p)
    p.add_argument("--study", action="append", type=_study_arg, required=True, help="NAME=PATH or NAME=URL")
    p.add_argument("--mode", choices=["union", "intersect"], default="union")
    p.add_argument("--out", required=True, help="output .h5ad (local path or s3://)")
    p.add_argument("--report", help="write the per-study diagnostics table here (CSV or .parquet)")
    p.add_argument("--one-to-many", choices=["drop", "keep_all", "collapse"], default="collapse")
    p.add_argument("--many-to-one", choices=["sum", "first", "drop"], default="sum")
    p.add_argument("--drop-consistent-failures", action="store_true", help="drop names failing in every study")
    p.add_argument("--obs-columns", default="", help="comma-separated obs columns to keep")
    p.set_defaults(func=cmd_harmonize)
    if extend is not None:
        extend(sub)
    return parser


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="dump root URL or mysql://…; omit to use only what --home holds")
    p.add_argument("--home", required=True, help="folder (or s3://) caching extracts, snapshot and indexes")
    p.add_argument("--species", required=True)
    p.add_argument("--assembly", default=None)
    p.add_argument("--to-release", required=True, type=_release_arg, help="release number or 'latest'")
    p.add_argument("--from-release", type=int, default=None, help="release the identifiers come from")
    p.add_argument("--final-database", default="ensembl_gene", help="ensembl_gene or e.g. 'HGNC Symbol'")
    p.add_argument("--strategy", choices=["best", "all"], default="best")
    p.add_argument("--target-field", choices=["label", "accession"], default="label")


def main(argv: Sequence[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    args = build_parser(extend).parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    func: Command = args.func
    try:
        return func(args)
    except (IdtrackError, argparse.ArgumentTypeError) as exc:
        print(f"idtrack-atlas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
