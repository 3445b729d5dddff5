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


def study_thresholds(args: argparse.Namespace, names: list[str], overrides: dict[str, Any]) -> dict[str, Any]:
    """Each study's gate limits: the command's limits, with the registry's per-study overrides."""
    from idtrack_core.harmonize.gates import Thresholds

    defaults = Thresholds(args.max_failure_rate, args.max_ambiguity_rate, args.max_collisions)
    return {name: overrides[name].gates(defaults) if name in overrides else defaults for name in names}


def registered_studies(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, Any]]:
    """Study → URL from ``--study`` and ``--registry``, and the registry's entries (for per-study limits)."""
    from idtrack_core.harmonize.registry import load_registry

    entries = load_registry(args.registry) if args.registry else {}
    studies = {name: e.url for name, e in entries.items()}
    for name, url in args.study or []:
        if name in studies:
            raise argparse.ArgumentTypeError(f"study {name!r} is given twice (--study and --registry, or twice)")
        studies[name] = url
    if not studies:
        raise argparse.ArgumentTypeError("give studies with --study NAME=PATH or --registry FILE")
    return studies, entries


def cmd_harmonize(args: argparse.Namespace) -> int:
    """Match the studies, gate them, plan and merge; print the diagnostics."""
    from tqdm import tqdm

    from idtrack_core.ensembl import open_source
    from idtrack_core.harmonize.gates import Thresholds
    from idtrack_core.harmonize.pipeline import make_plan, match_studies, write_atlas
    from idtrack_core.harmonize.plan import HarmonizationPolicy
    from idtrack_core.workspace import Workspace, index_with_home

    studies, entries = registered_studies(args)
    source = open_source(args.source) if args.source else None
    index = index_with_home(Workspace(args.home, args.species, args.assembly), source, target_from(args))
    with tqdm(total=len(studies), desc="matching studies", unit="study", file=sys.stderr) as bar:
        _, matchings, files = match_studies(
            studies, index.lookup, progress=lambda name: (bar.set_postfix_str(name), bar.update())
        )
    limits = study_thresholds(args, list(studies), entries)
    defaults = Thresholds(args.max_failure_rate, args.max_ambiguity_rate, args.max_collisions)
    policy = HarmonizationPolicy(args.one_to_many, args.many_to_one, not args.drop_consistent_failures)
    atlas_plan = make_plan(matchings, index, files, policy, limits, defaults, args.exclude_failing)
    print(atlas_plan.diagnostics.to_string())
    if args.report:
        write_table(atlas_plan.diagnostics.reset_index(), args.report)
    for study, reason in atlas_plan.plan.excluded_studies.items():
        print(f"left out: {study} ({reason})", file=sys.stderr)
    obs_columns = [c for c in args.obs_columns.split(",") if c]
    merged, _ = write_atlas(
        atlas_plan.plan,
        atlas_plan.provenance,
        args.mode,
        studies,
        args.out,
        obs_columns,
        atlas_format=args.format,
        workers=args.workers,
    )
    print(f"{args.mode} atlas: {merged.n_obs:,} cells × {merged.n_vars:,} features → {args.out}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``harmonize`` to the subcommands."""
    from idtrack_core.harmonize.gates import Thresholds

    gates = Thresholds()
    p = sub.add_parser("harmonize", help="harmonize the features of several .h5ad studies and merge them")
    add_target_args(p)
    p.add_argument("--study", action="append", type=study_arg, help="NAME=PATH or NAME=URL (repeatable)")
    p.add_argument("--registry", help="study registry (YAML or CSV) with per-study gate overrides")
    p.add_argument("--mode", choices=["union", "intersect"], default="union")
    p.add_argument("--out", required=True, help="output .h5ad file or .zarr store (local path or s3://)")
    p.add_argument(
        "--format",
        choices=["h5ad", "zarr"],
        default="h5ad",
        help="h5ad: one file, streamed study by study; zarr: a store written block by block, each study's rows "
        "by its own worker",
    )
    p.add_argument("--workers", type=int, default=1, help="processes writing the blocks of a --format zarr atlas")
    p.add_argument("--report", help="write the per-study diagnostics table here (CSV or .parquet)")
    p.add_argument("--one-to-many", choices=["drop", "keep_all", "collapse"], default="collapse")
    p.add_argument("--many-to-one", choices=["sum", "first", "drop"], default="sum")
    p.add_argument("--drop-consistent-failures", action="store_true", help="drop names failing in every study")
    p.add_argument("--obs-columns", default="", help="comma-separated obs columns to keep")
    p.add_argument(
        "--max-failure-rate", type=float, default=gates.max_failure_rate, help="gate: highest share of 1:0 features"
    )
    p.add_argument(
        "--max-ambiguity-rate", type=float, default=gates.max_ambiguity_rate, help="gate: highest share of 1:n features"
    )
    p.add_argument(
        "--max-collisions", type=int, default=gates.max_collisions, help="gate: most genes reached by several features"
    )
    p.add_argument(
        "--exclude-failing",
        action="store_true",
        help="leave studies failing a gate out of the atlas (default: refuse to build it)",
    )
    p.set_defaults(func=cmd_harmonize)
