"""``harmonize``: match several .h5ad studies, plan one feature space and merge them into an atlas."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from idtrack_core.cli.args import add_command, add_target_args, target_from, write_table

TABLE_SUFFIXES = (".csv", ".parquet")
"""A ``--report`` path with one of these suffixes gets only the diagnostics table (the form before folders)."""


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


def study_namespaces(args: argparse.Namespace, names: list[str], entries: dict[str, Any]) -> dict[str, str | None]:
    """Each study's ID namespace: the registry's ``id_namespace``, else the command's ``--id-namespace``."""
    return {name: getattr(entries.get(name), "id_namespace", None) or args.id_namespace for name in names}


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


def report_folder(report: str | None) -> str | None:
    """The report folder ``--report`` names (None for none, or for a diagnostics-table file).

    Raises
    ------
    argparse.ArgumentTypeError
        The path exists and is a file, or a folder that holds something other than an earlier report (a report
        replaces the folder's content).
    """
    from idtrack_core import storage

    if report is None or report.endswith(TABLE_SUFFIXES):
        return None
    fs, path = storage.url_to_fs(report)
    if fs.exists(path):
        if not fs.isdir(path):
            raise argparse.ArgumentTypeError(f"--report {report}: is a file; give a folder (or a .csv/.parquet file)")
        if fs.ls(path, detail=False) and not fs.exists(f"{path.rstrip('/')}/{storage.MANIFEST}"):
            raise argparse.ArgumentTypeError(
                f"--report {report}: the folder holds files that are not an idtrack-atlas report; give a new folder"
            )
    return report


def print_drilldowns(matchings: dict[str, Any], folder: str | None) -> None:
    """Per study: how many features failed, are ambiguous or collide, and where the files listing them are."""
    from idtrack_core.harmonize.drilldown import drilldown_counts

    counts = drilldown_counts(matchings)
    print("drill-downs (features): failed · ambiguous · collisions", file=sys.stderr)
    for study, row in counts.iterrows():
        print(f"  {study}: {row['failed']:,} · {row['ambiguous']:,} · {row['collisions']:,}", file=sys.stderr)
    if folder:
        print(f"  listed in {folder}/studies/<study>/{{failed,ambiguous,collisions}}.csv", file=sys.stderr)
    else:
        print("  (give --report DIR to write them: feature, reason, candidates, evidence)", file=sys.stderr)


def cmd_harmonize(args: argparse.Namespace) -> int:
    """Match the studies, gate them, plan and merge; print the diagnostics and the drill-down counts."""
    from idtrack_core import storage
    from idtrack_core.cli.checks import check_output, check_studies, checked_target
    from idtrack_core.errors import QualityGateError
    from idtrack_core.harmonize.drilldown import drilldown_files
    from idtrack_core.harmonize.gates import Thresholds
    from idtrack_core.harmonize.pipeline import make_plan, match_studies, write_atlas
    from idtrack_core.harmonize.plan import HarmonizationPolicy
    from idtrack_core.report.bundle import report_files
    from idtrack_core.workspace import Workspace, index_with_home

    studies, entries = registered_studies(args)
    namespaces = study_namespaces(args, list(studies), entries)
    check_studies(studies, namespaces)  # fail fast: every input before the index is built
    check_output(args.out)
    folder = report_folder(args.report)
    check_output(args.report, folder=folder is not None)
    source = checked_target(args)
    index = index_with_home(Workspace(args.home, args.species, args.assembly), source, target_from(args))
    _, matchings, files = match_studies(studies, index.lookup, id_namespace=namespaces)
    limits = study_thresholds(args, list(studies), entries)
    defaults = Thresholds(args.max_failure_rate, args.max_ambiguity_rate, args.max_collisions)
    policy = HarmonizationPolicy(args.one_to_many, args.many_to_one, not args.drop_consistent_failures)
    try:
        atlas_plan = make_plan(matchings, index, files, policy, limits, defaults, args.exclude_failing)
    except QualityGateError:
        if folder:  # what made a study fail is what the curator needs to see
            listed = drilldown_files(matchings)
            storage.publish_dir(folder, {**listed, storage.MANIFEST: storage.json_bytes({"files": sorted(listed)})})
        print_drilldowns(matchings, folder)
        raise
    print(atlas_plan.diagnostics.to_string())
    if args.report and not folder:
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
        var_names=args.var_names,
        atlas_format=args.format,
        workers=args.workers,
    )
    print(f"{args.mode} atlas: {merged.n_obs:,} cells × {merged.n_vars:,} features → {args.out}", file=sys.stderr)
    if folder:
        shapes = {args.mode: (merged.n_obs, merged.n_vars)}
        report = report_files(
            atlas_plan.plan, atlas_plan.diagnostics, shapes, matchings, atlas_plan.gates, data_docs=False
        )
        storage.publish_dir(folder, report)
        print(f"report: {folder}/summary.md (with rates.png and diagnostics.csv)", file=sys.stderr)
    print_drilldowns(matchings, folder)
    return 0


