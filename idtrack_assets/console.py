"""The ``idtrack-atlas`` console script: the idtrack_core commands plus the platform's ``demo`` and ``retain``
(which need Dagster)."""

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from idtrack_core import cli as core_cli
from idtrack_core.cli.args import add_command


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
    p = add_command(
        sub,
        "demo",
        summary="materialize every asset on the embedded simulated data and print the results",
        description="Generate the embedded default (a simulated Ensembl mirror and three demo studies) on first "
        "use, materialize every asset in-process into the Dagster instance of this folder ($DAGSTER_HOME when set) "
        "and print the per-study diagnostics and where the atlases and the report are.",
        examples=["idtrack-atlas demo", "idtrack-atlas demo --home demo-home"],
    )
    p.add_argument("--home", default=".idtrack", help="where the demo data and storage go, e.g. .idtrack")
    p.set_defaults(func=cmd_demo)

    p = add_command(
        sub,
        "retain",
        summary="remove old versions of extracts, snapshots, indexes, plans, atlases and reports",
        description="Remove old versions (never one a latest pointer names, a run in progress leased, among the "
        "newest --keep of its kind, or younger than --min-age-hours); storage from IDTRACK_STORAGE/IDTRACK_HOME, "
        "runs in progress from the Dagster instance at $DAGSTER_HOME or the current folder.",
        examples=["idtrack-atlas retain --dry-run", "idtrack-atlas retain --keep 1 --min-age-hours 0"],
    )
    p.add_argument("--keep", type=int, default=2, help="newest versions of each artifact to keep, e.g. 2")
    p.add_argument("--min-age-hours", type=float, default=24.0, help="keep versions younger than this, e.g. 24")
    p.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.set_defaults(func=cmd_retain)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    return core_cli.main(argv, extend=add_platform_commands)


if __name__ == "__main__":
    sys.exit(main())
