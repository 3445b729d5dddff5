"""MySQL ``SELECT ... INTO OUTFILE`` dump format: CREATE TABLE parsing, row reading and writing.

Rows are tab-separated and newline-terminated; ``\\N`` is NULL; a backslash escapes the field
terminator, the line terminator and itself, and ``\\0 \\b \\n \\r \\t \\Z`` stand for their control
characters (MySQL reference manual, "LOAD DATA Statement", FIELDS ESCAPED BY).

Text is UTF-8. A field that is not valid UTF-8 (old dumps wrote Latin-1) is decoded as Latin-1, that field alone,
and counted: :func:`blocks_to_table` puts the number of such values among the columns read in its table's schema
metadata (:func:`non_utf8_values` reads it; :func:`table_to_frame` puts it in ``frame.attrs["non_utf8_values"]``) and
release extracts report it per table in their manifest (``non_utf8_values``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.ensembl.databases import RowFilter
from idtrack_core.errors import DumpFormatError

ColumnKind = Literal["int", "float", "str"]

_INT_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_FLOAT_TYPES = {"float", "double", "decimal", "real", "numeric"}
_CREATE_RE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(?P<table>\w+)`?", re.I)
_COLUMN_RE = re.compile(r"^\s*`(?P<name>[^`]+)`\s+(?P<type>[A-Za-z]+)")
_UNESCAPE = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_ESCAPE = {"\\": "\\\\", "\t": "\\\t", "\n": "\\\n", "\x00": "\\0"}


@dataclass(frozen=True)
class Column:
    """One column of a CREATE TABLE statement."""

    name: str
    kind: ColumnKind


@dataclass(frozen=True)
class TableSchema:
    """The ordered columns of one table, as its CREATE TABLE statement declares them."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def kind_of(self, column: str) -> ColumnKind:
        for c in self.columns:
            if c.name == column:
                return c.kind
        raise KeyError(column)


def column_kind(mysql_type: str) -> ColumnKind:
    """Map a MySQL column type name to the kind used in extracts."""
    t = mysql_type.lower()
    if t in _INT_TYPES:
        return "int"
    if t in _FLOAT_TYPES:
        return "float"
    return "str"


def parse_create_tables(sql: str) -> dict[str, TableSchema]:
    """Parse every CREATE TABLE statement of a schema file into its ordered columns."""
    schemas: dict[str, TableSchema] = {}
    table: str | None = None
    columns: list[Column] = []
    for line in sql.splitlines():
        if table is None:
            m = _CREATE_RE.match(line)
            if m:
                table, columns = m.group("table"), []
            continue
        m = _COLUMN_RE.match(line)
        if m:
            columns.append(Column(m.group("name"), column_kind(m.group("type"))))
        elif line.lstrip().startswith(")"):
            schemas[table] = TableSchema(table, tuple(columns))
            table = None
    return schemas


def _unescape_record(record: str) -> list[str | None]:
    """Split one record on unescaped tabs and resolve escapes; ``\\N`` alone is NULL."""
    fields: list[str | None] = []
    buf: list[str] = []
    raw_start = 0
    i, n = 0, len(record)
    while i < n:
        c = record[i]
        if c == "\\" and i + 1 < n:
            nxt = record[i + 1]
            buf.append(_UNESCAPE.get(nxt, nxt))
            i += 2
            continue
        if c == "\t":
            fields.append(None if record[raw_start:i] == "\\N" else "".join(buf))
            buf, raw_start = [], i + 1
        else:
            buf.append(c)
        i += 1
    fields.append(None if record[raw_start:] == "\\N" else "".join(buf))
    return fields


def split_record(record: str) -> list[str | None]:
    """Split one dump record into fields (fast path when the record has no escapes)."""
    parts: list[str | None] = record.split("\t")  # type: ignore[assignment]
    if "\\" not in record:
        return parts
    if any("\\" in p and p != "\\N" for p in parts):  # type: ignore[operator]
        return _unescape_record(record)
    return [None if p == "\\N" else p for p in parts]


def iter_records(lines: Iterable[str], first_line: int = 1) -> Iterator[tuple[int, str]]:
    """Join physical lines into records (an odd run of trailing backslashes escapes the newline).

    Yields ``(first physical line number, record)``; line numbers start at ``first_line``.
    """
    pending: str | None = None
    start = 0
    for lineno, line in enumerate(lines, start=first_line):
        if pending is None:
            pending, start = line, lineno
        else:
            pending = pending + "\n" + line
        stripped = pending.rstrip("\\")
        if (len(pending) - len(stripped)) % 2 == 1:
            continue
        yield start, pending
        pending = None
    if pending is not None:
        yield start, pending


