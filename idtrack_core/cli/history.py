"""``history``: Ensembl's ID history archive — current or not, latest version, scored replacements, predecessors,
successors, the history tree (as a table or a picture) and the archived structure of old gene versions."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from idtrack_core.cli.args import read_ids, snapshot_from, write_table


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
    p = sub.add_parser("history", help="ID history as Ensembl's archive knows it (current, latest, replacements, tree)")
    p.add_argument("--source", help="dump root URL or mysql://…; omit to use only what --home holds")
    p.add_argument("--home", required=True, help="folder (or s3://) caching extracts and snapshots")
    p.add_argument("--species", required=True, help="production name, alias (human, mouse) or taxonomy ID")
    p.add_argument("--assembly", default=None, help="e.g. GRCh38; default: every assembly at the source")
    p.add_argument("--release", type=int, default=None, help="the archive's release (default: the newest)")
    p.add_argument("--at-assembly", default=None, help="the archive's assembly when the snapshot has several")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--tree", metavar="ID", help="the history tree of ID (a table, or a .svg/.png picture)")
    what.add_argument("--predecessors", metavar="ID", help="what became ID (ID or ID.version), one level")
    what.add_argument("--successors", metavar="ID", help="what ID (ID or ID.version) became, one level")
    what.add_argument("--structure", metavar="ID", help="the archived transcripts and translations of ID")
    p.add_argument("--input", help="file with one identifier per line")
    p.add_argument("--out", "--output", dest="output", help="CSV (default: stdout), .json, .parquet, .svg or .png")
    p.add_argument("ids", nargs="*", help="identifiers to look up (ID or ID.version)")
    p.set_defaults(func=cmd_history)
