"""Release sets stored as runs of consecutive snapshot releases (positions ``first``..``last``, inclusive).

A link that holds in releases 84, 93 and 100 of a snapshot whose releases are [84, 93, 100, 104] is one
row ``first=0, last=2``; a link that disappears and comes back is two rows.
"""

from __future__ import annotations

import numpy as np


def runs(keys: list[np.ndarray], pos: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Collapse rows (integer ``keys``…, release position) into runs of consecutive positions.

    Returns the key arrays of each run (sorted by keys, then position) and its ``first``/``last`` positions.
    Duplicate rows are ignored.
    """
    if len(pos) == 0:
        empty = np.zeros(0, dtype=np.int16)
        return [k[:0] for k in keys], empty, empty
    order = np.lexsort((pos, *reversed(keys)))
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


def holds_at(first: np.ndarray, last: np.ndarray, pos: int) -> np.ndarray:
    """Boolean mask: which runs contain release position ``pos``."""
    return (first <= pos) & (pos <= last)