def records_to_frame(
    records: Iterable[tuple[int, str]],
    schema: TableSchema,
    columns: Sequence[str],
    path: str,
) -> pd.DataFrame:
    """Parse records into a typed DataFrame holding ``columns`` (in that order).

    Raises :class:`DumpFormatError` naming ``path`` and the line for a wrong field count or a
    value that does not fit its column type.
    """
    ncols = len(schema.columns)
    positions = [schema.column_names.index(c) for c in columns]
    values: list[list[str | None]] = [[] for _ in columns]
    lines: list[int] = []
    for lineno, record in records:
        if not record:
            continue
        fields = split_record(record)
        if len(fields) != ncols:
            raise DumpFormatError(path, f"table {schema.name!r} expects {ncols} fields, found {len(fields)}", lineno)
        for out, pos in zip(values, positions, strict=True):
            out.append(fields[pos])
        lines.append(lineno)
    data = {col: _typed(vals, schema.kind_of(col), path, col, lines) for col, vals in zip(columns, values, strict=True)}
    return pd.DataFrame(data, columns=list(columns))


def _typed(values: list[str | None], kind: ColumnKind, path: str, column: str, lines: list[int]) -> pd.Series:
    """Convert raw field strings to the column's kind; empty strings are NULL in numeric columns."""
    if kind == "str":
        return pd.Series(values, dtype="string")
    raw = np.array([None if v == "" else v for v in values], dtype=object)
    numbers = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce")
    bad = numbers.isna().to_numpy() & (raw != None)  # noqa: E711 - elementwise comparison
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DumpFormatError(path, f"column {column!r}: {raw[row]!r} is not a number", lines[row])
    if kind == "int":
        return numbers.astype("Int64")
    return numbers.astype("Float64")


def format_value(value: object) -> str:
    """Render one value as a dump field (``\\N`` for None, escapes applied)."""
    if value is None or value is pd.NA:
        return "\\N"
    if isinstance(value, float):
        if value != value:
            return "\\N"
        return repr(value) if value != int(value) else str(int(value))
    text = str(value)
    if any(ch in text for ch in _ESCAPE):
        text = "".join(_ESCAPE.get(ch, ch) for ch in text)
    return text


def format_rows(rows: Iterable[Sequence[object]]) -> str:
    """Render rows as dump text: tab-separated fields, one row per line, escapes applied."""
    return "".join("\t".join(format_value(v) for v in row) + "\n" for row in rows)


_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


def _arrow_block(
    data: bytes, schema: TableSchema, columns: Sequence[str], rows: RowFilter | None = None
) -> tuple[pa.Table, int] | None:
    """Parse a block with Arrow's CSV reader when its only escapes are ``\\N``: the rows ``rows`` keeps, as
    ``columns``, and the block's record count. None if it cannot (other escapes, invalid UTF-8, a malformed row —
    the exact parser then reads the block and names the line — or a table of one column, where an empty line
    would be a row: with more columns it is a malformed row, so every line of a block Arrow reads is a record).

    With ``rows``, an ASCII block (so valid UTF-8) is first parsed without its text columns: a block of which no
    row is kept (most blocks of a cumulative table when only new sessions are read) stops there, its numbers
    checked as a full parse would."""
    backslashes = b"\\" in data
    if len(schema.columns) < 2 or (backslashes and not _only_null_escapes(data)):
        return None
    read = list(dict.fromkeys([*columns, *([rows.column] if rows else [])]))
    if rows is not None and data.isascii():
        numbers = _parse(data, schema, [c for c in read if c == rows.column or schema.kind_of(c) != "str"])
        if numbers is None:
            return None
        if not pc.any(_arrow_mask(numbers.column(rows.column), rows)).as_py():
            return pa.table({c: pa.array([], _ARROW_TYPES[schema.kind_of(c)]) for c in columns}), numbers.num_rows
    table = _parse(data, schema, read)
    if table is None:
        return None
    records = table.num_rows
    if rows is not None:
        table = table.filter(_arrow_mask(table.column(rows.column), rows))
    out = {}
    for c in columns:
        col = table.column(c)
        if schema.kind_of(c) == "str" and backslashes:
            col = pc.if_else(pc.equal(col, "\\N"), pa.scalar(None, pa.string()), col)
        out[c] = col
    return pa.table(out), records


def _parse(data: bytes, schema: TableSchema, columns: Sequence[str]) -> pa.Table | None:
    """``columns`` of a block, typed by their kind (``\\N`` and empty numbers NULL; text as it is), or None if
    Arrow cannot parse them."""
    import pyarrow.csv as pacsv  # not needed to list or fingerprint databases

    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=schema.column_names, use_threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: _ARROW_TYPES[schema.kind_of(c)] for c in columns},
                include_columns=list(columns),
                null_values=["\\N", ""],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _only_null_escapes(data: bytes) -> bool:
    """Whether every backslash of ``data`` starts a ``\\N``."""
    raw = np.frombuffer(data, dtype=np.uint8)
    after = np.flatnonzero(raw == ord("\\")) + 1
    return not len(after) or (after[-1] < len(raw) and bool((raw[after] == ord("N")).all()))


