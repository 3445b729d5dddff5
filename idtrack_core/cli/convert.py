"""``convert``: identifiers to a target release and database, through a cached home folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idtrack_core.cli.args import add_command, add_target_args, read_ids, species_of, target_from, write_table


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
    """Convert identifiers and write the result table (CSV straight from the Arrow answer; JSON and Parquet via
    pandas)."""
    from idtrack_core.cli.checks import check_output, checked_target
    from idtrack_core.ensembl.sources import open_source
    from idtrack_core.workspace import Workspace, index_with_home

    ids = read_ids(args)
    check_output(args.output)
    if args.source:  # an alias (human) or taxonomy ID becomes the production name before the checks
        args.species = species_of(args, open_source(args.source))
    source = checked_target(args)
    index = index_with_home(Workspace(args.home, args.species, args.assembly), source, target_from(args))
    via_pandas = bool(args.output) and args.output.endswith((".parquet", ".json"))
    result = index.lookup(ids) if via_pandas else index.lookup_arrow(ids)
    write_table(result, args.output)
    print(summary_line(result), file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``convert`` to the subcommands."""
    p = add_command(
        sub,
        "convert",
        summary="convert identifiers to a target release and database",
        description="Convert gene identifiers of any release and database (Ensembl IDs, symbols, previous symbols, "
        "aliases, NCBI Gene IDs, …) to one release and database. Writes one row per identifier (category 1:1, 1:n "
        "or 1:0, targets, genes, reason, evidence) and a one-line summary on stderr. The first run fills --home; "
        "later runs reuse it.",
        examples=[
            "idtrack-atlas convert --source ../shared/data/human_releases --home home --species homo_sapiens "
            "--to-release 114 --final-database 'HGNC Symbol' TP53 ENSG00000141510.19 NOT_A_REAL_GENE",
            "idtrack-atlas convert --home home --species homo_sapiens --to-release latest --input ids.txt "
            "--output converted.parquet",
        ],
    )
    add_target_args(p)
    p.add_argument("--input", help="file with one identifier per line, e.g. ids.txt")
    p.add_argument(
        "--output", help="result table, CSV, .json or .parquet by extension, e.g. converted.csv; default: stdout"
    )
    p.add_argument("ids", nargs="*", help="identifiers to convert, e.g. TP53 ENSG00000141510")
    p.set_defaults(func=cmd_convert)
