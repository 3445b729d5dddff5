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

    The rows are sorted and deduplicated as packed words (see the module docstring); only the keys of the runs
    are unpacked.

    Parameters
    ----------
    keys
        Integer key columns of the rows (equal lengths).
    pos
        The release position of each row (small non-negative integers).

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
    *key_layouts, last_layout = layouts
    if last_layout is None:
        raise ValueError(f"release positions span more than a word: {pos.min()}..{pos.max()}")
    if len(words) == 1:
        words = [np.sort(words[0])]
    else:
        order = np.lexsort(tuple(reversed(words)))
        words = [w[order] for w in words]
    distinct = np.ones(len(pos), dtype=bool)
    distinct[1:] = False
    for w in words:
        distinct[1:] |= w[1:] != w[:-1]
    words = [w[distinct] for w in words]
    pos_low, pos_width = last_layout[-1]
    last_key, pos = np.divmod(words[-1], pos_width)
    key_words = [*words[:-1], last_key]
    same_key = np.ones(len(pos) - 1, dtype=bool)
    for w in key_words:
        same_key &= w[1:] == w[:-1]
    starts, ends = _run_bounds(same_key, pos)
    run_keys = [
        column
        for w, layout in zip(key_words, [*key_layouts, last_layout[:-1]], strict=True)
        for column in _unpacked(w[starts], layout)
    ]
    return run_keys, (pos[starts] + pos_low).astype(np.int16), (pos[ends] + pos_low).astype(np.int16)


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


def _unpacked(word: np.ndarray, layout: _Layout) -> list[np.ndarray]:
    """The columns packed in ``word`` (int64; a word without layout is its column)."""
    if layout is None:
        return [word]
    columns = []
    for low, width in reversed(layout):
        word, value = np.divmod(word, width)
        columns.append(value + low)
    return columns[::-1]


def holds_at(first: np.ndarray, last: np.ndarray, pos: int) -> np.ndarray:
    """Boolean mask: which runs contain release position ``pos``."""
    return (first <= pos) & (pos <= last)
