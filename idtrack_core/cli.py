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
    from idtrack_core.simulate import simulate_mirror

    summary = simulate_mirror(
        args.out, genes=args.genes, releases=args.releases, seed=args.seed, overwrite=args.overwrite
    )
    first, last = summary.releases[0], summary.releases[-1]
    print(f"simulated {summary.species} {summary.assembly} releases {first}-{last} → {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idtrack-atlas", description=__doc__.splitlines()[0])
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    func: Command = args.func
    try:
        return func(args)
    except IdtrackError as exc:
        print(f"idtrack-atlas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
