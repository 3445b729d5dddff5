"""Arguments and helpers shared by the commands."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

Command = Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and examples; appends ``(default: …)`` to options that have one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        shown = default not in (None, False, [], "", argparse.SUPPRESS) and action.option_strings
        if shown and "%(default)" not in text and not isinstance(action, argparse._VersionAction):
            text += " (default: %(default)s)"
        return text


def add_command(sub: Any, name: str, *, summary: str, description: str, examples: Sequence[str]) -> Any:
    """A subcommand with a one-line ``summary`` (in the command list), a ``description`` and worked ``examples``
    (shown by ``idtrack-atlas NAME --help``); options must be spelled out in full (no abbreviations)."""
    return sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 100),
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )


def release_arg(text: str) -> int | str:
    """A release number or ``latest``."""
    if text == "latest":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"release must be a number or 'latest', not {text!r}") from None


def release_range(text: str) -> tuple[int, int]:
    """An inclusive release range such as ``1-10`` (or one release)."""
    try:
        first, _, last = text.partition("-")
        return int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a release range such as 1-10, not {text!r}") from None


SOURCE_HELP = (
    "Ensembl dump root (a folder, http(s):// or s3:// URL in Ensembl's FTP layout) or mysql://user@host:port, "
    "e.g. ../shared/data/human_releases or mysql://anonymous@ensembldb.ensembl.org:3306"
)


def add_source_args(p: argparse.ArgumentParser) -> None:
    """``--source`` (required), ``--species``, ``--assembly``."""
    p.add_argument("--source", required=True, help=SOURCE_HELP)
    p.add_argument("--species", required=True, help="species production name, e.g. homo_sapiens")
    p.add_argument("--assembly", default=None, help="assembly, e.g. GRCh38 (or 38); default: any")


def add_target_args(p: argparse.ArgumentParser) -> None:
    """Where the identifiers come from (source, home) and the conversion target."""
    p.add_argument("--source", help=SOURCE_HELP + "; omit it to use only what --home already holds")
    p.add_argument(
        "--home",
        required=True,
        help="folder (or s3:// prefix) keeping the extracts, snapshots and indexes between runs, e.g. ~/idtrack-home",
    )
    p.add_argument(
        "--species",
        required=True,
        help="species: production name, common name or taxonomy ID, e.g. homo_sapiens, human, 9606",
    )
    p.add_argument("--assembly", default=None, help="assembly, e.g. GRCh38 (or 38); default: any")
    p.add_argument("--to-release", required=True, type=release_arg, help="release to convert to, e.g. 114 or latest")
    p.add_argument(
        "--from-release",
        type=int,
        default=None,
        help="release the identifiers come from, e.g. 84 (names then count as of that release); default: any",
    )
    p.add_argument(
        "--final-database",
        default="ensembl_gene",
        help="database of the converted IDs, e.g. ensembl_gene or 'HGNC Symbol'",
    )
    p.add_argument(
        "--strategy",
        choices=["best", "all"],
        default="best",
        help="best: only the top-ranked candidates; all: every candidate",
    )
    p.add_argument(
        "--target-field",
        choices=["label", "accession"],
        default="label",
        help="report the target database's display names (label) or its accessions",
    )
    p.add_argument(
        "--keep-non-primary",
        action="store_true",
        help="also answer with genes on patches, haplotypes and LRGs where a primary-assembly gene answers",
    )


def target_from(args: argparse.Namespace) -> Any:
    """The :class:`ConversionTarget` the arguments ask for ("latest" is resolved against the snapshot)."""
    from idtrack_core.convert import ConversionTarget

    return ConversionTarget(
        args.to_release,
        args.final_database,
        args.from_release,
        args.strategy,
        args.target_field,
        keep_non_primary=args.keep_non_primary,
    )


def read_ids(args: argparse.Namespace) -> list[str]:
    """The identifiers given as arguments and in ``--input``."""
    ids = list(args.ids)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            ids += [line.strip() for line in f if line.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("give identifiers as arguments or with --input FILE")
    return ids


def species_of(args: argparse.Namespace, source: Any = None) -> str:
    """``--species`` as a production name: aliases, common names and taxonomy IDs are resolved against the
    source's own list of species (without a source the name must already be a production name)."""
    from idtrack_core.ensembl.databases import validate_species
    from idtrack_core.ensembl.species import resolve_species

    return resolve_species(source, args.species) if source is not None else validate_species(args.species)


def snapshot_from(args: argparse.Namespace) -> Any:
    """The graph snapshot of every release at ``--source`` (or cached in ``--home``), built in the workspace."""
    from idtrack_core.ensembl import open_source
    from idtrack_core.workspace import Workspace

    source = open_source(args.source) if args.source else None
    ws = Workspace(args.home, species_of(args, source), args.assembly)
    extracts = ws.extracts(source) if source is not None else ws.cached_extracts()
    return ws.load_snapshot(ws.snapshot(extracts))


def write_table(df: Any, output: str | None) -> None:
    """CSV to stdout, or an atomic write of CSV / JSON (records) / Parquet (by extension) to ``output``."""
    from idtrack_core import storage

    if output is None:
        df.to_csv(sys.stdout, index=False)
    elif output.endswith(".parquet"):
        storage.atomic_write_bytes(output, storage.parquet_bytes(df))
    elif output.endswith(".json"):
        storage.atomic_write_bytes(output, df.to_json(orient="records", indent=1).encode())
    else:
        storage.atomic_write_bytes(output, df.to_csv(index=False).encode())
