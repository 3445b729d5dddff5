"""The ``idtrack-atlas`` console script: the idtrack_core commands plus the platform's ``demo`` and ``retain``
(which need Dagster)."""

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from idtrack_core import cli as core_cli


def cmd_demo(args: argparse.Namespace) -> int:
    """Materialize every asset on the embedded default and print the results."""
    from idtrack_assets.demo import run_demo

    return run_demo(args.home)


def cmd_retain(args: argparse.Namespace) -> int:
    """Remove old versions (see :mod:`idtrack_assets.retention`)."""
    from idtrack_assets.retention import cmd_retain as retain

    return retain(args)


def add_platform_commands(sub: Any) -> None:
    """Add ``demo`` and ``retain`` to the subcommands (Dagster is imported only when one of them runs)."""
    p = sub.add_parser("demo", help="materialize every asset on the embedded simulated data and print the results")
    p.add_argument("--home", default=".idtrack", help="where demo data and storage go (default .idtrack)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "retain",
        help="remove old versions of extracts, snapshots, indexes, plans, atlases and reports (never current or "
        "in-use ones); storage from IDTRACK_STORAGE/IDTRACK_HOME, runs in progress from $DAGSTER_HOME or .",
    )
    p.add_argument("--keep", type=int, default=2, help="newest versions of each artifact to keep (default 2)")
    p.add_argument("--min-age-hours", type=float, default=24.0, help="keep versions younger than this (default 24)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.set_defaults(func=cmd_retain)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    return core_cli.main(argv, extend=add_platform_commands)


if __name__ == "__main__":
    sys.exit(main())
