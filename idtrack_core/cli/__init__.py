"""``idtrack-atlas`` command line: thin wrappers over idtrack_core, one module per group of commands.

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

from idtrack_core import __version__, progress
from idtrack_core.cli import convert, ensembl, harmonize, provenance
from idtrack_core.cli.args import Command, HelpFormatter
from idtrack_core.errors import IdtrackError

log = logging.getLogger("idtrack_core")
COMMAND_MODULES = (ensembl, convert, harmonize, provenance)


EXAMPLES = """examples:
  idtrack-atlas demo
  idtrack-atlas convert --source ../shared/data/human_releases --home home --species homo_sapiens \\
      --to-release 114 --final-database 'HGNC Symbol' TP53 ENSG00000141510.19
  idtrack-atlas harmonize --source ../shared/data/human_releases --home home --species homo_sapiens \\
      --to-release 114 --final-database 'HGNC Symbol' --study a=a.h5ad --study b=b.h5ad --out atlas.h5ad \\
      --report report/
  idtrack-atlas COMMAND --help     (every command's options, with examples)"""


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extend(subparsers)`` may add commands (the platform adds ``demo`` and ``retain``)."""
    parser = argparse.ArgumentParser(
        prog="idtrack-atlas",
        description="Track gene identifiers across Ensembl releases and harmonize single-cell atlases.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging: -v for progress details, -vv for debug"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or progress lines (results and errors only)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    if extend is not None:
        extend(sub)
    return parser


def main(argv: Sequence[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    """Run the command line; returns the exit code (2 for an error the user can fix)."""
    args = build_parser(extend).parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    progress.configure("off" if args.quiet else "auto")
    if not args.quiet:  # the progress lines shown when stderr is not a terminal
        logging.getLogger(progress.log.name).setLevel(min(level, logging.INFO))
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
