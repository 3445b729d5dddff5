"""Release runs and the packed sort behind them, checked against NumPy's column-by-column ``lexsort``."""

from __future__ import annotations

import numpy as np
import pytest

from idtrack_core.graph.interning import ObjectInterner
from idtrack_core.graph.intervals import runs, sort_order


def _rows(columns: list[np.ndarray], order: np.ndarray) -> list[tuple[int, ...]]:
    return [tuple(int(c[i]) for c in columns) for i in order]


@pytest.mark.parametrize("seed", range(40))
def test_sort_order_sorts_rows_like_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    high = [4, 2**20, 2**40, 2**62][seed % 4]  # small spans pack into one word; large ones need several
    columns = [rng.integers(-3, high, n) for _ in range(int(rng.integers(1, 5)))]
    expected = np.lexsort(tuple(reversed(columns)))
    assert _rows(columns, sort_order(columns)) == _rows(columns, expected)


def test_sort_order_keeps_a_column_spanning_all_int64():
    full = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0, 5])
    other = np.array([1, 0, 1, 0])
    assert sort_order([full, other]).tolist() == [1, 2, 3, 0]


def test_runs_collapse_consecutive_positions_and_ignore_duplicates():
    obj = np.array([7, 3, 7, 7, 3, 7])
    version = np.array([1, 2, 1, 1, 2, 2])
    pos = np.array([0, 0, 1, 1, 2, 3])
    (o, v), first, last = runs([obj, version], pos)
    assert list(zip(o.tolist(), v.tolist(), first.tolist(), last.tolist(), strict=True)) == [
        (3, 2, 0, 0),
        (3, 2, 2, 2),
        (7, 1, 0, 1),
        (7, 2, 3, 3),
    ]


def test_final_codes_map_each_type_and_keep_unknowns():
    remap = {0: np.array([5, 4]), 1: np.array([0, 2, 1])}
    codes = np.array([(1 << 40) | 2, -1, 1, (1 << 40) | 0, 0])
    assert ObjectInterner.final_codes(codes, remap).tolist() == [1, -1, 4, 0, 5]


@pytest.mark.parametrize("seed", range(40))
def test_runs_agree_with_a_row_by_row_collapse(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    high = [3, 2**20, 2**40, 2**62][seed % 4]  # one packed word, or several (the lexsort path)
    keys = [rng.integers(-2, high, n) for _ in range(int(rng.integers(1, 4)))]
    pos = rng.integers(0, 6, n)
    expected: list[tuple[int, ...]] = []
    for row in sorted(set(zip(*(k.tolist() for k in keys), pos.tolist(), strict=True))):
        key, p = row[:-1], row[-1]
        if expected and expected[-1][:-2] == key and expected[-1][-1] == p - 1:
            expected[-1] = (*key, expected[-1][-2], p)
        else:
            expected.append((*key, p, p))
    got_keys, first, last = runs(keys, pos)
    got = list(zip(*(k.tolist() for k in got_keys), first.tolist(), last.tolist(), strict=True))
    assert got == expected


def test_runs_of_a_key_spanning_all_int64():
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    (key,), first, last = runs([np.array([big, small, big, big])], np.array([1, 0, 0, 3]))
    assert list(zip(key.tolist(), first.tolist(), last.tolist(), strict=True)) == [
        (small, 0, 0),
        (big, 0, 1),
        (big, 3, 3),
    ]
