"""Release sets stored as runs of consecutive snapshot releases (positions ``first``..``last``, inclusive).

A link that holds in releases 84, 93 and 100 of a snapshot whose releases are [84, 93, 100, 104] is one
row ``first=0, last=2``; a link that disappears and comes back is two rows.

Rows are sorted as int64 words packing several columns (each shifted to start at 0 and scaled by the span of the
columns after it): most tables sort with one ``numpy.sort`` instead of one stable pass per column.
"""

from __future__ import annotations

import numpy as np

_WORD_SPAN = 1 << 63  # the values a packed word holds (non-negative int64)
_Layout = list[tuple[int, int]] | None  # (low, width) of each column packed in a word; None: a column kept as is


def runs(keys: list[np.ndarray], pos: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Collapse rows (integer ``keys``…, release position) into runs of consecutive positions.

    Parameters
    ----------
    keys
        Integer key columns of the rows (equal lengths).
    pos
        The release position of each row.

    Returns
    -------
    tuple
        The key arrays (int64) of each run (sorted by keys, then position) and its ``first``/``last`` positions
        (``int16``). Duplicate rows are ignored.
    """
    if len(pos) == 0:
        empty = np.zeros(0, dtype=np.int16)
        return [k[:0] for k in keys], empty, empty
    words, layouts = _packed_words([*keys, pos])
    if len(words) == 1 and layouts[0] is not None:
        return _runs_of_word(words[0], layouts[0])
    order = np.lexsort(tuple(reversed(words)))
    keys = [k[order] for k in keys]
    pos = pos[order].astype(np.int64)
    same_key = np.ones(len(pos) - 1, dtype=bool)
    for k in keys:
        same_key &= k[1:] == k[:-1]
    keep = np.ones(len(pos), dtype=bool)
    keep[1:] = ~(same_key & (pos[1:] == pos[:-1]))
    if not keep.all():
        keys, pos = [k[keep] for k in keys], pos[keep]
        same_key = np.ones(len(pos) - 1, dtype=bool)
        for k in keys:
            same_key &= k[1:] == k[:-1]
    starts, ends = _run_bounds(same_key, pos)
    return [k[starts] for k in keys], pos[starts].astype(np.int16), pos[ends].astype(np.int16)


def _runs_of_word(word: np.ndarray, layout: list[tuple[int, int]]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """:func:`runs` of rows packed in one word (the position is its last column): sorted and deduplicated as
    integers, the keys unpacked for the runs only."""
    word = np.sort(word)
    if len(word) > 1:
        word = word[np.append(True, word[1:] != word[:-1])]
    pos_low, pos_width = layout[-1]
    key, pos = np.divmod(word, pos_width)
    starts, ends = _run_bounds(key[1:] == key[:-1], pos)
    return (
        _unpacked(key[starts], layout[:-1]),
        (pos[starts] + pos_low).astype(np.int16),
        (pos[ends] + pos_low).astype(np.int16),
    )


def _run_bounds(same_key: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row of each run (rows sorted by key then position, without duplicates; ``same_key``: whether
    each row has the key of the row before it)."""
    new_run = np.ones(len(pos), dtype=bool)
    new_run[1:] = ~same_key | (pos[1:] != pos[:-1] + 1)
    starts = np.flatnonzero(new_run)
    return starts, np.append(starts[1:] - 1, len(pos) - 1)


def sort_order(columns: list[np.ndarray]) -> np.ndarray:
    """An order sorting the rows of integer ``columns`` lexicographically (the first column most significant).

    Rows equal in every column may come in any order.

    Parameters
    ----------
    columns
        Integer columns of equal length (at least one).

    Returns
    -------
    numpy.ndarray
        Row indices in sorted order.
    """
    words, _ = _packed_words(columns)
    if len(words) == 1:
        return np.argsort(words[0])
    return np.lexsort(tuple(reversed(words)))


def _packed_words(columns: list[np.ndarray]) -> tuple[list[np.ndarray], list[_Layout]]:
    """Consecutive ``columns`` combined into int64 words ordered like the columns' tuples (a new word when the span
    would not fit; a column wider than a word stays as it is), and the layout of each word."""
    groups: list[list[tuple[np.ndarray, int, int]]] = [[]]
    span = 1
    for column in columns:
        low, high = int(column.min()), int(column.max())
        width = high - low + 1
        if span * width >= _WORD_SPAN and groups[-1]:
            groups.append([])
            span = 1
        groups[-1].append((column, low, width))
        span *= width
    words: list[np.ndarray] = []
    layouts: list[_Layout] = []
    for group in groups:
        if len(group) == 1 and group[0][2] >= _WORD_SPAN:
            words.append(group[0][0].astype(np.int64))
            layouts.append(None)
            continue
        word = np.zeros(len(columns[0]), dtype=np.int64)
        for column, low, width in group:
            word *= width
            word += column.astype(np.int64) - low
        words.append(word)
        layouts.append([(low, width) for _, low, width in group])
    return words, layouts


def _unpacked(word: np.ndarray, layout: list[tuple[int, int]]) -> list[np.ndarray]:
    """The columns packed in ``word`` (int64)."""
    columns = []
    for low, width in reversed(layout):
        word, value = np.divmod(word, width)
        columns.append(value + low)
    return columns[::-1]


def holds_at(first: np.ndarray, last: np.ndarray, pos: int) -> np.ndarray:
    """Boolean mask: which runs contain release position ``pos``."""
    return (first <= pos) & (pos <= last)
