"""``convert``: identifiers to a target release and database, through a cached home folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idtrack_core.cli.args import add_target_args, read_ids, species_of, target_from, write_table


def summary_line(result: Any) -> str:
    """One line of 1:1 / 1:n / 1:0 / fallback counts of a conversion result."""
    counts = result["category"].value_counts()
    reasons = result["reason"].value_counts()
    return (
        f"{len(result):,} ids: 1:1 {counts.get('1:1', 0):,} · 1:n {counts.get('1:n', 0):,} · "
        f"1:0 {counts.get('1:0', 0):,} (no_corresponding {reasons.get('no_corresponding', 0):,}, "
        f"no_conversion {reasons.get('no_conversion', 0):,}) · fallback {int(result['fallback'].sum()):,}"
    )


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert identifiers and write the result table."""
    from idtrack_core.cli.checks import check_output, checked_target
    from idtrack_core.ensembl import open_source
    from idtrack_core.workspace import Workspace, convert_with_home

    ids = read_ids(args)
    check_output(args.output)
    if args.source:  # an alias (human) or taxonomy ID becomes the production name before the checks
        args.species = species_of(args, open_source(args.source))
    source = checked_target(args)
    ws = Workspace(args.home, args.species, args.assembly)
    result = convert_with_home(ws, source, ids, target_from(args))
    write_table(result, args.output)
    print(summary_line(result), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``convert`` to the subcommands."""
    p = sub.add_parser("convert", help="convert identifiers to a target release and database")
    add_target_args(p)
    p.add_argument("--input", help="file with one identifier per line")
    p.add_argument("--output", help="CSV (default: stdout), .json or .parquet file")
    p.add_argument("ids", nargs="*", help="identifiers to convert")
    p.set_defaults(func=cmd_convert)
