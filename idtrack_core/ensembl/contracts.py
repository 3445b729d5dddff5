"""The contracts of the release extract tables (DESIGN §3), as plain data, and their vectorized Arrow check.

One definition, two checkers: :func:`check_table` enforces the contracts with Arrow compute kernels when an extract
is made (no Pandera import, no pandas copy of the tables: extraction runs in a fresh process per release), and
:mod:`idtrack_core.ensembl.schemas` builds the Pandera schemas of the same contracts (the platform's asset checks,
the documentation). ``tests/test_extract_contracts.py`` checks that both refuse the same broken tables.

A contract says, per table: the columns in order (no other column), each column's type, whether it may hold NULL,
a lower bound, the allowed values, a minimum text length and uniqueness; the column combinations that must be
unique; and the columns of which every row must have at least one that is not NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.ensembl.regions import REGION_CLASSES
from idtrack_core.errors import ExtractValidationError

ColumnType = Literal["string", "int64", "float64"]
OBJECT_TYPES = ("gene", "transcript", "translation")
ARROW_TYPES: dict[str, pa.DataType] = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64()}
PANDAS_DTYPES = {"string": "string", "int64": "Int64", "float64": "Float64"}
_SHOWN = 10  # failures listed in an error message at most


@dataclass(frozen=True)
class Col:
    """One column's contract (a check applies to the values that are not NULL)."""

    name: str
    type: ColumnType
    nullable: bool = False
    ge: int | None = None
    isin: tuple[str | int, ...] | None = None
    min_length: int | None = None
    unique: bool = False


@dataclass(frozen=True)
class TableContract:
    """One table's contract: its columns in order, the unique column combination and the "one of" columns."""

    name: str
    columns: tuple[Col, ...]
    unique: tuple[str, ...] = ()
    any_known: tuple[str, ...] = ()
    any_known_error: str = ""

    @property
    def column_names(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in self.columns]


def _located(*first: Col) -> tuple[Col, ...]:
    return (
        *first,
        Col("seq_region", "string", nullable=True),
        Col("seq_region_start", "int64", nullable=True, ge=1),
        Col("seq_region_end", "int64", nullable=True, ge=1),
        Col("seq_region_strand", "int64", nullable=True, isin=(-1, 1)),
        Col("region_class", "string", nullable=True, isin=tuple(REGION_CLASSES)),
    )


_STABLE_ID = Col("stable_id", "string", min_length=1)
_VERSION = Col("version", "int64", nullable=True, ge=1)
CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (
        TableContract(
            "genes",
            _located(_STABLE_ID, _VERSION, Col("biotype", "string", nullable=True)),
            unique=("stable_id", "version"),
        ),
        TableContract(
            "transcripts",
            _located(
                _STABLE_ID,
                _VERSION,
                Col("gene_stable_id", "string", nullable=True),
                Col("biotype", "string", nullable=True),
            ),
        ),
        TableContract("translations", (_STABLE_ID, _VERSION, Col("transcript_stable_id", "string", nullable=True))),
        TableContract(
            "xrefs",
            (
                Col("ensembl_id", "string", min_length=1),
                Col("object_type", "string", isin=OBJECT_TYPES),
                Col("xref_id", "int64", ge=0),
                Col("db_name", "string"),
                Col("db_display_name", "string"),
                Col("primary_accession", "string"),
                Col("display_label", "string"),
            ),
        ),
        TableContract(
            "synonyms",
            (
                Col("xref_id", "int64", ge=0),
                Col("db_name", "string"),
                Col("primary_accession", "string"),
                Col("display_label", "string"),
                Col("synonym", "string", min_length=1),
            ),
        ),
        TableContract(
            "history",
            (
                Col("type", "string", isin=(*OBJECT_TYPES, "rnaproduct")),
                Col("old_stable_id", "string", nullable=True),
                Col("old_version", "int64", nullable=True, ge=1),
                Col("new_stable_id", "string", nullable=True),
                Col("new_version", "int64", nullable=True, ge=1),
                Col("score", "float64", nullable=True),
                Col("mapping_session_id", "int64"),
                Col("old_release", "string", nullable=True),
                Col("new_release", "string", nullable=True),
            ),
            unique=(
                "type",
                "old_stable_id",
                "old_version",
                "new_stable_id",
                "new_version",
                "mapping_session_id",
                "score",
            ),
            any_known=("old_stable_id", "new_stable_id"),
            any_known_error="a history row has neither an old nor a new stable id",
        ),
        TableContract(  # mapping_session: the releases, databases and assemblies each history session connects
            "sessions",
            (
                Col("mapping_session_id", "int64", unique=True),
                *(
                    Col(c, "string", nullable=True)
                    for c in (
                        "old_db_name",
                        "new_db_name",
                        "old_release",
                        "new_release",
                        "old_assembly",
                        "new_assembly",
                        "created",
                    )
                ),
            ),
        ),
        TableContract(  # gene_archive: the transcripts and translations of archived gene versions (per session)
            "gene_archive",
            (
                Col("gene_stable_id", "string", min_length=1),
                Col("gene_version", "int64", nullable=True, ge=1),
                Col("transcript_stable_id", "string", nullable=True),
                Col("transcript_version", "int64", nullable=True, ge=1),
                Col("translation_stable_id", "string", nullable=True),
                Col("translation_version", "int64", nullable=True, ge=1),
                Col("peptide_archive_id", "int64", nullable=True),
                Col("mapping_session_id", "int64"),
            ),
        ),
        TableContract(  # peptide_archive: sequences of archived translations
            "peptide_archive",
            (
                Col("peptide_archive_id", "int64", unique=True),
                Col("md5_checksum", "string", nullable=True),
                Col("peptide_seq", "string", nullable=True),
            ),
        ),
    )
}


