"""Answer tables: the per-name answers of a conversion as columns, and the vectorized lookup over them.

A lookup of a batch of queries tries, in order:

1. the exact name;
2. an Ensembl ID with an unknown version suffix (``ENSG….99`` → ``ENSG…``): ``version_stripped``;
3. the lower-cased name: ``case_insensitive`` (``synonym_case_insensitive`` for synonyms);
4. lower-cased, version stripped;
5. otherwise 1:0 ``no_corresponding``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.convert.names import TIER_ENSEMBL, TIER_SYNONYM

RESULT_COLUMNS = [
    "query_id",
    "category",
    "target_ids",
    "ensembl_genes",
    "reason",
    "fallback",
    "matched_node",
    "match",
    "path_length",
    "min_score",
    "bridge",
    "bridge_via",
]


_STRIP = r"\.\d+$"  # an unknown version suffix
_MATCH_KINDS = ["exact", "version_stripped", "case_insensitive", "case_insensitive_version_stripped"]
# category code = how the key matched (0-3), plus 4 when the matched name is a synonym
_MATCH_CATEGORIES = [*_MATCH_KINDS, "synonym", *(f"synonym_{k}" for k in _MATCH_KINDS[1:])]


def candidate_keys(queries: Sequence[str]) -> tuple[list[str], list[str]]:
    """The exact and lower-cased keys the lookup may consult for ``queries``."""
    q = pd.Series(list(queries), dtype=object).astype(str)
    stripped = q.str.replace(_STRIP, "", regex=True)
    exact = pd.unique(pd.concat([q, stripped]))
    lower = pd.unique(pd.concat([q.str.lower(), stripped.str.lower()]))
    return list(exact), list(lower)


_STRING_COLUMNS = ("category", "target_ids", "ensembl_genes", "reason", "matched_node", "bridge", "bridge_via")


def answer_table(exact: pd.DataFrame, lower: pd.DataFrame) -> pd.DataFrame:
    """One table of answers: exact keys, then lower-cased keys (``lower``), then one 1:0 row for unknowns.

    String columns are categorical, so the table stores and loads as dictionary codes."""
    unknown = pd.DataFrame(
        {
            "category": ["1:0"],
            "target_ids": [""],
            "ensembl_genes": [""],
            "reason": ["no_corresponding"],
            "fallback": [False],
            "tier": [-1],
        },
        index=pd.Index([""], name="key"),
    )
    table = pd.concat([exact.assign(lower=False), lower.assign(lower=True), unknown.assign(lower=True)])
    table = table.rename_axis("key").reset_index()
    for col in _STRING_COLUMNS:
        table[col] = table[col].astype(object).astype("category")
    table["fallback"] = table["fallback"].astype(bool)
    table["tier"] = table["tier"].astype("int8")
    table["path_length"] = table["path_length"].astype("Int64")
    table["min_score"] = table["min_score"].astype("Float64")
    return table


class AnswerTable:
    """Answers as column arrays of category codes, with hash indexes of the exact and lower-cased keys.
    A lookup takes integer codes; only unmatched queries get string normalization (done in Arrow)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.unknown_row = len(table) - 1
        self.columns = {c: (table[c].cat.codes.to_numpy(), table[c].cat.categories) for c in _STRING_COLUMNS}
        self.fallback = table["fallback"].to_numpy()
        self.path_length = table["path_length"].array
        self.min_score = table["min_score"].array
        self.tier = table["tier"].to_numpy()
        is_lower = table["lower"].to_numpy()
        self._offset = int(np.argmax(is_lower)) if is_lower.any() else len(table)
        keys = table["key"].to_numpy(dtype=object)
        self.exact = pd.Index(keys[: self._offset])
        self.lower = pd.Index(keys[self._offset : self.unknown_row])

    def positions(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of each query (the unknown row when unmatched) and how it matched (-1: not at all)."""
        pos = self.exact.get_indexer(queries)
        how = np.where(pos >= 0, 0, -1).astype(np.int8)
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            q = pa.array(queries[missing], type=pa.string())
            stripped = pc.replace_substring_regex(q, _STRIP, "")
            versioned = pc.not_equal(stripped, q).to_numpy(zero_copy_only=False)
            attempts = (
                (1, self.exact, stripped, 0, True),
                (2, self.lower, pc.utf8_lower(q), self._offset, False),
                (3, self.lower, pc.utf8_lower(stripped), self._offset, True),
            )
            for code, keys, candidates, offset, ensembl_only in attempts:
                todo = how[missing] < 0
                if ensembl_only:
                    todo &= versioned
                if not todo.any():
                    continue
                found = keys.get_indexer(candidates.filter(pa.array(todo)).to_numpy(zero_copy_only=False))
                rows = np.where(found >= 0, found + offset, -1)
                if ensembl_only:
                    rows = np.where((rows >= 0) & (self.tier[np.maximum(rows, 0)] == TIER_ENSEMBL), rows, -1)
                idx = missing[todo]
                hit = rows >= 0
                pos[idx[hit]], how[idx[hit]] = rows[hit], code
        pos[pos < 0] = self.unknown_row
        return pos, how

    def lookup(self, queries: Sequence[str]) -> pd.DataFrame:
        """Answer ``queries`` in order (see module docstring)."""
        queries = np.asarray(queries, dtype=object)
        pos, how = self.positions(queries)
        out: dict[str, Any] = {"query_id": queries}
        for col, (codes, categories) in self.columns.items():
            out[col] = pd.Categorical.from_codes(codes.take(pos), categories=categories)
        out["fallback"] = self.fallback.take(pos)
        out["path_length"] = self.path_length.take(pos)
        out["min_score"] = self.min_score.take(pos)
        synonym = self.tier.take(pos) == TIER_SYNONYM
        match = np.where(how < 0, -1, how + np.where(synonym, 4, 0))
        out["match"] = pd.Categorical.from_codes(match.astype(np.int8), categories=_MATCH_CATEGORIES)
        return pd.DataFrame(out, columns=RESULT_COLUMNS)


def lookup(exact: pd.DataFrame, lower: pd.DataFrame, queries: Sequence[str]) -> pd.DataFrame:
    """Answer ``queries`` from per-key answer frames (indexed by key, with a ``tier`` column), in order."""
    return AnswerTable(answer_table(exact, lower)).lookup(list(queries))
