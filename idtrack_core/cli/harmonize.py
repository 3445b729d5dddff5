"""``harmonize``: match several .h5ad studies, plan one feature space and merge them into an atlas."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idtrack_core.cli.args import add_target_args, target_from, write_table


def study_arg(text: str) -> tuple[str, str]:
    """``NAME=PATH``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--study expects NAME=PATH, not {text!r}")
    return name, path


def cmd_harmonize(args: argparse.Namespace) -> int:
    """Match, plan and merge the studies; print the diagnostics."""
    from tqdm import tqdm

    from idtrack_core.ensembl import open_source
    from idtrack_core.harmonize.pipeline import harmonize
    from idtrack_core.harmonize.plan import HarmonizationPolicy
    from idtrack_core.workspace import Workspace, index_with_home

    studies = dict(args.study)
    if len(studies) != len(args.study):
        raise argparse.ArgumentTypeError("each --study NAME must be unique")
    source = open_source(args.source) if args.source else None
    ws = Workspace(args.home, args.species, args.assembly)
    index = index_with_home(ws, source, target_from(args))
    policy = HarmonizationPolicy(args.one_to_many, args.many_to_one, not args.drop_consistent_failures)
    with tqdm(total=len(studies), desc="matching studies", unit="study", file=sys.stderr) as bar:
        result = harmonize(
            studies,
            index.lookup,
            out=args.out,
            mode=args.mode,
            policy=policy,
            obs_columns=[c for c in args.obs_columns.split(",") if c],
            progress=lambda name: (bar.set_postfix_str(name), bar.update()),
        )
    table = result.diagnostics_table
    print(table.to_string())
    for study, reason in result.plan.excluded_studies.items():
        print(f"left out: {study} ({reason})", file=sys.stderr)
    merged = result.merged[args.mode]
    print(f"{args.mode} atlas: {merged.n_obs:,} cells × {merged.n_vars:,} features → {args.out}", file=sys.stderr)
    if args.report:
        write_table(table.reset_index(), args.report)
    return 0


def register(sub: Any) -> None:
    """Add ``harmonize`` to the subcommands."""
    p = sub.add_parser("harmonize", help="harmonize the features of several .h5ad studies and merge them")
    add_target_args(p)
    p.add_argument("--study", action="append", type=study_arg, required=True, help="NAME=PATH or NAME=URL")
    p.add_argument("--mode", choices=["union", "intersect"], default="union")
    p.add_argument("--out", required=True, help="output .h5ad (local path or s3://)")
    p.add_argument("--report", help="write the per-study diagnostics table here (CSV or .parquet)")
    p.add_argument("--one-to-many", choices=["drop", "keep_all", "collapse"], default="collapse")
    p.add_argument("--many-to-one", choices=["sum", "first", "drop"], default="sum")
    p.add_argument("--drop-consistent-failures", action="store_true", help="drop names failing in every study")
    p.add_argument("--obs-columns", default="", help="comma-separated obs columns to keep")
    p.set_defaults(func=cmd_harmonize)
