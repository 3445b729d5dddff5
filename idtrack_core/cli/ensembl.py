"""``releases``, ``extract`` and ``simulate``: Ensembl sources and the simulated mirror."""

from __future__ import annotations

import argparse
from typing import Any

from idtrack_core.cli.args import add_command, add_source_args, release_arg, release_range


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
    extract = extract_release(source, args.species, args.assembly, release, history=args.history)
    manifest = write_extract(extract, args.out)
    rows = ", ".join(f"{name} {info['rows']:,}" for name, info in manifest["tables"].items())
    print(f"{extract.database} (release {extract.release}) → {args.out}: {rows}")
    print(f"history: {history_summary(manifest['history'])}")
    return 0


def history_summary(entry: dict[str, Any]) -> str:
    """What the history table of an extract holds, in words."""
    if entry["scope"] == "all":
        return "every mapping session of the database (complete on its own)"
    since = entry["since"]
    return (
        f"only the mapping sessions new since release {since['release']} ({since['database']}); "
        "build snapshots together with the extracts of the earlier releases"
    )


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
    p = add_command(
        sub,
        "releases",
        summary="list the releases and core databases a source has",
        description="List the core databases of a species at an Ensembl source: release, assembly, database name.",
        examples=["idtrack-atlas releases --source ../shared/data/human_releases --species homo_sapiens"],
    )
    add_source_args(p)
    p.set_defaults(func=cmd_releases)

    p = add_command(
        sub,
        "extract",
        summary="normalize one release into a Parquet release extract",
        description="Read one release's core tables from the source and write them as a validated Parquet release "
        "extract (genes, transcripts, translations, xrefs, synonyms, history + manifest.json).",
        examples=[
            "idtrack-atlas extract --source sim --species idtrack_simulans --assembly SIM1 --release 10 --out x10",
            "idtrack-atlas extract --source ../shared/data/human_releases --species homo_sapiens --release latest "
            "--out extract114",
            "idtrack-atlas extract --source ../shared/data/human_releases --species homo_sapiens --release 114 "
            "--history new --out extract114-new",
        ],
    )
    add_source_args(p)
    p.add_argument("--release", required=True, type=release_arg, help="release to extract, e.g. 114 or latest")
    p.add_argument("--out", required=True, help="output folder (local path or s3://), e.g. extract114")
    p.add_argument(
        "--history",
        choices=["all", "new"],
        default="all",
        help="all: every mapping session (a complete extract); new: only the sessions the previous release at the "
        "source lacks (each session read once across releases), e.g. new",
    )
    p.set_defaults(func=cmd_extract)

    p = add_command(
        sub,
        "simulate",
        summary="write a seeded simulated Ensembl mirror with ground truth",
        description="Write a simulated Ensembl mirror (FTP layout, species idtrack_simulans, assembly SIM1) with its "
        "ground truth; the same seed gives the same files.",
        examples=["idtrack-atlas simulate --out sim --genes 2000 --releases 1-10 --seed 0"],
    )
    p.add_argument("--out", required=True, help="folder of the mirror, e.g. sim")
    p.add_argument("--genes", type=int, default=2000, help="genes alive at the first release, e.g. 2000")
    p.add_argument("--releases", type=release_range, default=(1, 10), help="inclusive release range, e.g. 1-10")
    p.add_argument("--seed", type=int, default=0, help="random seed, e.g. 0")
    p.add_argument("--overwrite", action="store_true", help="replace an existing mirror at --out")
    p.set_defaults(func=cmd_simulate)
