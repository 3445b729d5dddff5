"""``convert``: identifiers to a target release and database, through a cached home folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idtrack_core.cli.args import add_target_args, target_from, write_table


def read_ids(args: argparse.Namespace) -> list[str]:
    """The identifiers given as arguments and in ``--input`` (one per line, surrounding blanks stripped)."""
    ids = list(args.ids)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            ids += [s for s in (line.strip() for line in f.read().splitlines()) if s]
    if not ids:
        raise argparse.ArgumentTypeError("give identifiers as arguments or with --input FILE")
    return ids


def summary_line(result: Any) -> str:
    """One line of 1:1 / 1:n / 1:0 / fallback counts of a conversion result (pandas or Arrow)."""
    counts, reasons = _counts(result["category"]), _counts(result["reason"])
    fallbacks = _true_count(result["fallback"])
    return (
        f"{len(result):,} ids: 1:1 {counts.get('1:1', 0):,} · 1:n {counts.get('1:n', 0):,} · "
        f"1:0 {counts.get('1:0', 0):,} (no_corresponding {reasons.get('no_corresponding', 0):,}, "
        f"no_conversion {reasons.get('no_conversion', 0):,}) · fallback {fallbacks:,}"
    )


def _counts(column: Any) -> dict[str, int]:
    """Occurrences of each value of a pandas or Arrow column."""
    if hasattr(column, "value_counts") and not hasattr(column, "combine_chunks"):
        return {str(k): int(v) for k, v in column.value_counts().items()}
    pairs = column.value_counts()
    return {
        v: int(n) for v, n in zip(pairs.field("values").to_pylist(), pairs.field("counts").to_pylist(), strict=True)
    }


def _true_count(column: Any) -> int:
    """The number of true values of a pandas or Arrow boolean column."""
    if hasattr(column, "combine_chunks"):
        import pyarrow.compute as pc

        return int(pc.sum(column).as_py() or 0)
    return int(column.sum())


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert identifiers and write the result table (CSV straight from the Arrow answer; Parquet via pandas)."""
    from idtrack_core.ensembl.sources import open_source
    from idtrack_core.workspace import Workspace, index_with_home

    ids = read_ids(args)
    source = open_source(args.source) if args.source else None
    index = index_with_home(Workspace(args.home, args.species, args.assembly), source, target_from(args))
    parquet = bool(args.output) and args.output.endswith(".parquet")
    result = index.lookup(ids) if parquet else index.lookup_arrow(ids)
    write_table(result, args.output)
    print(summary_line(result), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``convert`` to the subcommands."""
    p = sub.add_parser("convert", help="convert identifiers to a target release and database")
    add_target_args(p)
    p.add_argument("--input", help="file with one identifier per line")
    p.add_argument("--output", help="CSV (default: stdout) or .parquet file")
    p.add_argument("ids", nargs="*", help="identifiers to convert")
    p.set_defaults(func=cmd_convert)
