"""``releases``, ``extract`` and ``simulate``: Ensembl sources and the simulated mirror."""

from __future__ import annotations

import argparse
from typing import Any

from idtrack_core.cli.args import add_source_args, release_arg, release_range


def cmd_releases(args: argparse.Namespace) -> int:
    """Print the releases and core databases the source has."""
    from idtrack_core.ensembl import databases_of, open_source

    for db in databases_of(open_source(args.source), args.species, args.assembly):
        print(f"{db.release}\t{db.assembly}\t{db.name}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """Normalize one release into a Parquet release extract."""
    from idtrack_core.cli.checks import check_output, check_release, checked_source
    from idtrack_core.ensembl import extract_release, write_extract

    check_output(args.out, folder=True)
    source, releases = checked_source(args)
    check_release(args.release, releases, f"for {args.species} at {source.url}")
    release = releases[-1] if args.release == "latest" else args.release
    extract = extract_release(source, args.species, args.assembly, release)
    manifest = write_extract(extract, args.out)
    rows = ", ".join(f"{name} {info['rows']:,}" for name, info in manifest["tables"].items())
    print(f"{extract.database} (release {extract.release}) → {args.out}: {rows}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a seeded simulated Ensembl mirror with ground truth."""
    from idtrack_core.cli.checks import check_output
    from idtrack_core.simulation import simulate_mirror

    check_output(args.out, folder=True)
    summary = simulate_mirror(
        args.out, genes=args.genes, releases=args.releases, seed=args.seed, overwrite=args.overwrite
    )
    first, last = summary.releases[0], summary.releases[-1]
    print(f"simulated {summary.species} {summary.assembly} releases {first}-{last} → {args.out}")
    return 0


def register(sub: Any) -> None:
    """Add ``releases``, ``extract`` and ``simulate`` to the subcommands."""
    p = sub.add_parser("releases", help="list the releases and core databases a source has")
    add_source_args(p)
    p.set_defaults(func=cmd_releases)

    p = sub.add_parser("extract", help="normalize one release into a Parquet release extract")
    add_source_args(p)
    p.add_argument("--release", required=True, type=release_arg, help="release number or 'latest'")
    p.add_argument("--out", required=True, help="output folder (local path or s3://)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("simulate", help="write a seeded simulated Ensembl mirror with ground truth")
    p.add_argument("--out", required=True)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--releases", type=release_range, default=(1, 10), help="inclusive range, e.g. 1-10")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing mirror at --out")
    p.set_defaults(func=cmd_simulate)
