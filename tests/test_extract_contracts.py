"""The extract contracts: the Arrow check that extraction runs and the Pandera schemas built from the same contracts
accept the real tables and refuse the same broken ones, and the error names the table, the column and the rows."""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.ensembl.contracts import CONTRACTS, check_table
from idtrack_core.ensembl.schemas import validate_extract_table
from idtrack_core.errors import ExtractValidationError
from idtrack_core.storage import nullable_type

from conftest import TESTDB


@functools.cache
def extract():
    return extract_release(DumpSource(str(TESTDB / "rest_human_core_grch37")), "homo_sapiens", None, 72)


def replaced(table: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.column_names.index(column)
    return table.set_column(i, column, pa.array(values, type=table.schema.field(column).type))


def duplicated_row(table: pa.Table, row: int) -> pa.Table:
    return pa.concat_tables([table, table.slice(row, 1)])


BROKEN = {
    "NULL stable id": ("genes", lambda t: replaced(t, "stable_id", 0, None), "stable_id"),
    "empty stable id": ("genes", lambda t: replaced(t, "stable_id", 1, ""), "stable_id"),
    "version 0": ("genes", lambda t: replaced(t, "version", 2, 0), "version"),
    "strand 2": ("transcripts", lambda t: replaced(t, "seq_region_strand", 3, 2), "seq_region_strand"),
    "start 0": ("genes", lambda t: replaced(t, "seq_region_start", 0, 0), "seq_region_start"),
    "unknown region class": ("genes", lambda t: replaced(t, "region_class", 0, "mars"), "region_class"),
    "unknown object type": ("xrefs", lambda t: replaced(t, "object_type", 4, "exon"), "object_type"),
    "negative xref id": ("xrefs", lambda t: replaced(t, "xref_id", 0, -5), "xref_id"),
    "empty synonym": ("synonyms", lambda t: replaced(t, "synonym", 0, ""), "synonym"),
    "gene twice": ("genes", lambda t: duplicated_row(t, 5), "stable_id + version"),
    "history row twice": ("history", lambda t: duplicated_row(t, 0), "type + old_stable_id"),
    "history row without ids": (
        "history",
        lambda t: replaced(replaced(t, "old_stable_id", 0, None), "new_stable_id", 0, None),
        "old_stable_id | new_stable_id",
    ),
    "session twice": ("sessions", lambda t: duplicated_row(t, 0), "mapping_session_id"),
    "integer score": (
        "history",
        lambda t: t.set_column(5, "score", pc.cast(t["score"], pa.int64(), safe=False)),
        "score",
    ),
    "extra column": ("genes", lambda t: t.append_column("x", pa.array([1] * t.num_rows)), "x"),
    "columns out of order": ("genes", lambda t: t.select([1, 0, *range(2, t.num_columns)]), "version, stable_id"),
}


def test_the_real_tables_pass_both_checks():
    ex = extract()
    for name in CONTRACTS:
        check_table(name, ex.arrow[name], "here")
        validate_extract_table(name, ex.tables[name], "here")
    assert ex.arrow["history"].num_rows and ex.arrow["synonyms"].num_rows and ex.arrow["sessions"].num_rows


@pytest.mark.parametrize("case", list(BROKEN))
def test_both_checks_refuse_a_broken_table(case):
    name, breaks, column = BROKEN[case]
    table = breaks(extract().arrow[name])
    with pytest.raises(ExtractValidationError) as arrow_error:
        check_table(name, table, "db_x")
    message = str(arrow_error.value)
    assert message.startswith(f"db_x: table {name!r} fails its schema") and column in message, message
    assert "row " in message
    with pytest.raises(ExtractValidationError):
        validate_extract_table(name, table.to_pandas(types_mapper=nullable_type), "db_x")


def test_the_rows_are_named():
    genes = extract().arrow["genes"]
    with pytest.raises(ExtractValidationError, match=r"version: >= 1 \(value 0, row 7\)"):
        check_table("genes", replaced(genes, "version", 7, 0), "db_x")
