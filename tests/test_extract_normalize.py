"""Arrow normalization steps of release extraction: duplicates dropped from the sorted table, joins by lookup."""

from __future__ import annotations

import math

import pyarrow as pa

from idtrack_core.ensembl.extract import _join, _table

NAN = float("nan")


def history(rows: list[tuple]) -> pa.Table:
    names = ["type", "old_stable_id", "old_version", "new_stable_id", "new_version", "score", "mapping_session_id"]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    table = pa.table({n: list(c) for n, c in zip(names, columns, strict=True)})
    return table.append_column("old_release", pa.nulls(len(rows), pa.string())).append_column(
        "new_release", pa.nulls(len(rows), pa.string())
    )


def key(row: dict) -> tuple:
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row.values())


def test_exact_duplicates_go_nulls_and_nan_included_and_rows_differing_by_a_null_stay():
    rows = [
        ("gene", "G1", 1, None, None, 0.5, 3),
        ("gene", None, None, "G2", 1, NAN, 3),
        ("gene", "G1", 1, None, None, 0.5, 3),  # the first row again
        ("gene", None, None, "G2", 1, NAN, 3),  # NaN equals NaN, NULL equals NULL
        ("gene", "G1", 1, None, None, None, 3),  # a NULL score: another row
        ("gene", "G1", None, None, None, 0.5, 3),  # a NULL version: another row
    ]
    out = _table("history", history(rows), ["mapping_session_id", "type", "old_stable_id"]).to_pylist()
    assert len(out) == 4
    assert len({key(r) for r in out}) == 4
    assert [r["old_stable_id"] for r in out] == [None, "G1", "G1", "G1"]  # sorted, NULLs first


def test_join_by_lookup_gives_the_rows_of_arrows_hash_join_and_every_match_of_a_repeated_key():
    left = pa.table({"k": [1, 2, 3, None, 2], "a": ["x", "y", "z", "w", "v"]})
    unique = pa.table({"k": [2, 3, 4], "b": ["two", "three", "four"]})
    repeated = pa.table({"k": [2, 2, 5], "b": ["two", "deux", "five"]})
    for right in (unique, repeated):
        for how in ("inner", "left outer"):
            ours = sorted(_join(left, right, "k", how).to_pylist(), key=repr)
            arrow = sorted(left.join(right, "k", join_type=how).to_pylist(), key=repr)
            assert ours == arrow, (right, how)
    assert _join(left, repeated, "k").num_rows == 4  # 2 rows of key 2 on each side
