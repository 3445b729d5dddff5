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

from idtrack_core.cli import convert, ensembl, harmonize, history, provenance
from idtrack_core.cli.args import Command
from idtrack_core.errors import IdtrackError

log = logging.getLogger("idtrack_core")
COMMAND_MODULES = (ensembl, convert, history, harmonize, provenance)


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extend(subparsers)`` may add commands (the platform adds ``demo``)."""
    parser = argparse.ArgumentParser(
        prog="idtrack-atlas",
        description="Track gene identifiers across Ensembl releases and harmonize single-cell atlases.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)
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
