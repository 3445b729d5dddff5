"""``history``: Ensembl's ID history archive — current or not, latest version, scored replacements, predecessors,
successors, the history tree (as a table or a picture) and the archived structure of old gene versions."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from idtrack_core.cli.args import add_command, read_ids, snapshot_from, write_table


def cmd_history(args: argparse.Namespace) -> int:
    """Answer archive questions about identifiers and write the table (or the picture)."""
    from idtrack_core import archive
    from idtrack_core.cli.checks import check_home, check_output

    check_output(args.output)
    check_home(args.home)
    snap = snapshot_from(args)
    if args.tree:
        tree = archive.history_tree(snap, args.tree, args.release, args.at_assembly)
        if args.output and os.path.splitext(args.output)[1].lstrip(".") in ("svg", "png"):
            _write_picture(tree, args.output)
        else:
            write_table(tree.edges, args.output)
        print(
            f"{len(tree.edges)} events, {len(tree.nodes)} versions" + (" (incomplete)" * tree.incomplete),
            file=sys.stderr,
        )
        return 0
    for option, navigate in (
        ("predecessors", archive.predecessors),
        ("successors", archive.successors),
    ):
        query = getattr(args, option)
        if query:
            write_table(navigate(snap, query, args.release, args.at_assembly), args.output)
            return 0
    if args.structure:
        write_table(archive.archived_structure(snap, args.structure), args.output)
        return 0
    result = archive.ArchiveIndex.build(snap, args.release, args.at_assembly).lookup(read_ids(args))
    write_table(result, args.output)
    current = int(result["is_current"].fillna(False).sum())
    unknown = int(result["id"].isna().sum())
    retired = len(result) - current - unknown
    print(f"{len(result):,} ids: current {current:,} · not current {retired:,} · unknown {unknown:,}", file=sys.stderr)
    return 0


def _write_picture(tree: Any, output: str) -> None:
    from idtrack_core import storage
    from idtrack_core.archive.draw import draw_history_tree

    storage.atomic_write_bytes(output, draw_history_tree(tree, os.path.splitext(output)[1].lstrip(".")))


def register(sub: Any) -> None:
    """Add ``history`` to the subcommands."""
    p = add_command(
        sub,
        "history",
        summary="ID history as Ensembl's archive knows it (current, latest, replacements, tree)",
        description="Answer what Ensembl's ID History Converter and /archive/id answer: for each identifier, whether "
        "it is current, its latest version, the release and assembly it last existed in and its scored replacements; "
        "or the predecessors, successors, history tree (a table, or an SVG/PNG picture) or archived structure of one "
        "identifier. The first run fills --home like convert; later runs reuse it.",
        examples=[
            "idtrack-atlas history --source ../shared/data/human_releases --home home --species human "
            "ENSG00000141510 ENSG00000139618.2",
            "idtrack-atlas history --home home --species homo_sapiens --tree ENSG00000141510 --out tree.svg",
        ],
    )
    p.add_argument(
        "--source",
        help="dump root URL or mysql://…, e.g. ../shared/data/human_releases; omit to use only what --home holds",
    )
    p.add_argument("--home", required=True, help="folder (or s3://) caching extracts and snapshots, e.g. home")
    p.add_argument("--species", required=True, help="production name, alias or taxonomy ID, e.g. human or 9606")
    p.add_argument("--assembly", default=None, help="e.g. GRCh38; default: every assembly at the source")
    p.add_argument("--release", type=int, default=None, help="the archive's release, e.g. 114; default: the newest")
    p.add_argument(
        "--at-assembly", default=None, help="the archive's assembly when the snapshot has several, e.g. GRCh37"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--tree", metavar="ID", help="the history tree of ID (a table, or a .svg/.png picture), e.g. ENSG00000141510"
    )
    what.add_argument("--predecessors", metavar="ID", help="what became ID (ID or ID.version), one level, e.g. ENSG1.2")
    what.add_argument("--successors", metavar="ID", help="what ID (ID or ID.version) became, one level, e.g. ENSG1.2")
    what.add_argument(
        "--structure", metavar="ID", help="the archived transcripts and translations of ID, e.g. ENSG00000054598.2"
    )
    p.add_argument("--input", help="file with one identifier per line, e.g. ids.txt")
    p.add_argument(
        "--out", "--output", dest="output", help="CSV (default: stdout), .json, .parquet, .svg or .png, e.g. tree.svg"
    )
    p.add_argument("ids", nargs="*", help="identifiers to look up (ID or ID.version), e.g. ENSG00000141510")
    p.set_defaults(func=cmd_history)
