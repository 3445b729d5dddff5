"""Release sets stored as runs of consecutive snapshot releases (positions ``first``..``last``, inclusive).

A link that holds in releases 84, 93 and 100 of a snapshot whose releases are [84, 93, 100, 104] is one
row ``first=0, last=2``; a link that disappears and comes back is two rows.
"""

from __future__ import annotations

import numpy as np

_WORD_SPAN = 1 << 63  # the values a packed sort word holds (non-negative int64)


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
        The key arrays of each run (sorted by keys, then position) and its ``first``/``last`` positions
        (``int16``). Duplicate rows are ignored.
    """
    if len(pos) == 0:
        empty = np.zeros(0, dtype=np.int16)
        return [k[:0] for k in keys], empty, empty
    order = sort_order([*keys, pos])
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
    new_run = np.ones(len(pos), dtype=bool)
    new_run[1:] = ~same_key | (pos[1:] != pos[:-1] + 1)
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:] - 1, len(pos) - 1)
    return [k[starts] for k in keys], pos[starts].astype(np.int16), pos[ends].astype(np.int16)


def sort_order(columns: list[np.ndarray]) -> np.ndarray:
    """An order sorting the rows of integer ``columns`` lexicographically (the first column most significant).

    Rows equal in every column may come in any order. The columns are packed into as few int64 words as hold
    their value ranges, so that most tables sort with one ``argsort`` instead of one stable pass per column.

    Parameters
    ----------
    columns
        Integer columns of equal length (at least one).

    Returns
    -------
    numpy.ndarray
        Row indices in sorted order.
    """
    words = _packed_words(columns)
    if len(words) == 1:
        return np.argsort(words[0])
    return np.lexsort(tuple(reversed(words)))


def _packed_words(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Consecutive ``columns`` combined into int64 words ordered like the columns' tuples: each column shifted to
    start at 0 and scaled by the span of the columns after it within its word (a new word when the span would
    not fit; a column wider than a word stays as it is)."""
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
    words = []
    for group in groups:
        if len(group) == 1 and group[0][2] >= _WORD_SPAN:  # a column too wide to shift: it is its own word
            words.append(group[0][0].astype(np.int64))
            continue
        word = np.zeros(len(columns[0]), dtype=np.int64)
        for column, low, width in group:
            word *= width
            word += column.astype(np.int64) - low
        words.append(word)
    return words
