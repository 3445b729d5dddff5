"""Arguments and helpers shared by the commands."""

from __future__ import annotations

import argparse
import functools
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
    """The identifiers given as arguments and in ``--input`` (one per line, surrounding blanks stripped)."""
    ids = list(args.ids)
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            ids += [s for s in (line.strip() for line in f.read().splitlines()) if s]
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
        sys.stdout.write(csv_bytes(df).decode())
    elif output.endswith(".parquet"):
        storage.atomic_write_bytes(output, storage.parquet_bytes(df))
    elif output.endswith(".json"):
        storage.atomic_write_bytes(output, df.to_json(orient="records", indent=1).encode())
    else:
        storage.atomic_write_bytes(output, csv_bytes(df))


def csv_bytes(table: Any) -> bytes:
    """A pandas DataFrame's ``to_csv(index=False)``, byte for byte, built with Arrow string kernels (pandas' writer
    takes 0.2–0.3 s for a 60k-row conversion result, several times the conversion itself). An Arrow table is written
    as pandas would write its pandas form (dictionary columns as their values).

    Columns of strings, categoricals / dictionaries of strings, booleans, integers and floats (nullable or not) are
    written the way pandas writes them: missing values empty, floats as ``repr``, fields quoted only when Python's
    ``csv`` module would quote them. Tables with other columns, a single column or non-string column names go
    through pandas.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = isinstance(table, pa.Table)
    names = table.column_names if arrow else list(table.columns)
    simple = len(set(names)) == len(names) > 1 and all(isinstance(c, str) for c in names)
    fields = [_csv_field(table[c]) for c in names] if simple else [None]
    if any(f is None for f in fields):
        return (table.to_pandas() if arrow else table).to_csv(index=False).encode()
    header = ",".join(_csv_quoted(pa.array(names)).to_pylist()) + "\n"
    if not len(table):
        return header.encode()
    lines = pc.binary_join_element_wise(*fields, ",")
    text = _concatenated(lines)
    if text.count(b",") != len(lines) * (len(fields) - 1) or any(ch.encode() in text for ch in _csv_special()[1:]):
        rows = _rows_to_quote(lines, len(fields) - 1)  # rare: re-join those rows with their fields quoted
        picked = pa.array(rows)
        fixed = pc.binary_join_element_wise(*[_csv_quoted(f.take(picked)) for f in fields], ",")
        order = np.arange(len(lines))
        order[rows] = len(lines) + np.arange(len(rows))
        lines = pa.concat_arrays([lines, fixed]).take(pa.array(order))
    return header.encode() + _concatenated(pc.binary_join_element_wise(lines, pa.scalar(""), "\n"))


def _concatenated(strings: Any) -> bytes:
    """The strings of an Arrow array, back to back, as one bytes object."""
    import numpy as np

    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    return strings.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _rows_to_quote(lines: Any, separators: int) -> Any:
    """Rows holding a character that needs quoting (a comma beyond the field separators, a quote, a line break),
    found in one pass over the joined lines' bytes (every such character is ASCII, so no byte of a longer UTF-8
    character is mistaken for one)."""
    import numpy as np

    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    text = np.frombuffer(lines.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]

    def rows_of(positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(starts, positions, side="right") - 1

    commas = np.bincount(rows_of(np.flatnonzero(text == ord(","))), minlength=len(lines))
    special = np.isin(text, np.frombuffer("".join(_csv_special()[1:]).encode(), dtype=np.uint8))
    quote = commas != separators
    quote[rows_of(np.flatnonzero(special))] = True
    return np.flatnonzero(quote)


def _csv_field(column: Any) -> Any:
    """A column (pandas or Arrow) as the text pandas writes for each value, before quoting (Arrow strings, no nulls),
    or None if it is not a simple column."""
    import pyarrow as pa

    try:
        if isinstance(column, pa.ChunkedArray | pa.Array):
            return _csv_arrow_texts(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
        return _csv_pandas_texts(column)
    except (ValueError, TypeError, OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):  # let pandas format those
        return None


def _csv_pandas_texts(column: Any) -> Any:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pa.array(np.asarray(dtype.categories, dtype=object), type=pa.string())
        codes = column.cat.codes.to_numpy()
        return categories.take(pa.array(codes, mask=codes < 0)).fill_null("")
    if dtype == np.dtype(object):
        return pa.array(column.to_numpy(), type=pa.string(), from_pandas=True).fill_null("")
    if pd.api.types.is_bool_dtype(dtype) and not column.hasnans:
        return pa.array(np.where(column.to_numpy(dtype=bool), "True", "False"))
    if pd.api.types.is_signed_integer_dtype(dtype):
        return pa.array(column.astype("Int64").array, type=pa.int64()).cast(pa.string()).fill_null("")
    if pd.api.types.is_float_dtype(dtype):
        return _csv_floats(column.to_numpy(dtype=np.float64, na_value=np.nan))
    return None


def _csv_arrow_texts(array: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary.take(array.indices)
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.fill_null("")
    if pa.types.is_boolean(kind) and not array.null_count:
        return pc.if_else(array, "True", "False")
    if pa.types.is_signed_integer(kind):
        return array.cast(pa.string()).fill_null("")
    if pa.types.is_floating(kind):
        return _csv_floats(array.to_numpy(zero_copy_only=False))
    return None


def _csv_floats(values: Any) -> Any:
    """Floats as Python's ``repr`` (what pandas writes), NaN/missing empty."""
    import numpy as np
    import pyarrow as pa

    known = ~np.isnan(values)
    distinct = np.unique(values[known])
    texts = np.array([repr(float(v)) for v in distinct] + [""], dtype=object)
    return pa.array(texts[np.where(known, np.searchsorted(distinct, values), len(distinct))], type=pa.string())


def _csv_quoted(field: Any) -> Any:
    """Fields that Python's ``csv`` module (pandas' writer) would quote, quoted and with quotes doubled."""
    import pyarrow.compute as pc

    needs = functools.reduce(pc.or_, (pc.match_substring(field, ch) for ch in _csv_special()))
    if not pc.any(needs).as_py():
        return field
    doubled = pc.replace_substring(field, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), field)


@functools.cache
def _csv_special() -> tuple[str, ...]:
    """The characters that make ``csv.writer(lineterminator="\\n")`` quote a field in this Python."""
    import csv
    import io

    def quoted(ch: str) -> bool:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([f"a{ch}b", "c"])
        return buf.getvalue().startswith('"')

    return tuple(ch for ch in ',"\n\r\t;' if quoted(ch))  # the separator "," first
