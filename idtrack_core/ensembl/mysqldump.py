"""MySQL ``SELECT ... INTO OUTFILE`` dump format: CREATE TABLE parsing, row reading and writing.

Rows are tab-separated and newline-terminated; ``\\N`` is NULL; a backslash escapes the field
terminator, the line terminator and itself, and ``\\0 \\b \\n \\r \\t \\Z`` stand for their control
characters (MySQL reference manual, "LOAD DATA Statement", FIELDS ESCAPED BY).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

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


def iter_records(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Join physical lines into records (an odd run of trailing backslashes escapes the newline).

    Yields ``(first physical line number, record)``; line numbers start at 1.
    """
    pending: str | None = None
    start = 0
    for lineno, line in enumerate(lines, start=1):
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
    raw = pd.Series(values, dtype="string")
    raw = raw.mask(raw == "")
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DumpFormatError(path, f"column {column!r}: {raw.iloc[row]!r} is not a number", lines[row])
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