def register(sub: Any) -> None:
    """Add ``harmonize`` to the subcommands."""
    from idtrack_core.harmonize.gates import Thresholds

    gates = Thresholds()
    p = add_command(
        sub,
        "harmonize",
        summary="harmonize the features of several .h5ad studies and merge them into one atlas",
        description="Convert every feature of every study to one release and database, apply the quality gates, "
        "plan one feature space (1→n and n→1 policies) and merge the studies out-of-core into a union or intersect "
        "atlas. Prints the per-study diagnostics and how many features failed, are ambiguous or collide; "
        "--report DIR writes them all, one CSV per study and kind, with a summary and a plot.",
        examples=[
            "idtrack-atlas harmonize --source ../shared/data/human_releases --home home --species homo_sapiens "
            "--to-release 114 --final-database 'HGNC Symbol' --study heart=heart.h5ad --study lung=lung.h5ad "
            "--mode union --out atlas.h5ad --report report/",
            "idtrack-atlas harmonize --home home --species homo_sapiens --to-release latest --registry studies.yaml "
            "--mode intersect --var-names symbol --exclude-failing --out intersect.h5ad",
        ],
    )
    add_target_args(p)
    p.add_argument(
        "--study",
        action="append",
        metavar="NAME=PATH",
        type=study_arg,
        help="a study as NAME=PATH or NAME=URL (repeatable), e.g. heart=data/heart.h5ad",
    )
    p.add_argument(
        "--id-namespace",
        help="database of all-numeric var names (refused without it), e.g. entrez for NCBI Gene IDs; a registry "
        "entry's id_namespace wins for its study",
    )
    p.add_argument(
        "--registry", help="study registry (YAML or CSV) with optional per-study gate limits, e.g. studies.yaml"
    )
    p.add_argument(
        "--mode",
        choices=["union", "intersect"],
        default="union",
        help="union: every feature of any study; intersect: the features every study has",
    )
    p.add_argument(
        "--out", required=True, help="output .h5ad file or .zarr store (local path or s3://), e.g. atlas.h5ad"
    )
    p.add_argument(
        "--format",
        choices=["h5ad", "zarr"],
        default="h5ad",
        help="h5ad: one file, streamed study by study; zarr: a store written block by block, each study's rows "
        "by its own worker (then give --out atlas.zarr)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="processes writing the blocks of a --format zarr atlas, e.g. 2"
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="report folder, e.g. report/: summary.md, rates.png, diagnostics.csv and per study "
        "studies/<study>/{failed,ambiguous,collisions}.csv; a path ending in .csv or .parquet gets only the "
        "diagnostics table",
    )
    p.add_argument(
        "--var-names",
        choices=["ensembl", "symbol"],
        default="ensembl",
        help="the atlas's var names: Ensembl gene IDs, or their names in --final-database made unique the scanpy "
        "way (TP53, TP53-1); the Ensembl ID is in var['ensembl_id'] either way",
    )
    p.add_argument(
        "--one-to-many",
        choices=["drop", "keep_all", "collapse"],
        default="collapse",
        help="a feature reaching several genes (1→n): drop it, copy it to every gene, or collapse it to one (the "
        "gene named like the feature, else the smallest ID)",
    )
    p.add_argument(
        "--many-to-one",
        choices=["sum", "first", "drop"],
        default="sum",
        help="several features of a study reaching one gene (n→1): sum them, keep the first, or drop them all "
        "(a warning names them)",
    )
    p.add_argument(
        "--drop-consistent-failures",
        action="store_true",
        help="drop names that fail in every study instead of keeping them as features (e.g. ERCC spike-ins)",
    )
    p.add_argument("--obs-columns", default="", help="comma-separated obs columns to keep, e.g. cell_type,donor")
    p.add_argument(
        "--max-failure-rate",
        type=float,
        default=gates.max_failure_rate,
        help="gate: highest share of features converting to nothing (1:0), e.g. 0.2",
    )
    p.add_argument(
        "--max-ambiguity-rate",
        type=float,
        default=gates.max_ambiguity_rate,
        help="gate: highest share of features converting to several genes (1:n), e.g. 0.05",
    )
    p.add_argument(
        "--max-collisions",
        type=int,
        default=gates.max_collisions,
        help="gate: most genes reached by several features of one study (n→1), e.g. 50",
    )
    p.add_argument(
        "--exclude-failing",
        action="store_true",
        help="leave studies failing a gate out of the atlas (default: refuse to build it)",
    )
    p.set_defaults(func=cmd_harmonize)
