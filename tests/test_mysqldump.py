"""The MySQL dump format: CREATE TABLE parsing, escapes, NULLs, typed columns, errors with line numbers."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idtrack_core.ensembl.databases import RowFilter
from idtrack_core.ensembl.mysqldump import (
    Column,
    TableSchema,
    blocks_to_table,
    format_rows,
    iter_records,
    parse_create_tables,
    records_to_frame,
    split_record,
)
from idtrack_core.errors import DumpFormatError

from conftest import TESTDB

SCHEMA = TableSchema("t", (Column("id", "int"), Column("name", "str"), Column("score", "float")))


def parse(text: str, schema: TableSchema = SCHEMA, columns=None) -> pd.DataFrame:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return records_to_frame(iter_records(lines), schema, columns or schema.column_names, "t.txt")


def test_create_table_columns_follow_statement_order():
    schemas = parse_create_tables((TESTDB / "rest_human_core_grch37" / "table.sql").read_text())
    assert schemas["stable_id_event"].column_names == [
        "old_stable_id",
        "old_version",
        "new_stable_id",
        "new_version",
        "mapping_session_id",
        "type",
        "score",
    ]
    assert schemas["gene"].kind_of("version") == "int"
    assert schemas["stable_id_event"].kind_of("score") == "float"
    assert schemas["xref"].kind_of("info_type") == "str"
    assert len(schemas) == 14


def test_null_and_escapes():
    assert split_record("1\t\\N\tx") == ["1", None, "x"]
    assert split_record("a\\\tb\tc") == ["a\tb", "c"]  # escaped tab stays inside the field
    assert split_record("a\\\\\tb") == ["a\\", "b"]  # escaped backslash, then a real tab
    assert split_record("\\0\\n\\t\\Z") == ["\x00\n\t\x1a"]
    assert split_record("\\\\N") == ["\\N"]  # a literal backslash-N is not NULL


def test_escaped_newline_joins_physical_lines():
    records = list(iter_records(["1\tfirst\\", "second\t0.5", "2\tx\t1"]))
    assert records == [(1, "1\tfirst\\\nsecond\t0.5"), (3, "2\tx\t1")]
    df = parse("1\tfirst\\\nsecond\t0.5\n2\tx\t1\n")
    assert df["name"].tolist() == ["first\nsecond", "x"]


def test_typed_columns_and_empty_numeric_is_null():
    df = parse("1\ta\t0.25\n\\N\t\\N\t\n")
    assert str(df["id"].dtype) == "Int64" and str(df["score"].dtype) == "Float64"
    assert df["id"].isna().tolist() == [False, True]
    assert df["score"].isna().tolist() == [False, True]
    assert df["name"].isna().tolist() == [False, True]


def test_wrong_field_count_names_file_and_line():
    with pytest.raises(DumpFormatError, match=r"t\.txt:2: table 't' expects 3 fields, found 2"):
        parse("1\ta\t0.5\n2\tb\n")


def test_non_numeric_value_names_line_and_column():
    with pytest.raises(DumpFormatError, match=r"t\.txt:3: column 'score'"):
        parse("1\ta\t0.5\n2\tb\t1\n3\tc\tnope\n")


text_values = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**40), 2**40) | st.none(), text_values), max_size=20))
def test_format_then_parse_round_trips(rows):
    schema = TableSchema("t", (Column("id", "int"), Column("name", "str")))
    df = parse(format_rows(rows), schema)
    assert len(df) == len(rows)
    assert [None if pd.isna(v) else int(v) for v in df["id"]] == [r[0] for r in rows]
    assert [None if v is pd.NA else v for v in df["name"]] == [r[1] for r in rows]


# --- blocks_to_table: the Arrow fast path per block, the exact parser for the others

EVENTS = TableSchema("e", (Column("stable_id", "str"), Column("session", "int"), Column("score", "float")))


def read_blocks(blocks: list[str], rows: RowFilter | None = None) -> pa.Table:
    return blocks_to_table([b.encode() for b in blocks], EVENTS, ["stable_id", "score"], "e.txt", rows)


def exact(blocks: list[str], rows: RowFilter | None = None) -> list[dict]:
    """The rows ``rows`` keeps, read record by record with the exact parser."""
    df = parse("".join(blocks), EVENTS)
    kept = [r for r in df.to_dict("records") if rows is None or (int(r["session"]) in rows.values) != rows.exclude]
    return [
        {"stable_id": None if pd.isna(r["stable_id"]) else r["stable_id"], "score": _number(r["score"])} for r in kept
    ]


def _number(v: object) -> float | None:
    return None if pd.isna(v) else float(v)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["G1", "G2", "\\N", "a\\\\b", "é"]), st.integers(1, 4), st.sampled_from(["0.5", "\\N"])
            ),
            min_size=1,
            max_size=4,
        ),
        max_size=5,
    ),
    st.sets(st.integers(1, 4)),
    st.booleans(),
)
def test_blocks_with_a_row_filter_read_as_the_exact_parser_does(blocks, sessions, exclude):
    text = ["".join(f"{sid}\t{session}\t{score}\n" for sid, session, score in block) for block in blocks]
    rows = RowFilter.of("session", sessions, exclude=exclude)
    assert read_blocks(text, rows).to_pylist() == exact(text, rows)
    assert read_blocks(text).to_pylist() == exact(text)


def test_a_block_none_of_whose_rows_is_kept_still_counts_its_lines_and_checks_its_numbers():
    rows = RowFilter.of("session", [2])
    kept = ["G1\t1\t0.5\nG2\t1\t\\N\n", "G3\t2\t1\n"]
    assert read_blocks(kept, rows).column("stable_id").to_pylist() == ["G3"]
    with pytest.raises(DumpFormatError, match=r"e\.txt:4: table 'e' expects 3 fields, found 2"):
        read_blocks(["G1\t1\t0.5\nG2\t1\t\\N\n", "G3\t2\t1\nG4\t2\n"], rows)  # line 4: after a skipped block
    with pytest.raises(DumpFormatError, match=r"e\.txt:2: column 'score'"):
        read_blocks(["G1\t1\t0.5\nG2\t1\tnope\n", "G3\t2\t1\n"], rows)  # a row left out, a bad number all the same
