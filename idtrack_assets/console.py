"""The ``idtrack-atlas`` console script: the idtrack_core commands plus ``demo`` (which needs Dagster)."""

import sys
from collections.abc import Sequence

from idtrack_core import cli as core_cli


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="materialize every asset on the embedded simulated data and print the results")
    p.add_argument("--home", default=".idtrack", help="where demo data, storage and run history go")

    def cmd_demo(args) -> int:
        from idtrack_assets.demo import run_demo

        return run_demo(args.home)

    p.set_defaults(func=cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    return core_cli.main(argv, extend=_add_demo)


if __name__ == "__main__":
    sys.exit(main())