def _arrow_mask(values: pa.ChunkedArray, rows: RowFilter) -> pa.ChunkedArray:
    listed = pc.fill_null(pc.is_in(values, value_set=pa.array(rows.values, type=values.type)), False)
    return pc.invert(listed) if rows.exclude else listed


def filter_frame(df: pd.DataFrame, rows: RowFilter | None) -> pd.DataFrame:
    """The rows of ``df`` that ``rows`` keeps (all of them without a filter)."""
    if rows is None:
        return df
    listed = df[rows.column].isin(rows.values).fillna(False).to_numpy(dtype=bool)
    return df[~listed if rows.exclude else listed].reset_index(drop=True)


_NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(), pa.string(): pd.StringDtype()}
NON_UTF8_KEY = b"non_utf8_values"
"""Schema metadata key of :func:`blocks_to_table`'s tables: how many values were decoded as Latin-1."""


def frame_to_table(frame: pd.DataFrame, schema: TableSchema, columns: Sequence[str]) -> pa.Table:
    """A typed DataFrame of :func:`records_to_frame` (or a source's) as an Arrow table of the columns' kinds."""
    return pa.table({c: pa.array(frame[c], type=_ARROW_TYPES[schema.kind_of(c)]) for c in columns})


def blocks_to_table(
    blocks: Iterable[bytes], schema: TableSchema, columns: Sequence[str], path: str, rows: RowFilter | None = None
) -> pa.Table:
    """Parse dump blocks (each ending at a record boundary) into a typed Arrow table holding ``columns`` (int64,
    float64 or string), keeping only the rows ``rows`` selects (filtered block by block).

    Blocks without escapes other than ``\\N`` go through Arrow; the others through the exact parser, which
    raises :class:`DumpFormatError` naming ``path`` and the line. The number of values among ``columns`` that
    were not valid UTF-8 is in the schema metadata (:data:`NON_UTF8_KEY`).
    """
    tables = []
    first_line = 1
    parsed = list(dict.fromkeys([*columns, *([rows.column] if rows else [])]))
    non_utf8 = 0  # values of the columns read that were not valid UTF-8
    wanted = {schema.column_names.index(c) for c in columns}
    for data in blocks:
        fast = _arrow_block(data, schema, columns, rows) if data else None
        if fast is None:
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            text, fallbacks = decode_fields(data[:-1] if data.endswith(b"\n") else data)
            non_utf8 += sum(1 for field in fallbacks if field in wanted)
            frame = records_to_frame(iter_records(text.split("\n"), first_line), schema, parsed, path)
            table = frame_to_table(filter_frame(frame, rows), schema, columns)
        else:
            table, lines = fast
        tables.append(table)
        first_line += lines
    if not tables:
        out = frame_to_table(records_to_frame([], schema, columns, path), schema, columns)
    else:
        out = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return out.replace_schema_metadata({NON_UTF8_KEY: str(non_utf8).encode()})


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A table of :func:`blocks_to_table` as a DataFrame of nullable dtypes, its Latin-1 count in ``attrs``."""
    frame = table.to_pandas(types_mapper=_NULLABLE.get)
    frame.attrs["non_utf8_values"] = non_utf8_values(table)
    return frame


def to_int64(values: pa.ChunkedArray, errors: Literal["raise", "coerce"] = "raise") -> pa.ChunkedArray:
    """A column as int64: as it is when it is int64 (as ``int`` columns are read), else converted like
    ``pandas.to_numeric`` (``errors="coerce"``: what is not a number is NULL)."""
    if values.type == pa.int64():
        return values
    numbers = pd.to_numeric(values.to_pandas(), errors=errors).astype("Int64")
    return pa.chunked_array([pa.array(numbers, type=pa.int64())])


def non_utf8_values(table: pa.Table) -> int:
    """How many values of a :func:`blocks_to_table` table were decoded as Latin-1 (0 when not recorded)."""
    return int((table.schema.metadata or {}).get(NON_UTF8_KEY, b"0"))


def decode(data: bytes) -> str:
    """Text of dump bytes: UTF-8, each field that is not valid UTF-8 decoded as Latin-1 (see module docstring)."""
    return decode_fields(data)[0]


def decode_counted(data: bytes) -> tuple[str, int]:
    """Like :func:`decode`, with the number of fields decoded as Latin-1."""
    text, fallbacks = decode_fields(data)
    return text, len(fallbacks)


def decode_fields(data: bytes) -> tuple[str, list[int]]:
    """Like :func:`decode`, with the position in its line of each field decoded as Latin-1."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lines, fallbacks = [], []
    for line in data.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        fields = []
        for position, field in enumerate(line.split(b"\t")):  # an escaped tab splits too; a tab joins it back
            try:
                fields.append(field.decode("utf-8"))
            except UnicodeDecodeError:
                fields.append(field.decode("latin-1"))
                fallbacks.append(position)
        lines.append("\t".join(fields))
    return "\n".join(lines), fallbacks