@dataclass(frozen=True)
class Failure:
    """One failed check: the column (or columns), the check, the offending value and its row (None: whole table)."""

    column: str
    check: str
    value: object
    row: int | None


def check_table(name: str, table: pa.Table, where: str) -> None:
    """Enforce the contract of extract table ``name`` on ``table``.

    Parameters
    ----------
    name
        An extract table (a key of :data:`CONTRACTS`).
    table
        Its rows, as extraction makes them.
    where
        Where the rows come from (source and database), for the message.

    Raises
    ------
    ExtractValidationError
        Naming ``where``, the table, and the first failures (column, check, value, row) with their count.
    """
    failures = table_failures(CONTRACTS[name], table)
    if failures:
        lines = [f"  {f.column}: {f.check} (value {f.value!r}, row {f.row})" for f in failures[:_SHOWN]]
        more = f"\n  … {len(failures) - _SHOWN:,} more" if len(failures) > _SHOWN else ""
        raise ExtractValidationError(
            f"{where}: table {name!r} fails its schema ({len(failures):,} failures):\n" + "\n".join(lines) + more
        )


def table_failures(contract: TableContract, table: pa.Table) -> list[Failure]:
    """Every failure of ``table`` against ``contract``.

    Returns
    -------
    list of Failure
        Empty when the table conforms. A table whose columns differ (names, order) gives that one failure; column
        failures (type, NULL, bounds, values, length, unique) come before the row checks, which need well-typed
        columns and run only when there are none.
    """
    if table.column_names != contract.column_names:
        return [Failure(", ".join(table.column_names), f"columns must be {contract.column_names}", None, None)]
    out: list[Failure] = []
    for col in contract.columns:
        out += _column_failures(col, table.column(col.name))
    if out:  # row checks need well-typed columns
        return out
    if contract.unique:
        out += _duplicates(table, list(contract.unique))
    if contract.any_known:
        known = pc.or_kleene(*(pc.is_valid(table.column(c)) for c in contract.any_known))
        out += _failing(" | ".join(contract.any_known), contract.any_known_error, pc.invert(known), None)
    return out


def _column_failures(col: Col, values: pa.ChunkedArray) -> list[Failure]:
    if values.type != ARROW_TYPES[col.type]:
        return [Failure(col.name, f"type must be {col.type}", str(values.type), None)]
    out: list[Failure] = []
    if not col.nullable:
        out += _failing(col.name, "not NULL", pc.is_null(values), values)
    if col.ge is not None:
        out += _failing(col.name, f">= {col.ge}", pc.less(values, col.ge), values)
    if col.isin is not None:
        listed = pc.is_in(values, pa.array(col.isin, type=values.type))
        out += _failing(col.name, f"in {list(col.isin)}", pc.and_(pc.is_valid(values), pc.invert(listed)), values)
    if col.min_length is not None:
        short = pc.less(pc.utf8_length(values), col.min_length)
        out += _failing(col.name, f"length >= {col.min_length}", short, values)
    if col.unique:
        out += _duplicates(pa.table({col.name: values}), [col.name])
    return out


def _failing(column: str, check: str, mask: pa.ChunkedArray, values: pa.ChunkedArray | None) -> list[Failure]:
    """A failure for each row where ``mask`` is true (NULL: the check does not apply)."""
    rows = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
    if not rows:
        return []
    shown = values.take(pa.array(rows[:_SHOWN], pa.int64())).to_pylist() if values is not None else []
    return [Failure(column, check, v, r) for v, r in zip(shown + [None] * (len(rows) - len(shown)), rows, strict=True)]


def _duplicates(table: pa.Table, columns: Sequence[str]) -> list[Failure]:
    """A failure for each row whose values of ``columns`` another row has too (NULLs equal, as pandas counts)."""
    keyed = table.select(columns)
    if keyed.group_by(list(columns), use_threads=False).aggregate([]).num_rows == table.num_rows:
        return []  # each combination once: the rows need not be listed (the common case, and cheaper)
    keyed = keyed.append_column("__row", pa.array(range(table.num_rows), type=pa.int64()))
    counts = keyed.group_by(list(columns), use_threads=False).aggregate([("__row", "count"), ("__row", "list")])
    repeated = counts.filter(pc.greater(counts["__row_count"], 1))
    if not repeated.num_rows:
        return []
    rows = sorted(r for group in repeated["__row_list"].to_pylist() for r in group)
    values = table.select(columns).take(rows[:_SHOWN]).to_pylist()
    label = " + ".join(columns)
    shown = [tuple(v.values()) if len(columns) > 1 else next(iter(v.values())) for v in values]
    return [
        Failure(label, "unique", v, r) for v, r in zip(shown + [None] * (len(rows) - len(shown)), rows, strict=True)
    ]
