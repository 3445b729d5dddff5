"""Answer tables: the per-name answers of a conversion as Arrow columns, and the vectorized lookup over them.

A lookup of a batch of queries tries, in order:

1. the exact name;
2. an Ensembl ID with an unknown version suffix (``ENSG….99`` → ``ENSG…``): ``version_stripped``;
3. the lower-cased name: ``case_insensitive`` (``synonym_case_insensitive`` for synonyms);
4. lower-cased, version stripped;
5. otherwise 1:0 ``no_corresponding``.

Layout (two Arrow tables, memory-mapped from the resolution index's ``keys.arrow`` and ``answers.arrow``):

- *keys*: one row per exact key and one per lower-cased key (``lower``), sorted by ``hash`` — a 64-bit hash of the
  key's UTF-8 bytes (:mod:`.hashing`), seeded differently for the two key spaces so that both live in one sorted
  array; no two rows share a hash (the seeds are re-drawn at build time until they do not; the table's metadata
  holds them). ``row`` is the key's answer;
- *answers*: one row per answer (a lower-cased key that stands for a single exact key shares that key's row); the
  last row is the answer for unknown names. String columns are dictionary-encoded with sorted dictionaries.

A batch is answered without materializing the tables: the queries are hashed, found by binary search in the
``hash`` column, checked against the stored keys (so a hash collision with an unknown name cannot give a false
hit), and only the answer rows found are taken. Queries that miss get their version-stripped and lower-cased
candidates computed in Arrow and are resolved in one more hash + search pass over all candidates at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.convert.hashing import string_hashes
from idtrack_core.convert.name_kinds import TIER_ENSEMBL, TIER_SYNONYM
from idtrack_core.parallel import in_background

if TYPE_CHECKING:  # pandas loads when a pandas answer is asked for: lookups and the CSV writer need none
    import pandas as pd

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
ANSWER_COLUMNS = [
    "category",
    "target_ids",
    "ensembl_genes",
    "reason",
    "fallback",
    "tier",
    "matched_node",
    "path_length",
    "min_score",
    "bridge",
    "bridge_via",
]
"""Columns of the per-key answer frames :func:`answer_tables` takes (indexed by key)."""

_STRIP = r"\.\d+$"  # an unknown version suffix
_MATCH_KINDS = ["exact", "version_stripped", "case_insensitive", "case_insensitive_version_stripped"]
# category code = how the key matched (0-3), plus 4 when the matched name is a synonym
_MATCH_CATEGORIES = [*_MATCH_KINDS, "synonym", *(f"synonym_{k}" for k in _MATCH_KINDS[1:])]
_STRING_COLUMNS = ("category", "target_ids", "ensembl_genes", "reason", "matched_node", "bridge", "bridge_via")
_VOCABULARY_COLUMNS = ("category", "reason", "bridge")
"""Closed vocabularies: results carry every category of the index. The other string columns hold identifiers;
a result's categories are the values it holds."""
_HASH_SEEDS_META = b"idtrack.hash_seeds"


def candidate_keys(queries: Sequence[str]) -> tuple[list[str], list[str]]:
    """The exact and lower-cased keys the lookup may consult for ``queries``."""
    import pandas as pd

    q = pd.Series(list(queries), dtype=object).astype(str)
    stripped = q.str.replace(_STRIP, "", regex=True)
    exact = pd.unique(pd.concat([q, stripped]))
    lower = pd.unique(pd.concat([q.str.lower(), stripped.str.lower()]))
    return list(exact), list(lower)


def hash_seeds(salt: int) -> tuple[int, int]:
    """The hash seeds (:mod:`.hashing`) of the exact and of the lower-cased key space for ``salt``."""
    return 2 * salt, 2 * salt + 1


def space_hashes(keys: pa.Array, is_lower: np.ndarray, seeds: tuple[int, int]) -> np.ndarray:
    """The hash of each key in its key space: ``seeds[0]`` for exact keys, ``seeds[1]`` where ``is_lower``."""
    hashes = np.empty(len(keys), dtype=np.uint64)
    for space, seed in zip((False, True), seeds, strict=True):
        chosen = is_lower == space
        if chosen.all():
            hashes[:] = string_hashes(keys, seed)
        elif chosen.any():
            hashes[chosen] = string_hashes(keys.filter(pa.array(chosen)), seed)
    return hashes


@dataclass(frozen=True)
class AnswerTables:
    """The two tables of the layout above: hash-sorted ``keys`` and their ``answers``."""

    keys: pa.Table
    answers: pa.Table


def answer_tables(
    exact: pd.DataFrame, lower: pd.DataFrame, aliases: tuple[pa.Array, np.ndarray] | None = None
) -> AnswerTables:
    """The answer tables (see module docstring) from per-key answer frames indexed by key, each with
    :data:`ANSWER_COLUMNS` (as :func:`~idtrack_core.convert.keys.key_answers` makes them): exact keys, lower-cased
    keys, and ``aliases``: lower-cased keys that answer like an exact key (their keys, and that key's position in
    ``exact``)."""
    alias_keys, alias_rows = aliases if aliases is not None else (pa.array([], pa.string()), np.zeros(0, np.int64))
    keys = pa.concat_arrays([_arrow(exact.index), _arrow(lower.index), alias_keys.cast(pa.string())])
    n_exact, n_lower = len(exact), len(lower)
    is_lower = np.r_[np.zeros(n_exact, dtype=bool), np.ones(n_lower + len(alias_keys), dtype=bool)]
    rows = np.r_[np.arange(n_exact + n_lower), alias_rows].astype(np.int32)
    answers = in_background(_answers_table, exact, lower)  # independent of the keys: in a second process if free
    salt, hashes, order = _distinct_hashes(keys, is_lower)
    key_table = pa.table(
        {
            "hash": pa.array(hashes[order]),
            "key": keys.take(pa.array(order)),
            "lower": pa.array(is_lower[order]),
            "row": pa.array(rows[order]),
        }
    )
    metadata = {_HASH_SEEDS_META: json.dumps(list(hash_seeds(salt))).encode()}
    return AnswerTables(key_table.replace_schema_metadata(metadata), answers.result())


def _answers_table(exact: pd.DataFrame, lower: pd.DataFrame) -> pa.Table:
    """The answers table: the rows of ``exact``, then of ``lower``, then the answer for unknown names, each column
    in its stored type (:func:`_stored`)."""
    answers = {}
    for col in ANSWER_COLUMNS:
        parts = [_arrow(exact[col]), _arrow(lower[col])]
        parts.append(pa.array([_UNKNOWN.get(col)], type=parts[0].type))
        answers[col] = _stored(col, parts)
        del parts
    return pa.table(answers)


_UNKNOWN = {"category": "1:0", "target_ids": "", "ensembl_genes": "", "reason": "no_corresponding", "fallback": False}
_UNKNOWN |= {"tier": -1}


def _arrow(values: pd.Series | pd.Index) -> pa.Array:
    """A column or index as one Arrow array in its answer type (strings, bool, int8 tier, int64, float64)."""
    import pandas as pd

    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        array = pa.array(values.array if isinstance(values.dtype, pd.StringDtype) else values.to_numpy(), pa.string())
    elif values.dtype == bool:
        array = pa.array(values.to_numpy(dtype=bool))
    else:
        array = pa.array(values.array)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _distinct_hashes(keys: pa.Array, is_lower: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The first salt whose hashes of ``keys`` (per key space) are all distinct, those hashes and their order."""
    for salt in range(1000):
        hashes = space_hashes(keys, is_lower, hash_seeds(salt))
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        if not (ordered[1:] == ordered[:-1]).any():
            return salt, hashes, order
    raise AssertionError("no collision-free hash seeds among 1000 salts")


def _stored(name: str, parts: list[pa.Array]) -> pa.Array:
    """An answer column (given in parts, concatenated) in its stored type: strings dictionary-encoded with a sorted
    dictionary and the narrowest index type; ``tier`` int8, ``path_length`` int64, ``min_score`` float64."""
    if name not in _STRING_COLUMNS:
        kinds = {"fallback": pa.bool_(), "tier": pa.int8(), "path_length": pa.int64(), "min_score": pa.float64()}
        return pa.concat_arrays(parts).cast(kinds[name])
    encoded = pa.chunked_array(parts).dictionary_encode()  # one dictionary for all parts, no concatenated copy
    dictionary = encoded.chunk(0).dictionary
    by_value = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[by_value] = np.arange(len(dictionary))
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy() for c in encoded.chunks]).astype(np.int64)
    valid = codes >= 0
    indices = rank[np.maximum(codes, 0)] if len(rank) else np.zeros(len(codes), np.int64)
    index_type = np.int8 if len(rank) < 2**7 else np.int16 if len(rank) < 2**15 else np.int32
    return pa.DictionaryArray.from_arrays(
        pa.array(indices.astype(index_type), mask=~valid), dictionary.take(pa.array(by_value))
    )


class AnswerTable:
    """Vectorized lookups in answer tables (in memory or memory-mapped; see module docstring)."""

    def __init__(self, tables: AnswerTables) -> None:
        self.keys = _one_chunk(tables.keys)
        self.table = _one_chunk(tables.answers)
        self.unknown_row = self.table.num_rows - 1
        self.hash_seeds: tuple[int, int] = tuple(json.loads(self.keys.schema.metadata[_HASH_SEEDS_META]))
        self._hashes = _chunk_of(self.keys, "hash").to_numpy()
        self._keys = _chunk_of(self.keys, "key")
        self._rows = _chunk_of(self.keys, "row").to_numpy()

    @cached_property
    def _tier(self) -> np.ndarray:
        return _chunk_of(self.table, "tier").to_numpy()

    @cached_property
    def _lower(self) -> np.ndarray:
        return _chunk_of(self.keys, "lower").to_numpy(zero_copy_only=False)

    @cached_property
    def _vocabularies(self) -> dict[str, pd.CategoricalDtype]:
        import pandas as pd

        return {c: pd.CategoricalDtype(_chunk_of(self.table, c).dictionary.to_pandas()) for c in _VOCABULARY_COLUMNS}

    def _find(self, hashes: np.ndarray, keys: pa.Array, lower: np.ndarray) -> np.ndarray:
        """Answer row of each key (in the key space ``lower`` says), or -1."""
        if not len(hashes) or not len(self._hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        # needles in order of their top 16 bits (a radix sort) walk the sorted hashes cache-friendly
        order = np.argsort((hashes >> np.uint64(48)).astype(np.uint16), kind="stable")
        found = np.empty(len(hashes), dtype=np.int64)
        found[order] = np.searchsorted(self._hashes, hashes[order])
        np.minimum(found, len(self._hashes) - 1, out=found)
        hit = (self._hashes[found] == hashes) & (self._lower[found] == lower)
        check = np.flatnonzero(hit)  # same hash: confirm the stored key (an unknown name may share a hash)
        stored, given = self._keys.take(pa.array(found[check])), keys.take(pa.array(check))
        hit[check] = pc.fill_null(pc.equal(stored, given), False).to_numpy(zero_copy_only=False)
        return np.where(hit, self._rows[found], -1)

    def positions(self, text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Answer row of each query (the unknown row when unmatched) and how it matched (-1: not at all).

        ``text`` holds the queries as an Arrow string array."""
        exact_seed, _ = self.hash_seeds
        pos = self._find(string_hashes(text, exact_seed), text, np.zeros(len(text), dtype=bool))
        how = np.where(pos >= 0, 0, -1).astype(np.int8)
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            rows, codes = self._resolve_misses(text.take(pa.array(missing)))
            found = rows >= 0
            pos[missing[found]], how[missing[found]] = rows[found], codes[found]
        pos[pos < 0] = self.unknown_row
        return pos, how

    def _resolve_misses(self, missed: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """For names without an exact match: the best of their version-stripped, lower-cased and lower-cased
        version-stripped candidates, searched in one pass. Returns (row or -1, match code)."""
        stripped = pc.replace_substring_regex(missed, _STRIP, "")
        versioned = np.flatnonzero(pc.fill_null(pc.not_equal(stripped, missed), False).to_numpy(zero_copy_only=False))
        every = np.arange(len(missed))
        kinds = [(1, versioned, stripped), (2, every, pc.utf8_lower(missed)), (3, versioned, pc.utf8_lower(stripped))]
        owner = np.concatenate([which for _, which, _ in kinds])
        code = np.concatenate([np.full(len(which), c, dtype=np.int8) for c, which, _ in kinds])
        candidates = pa.concat_arrays([values.take(pa.array(which)) for _, which, values in kinds])
        lower = code >= 2
        hashes = space_hashes(candidates, lower, self.hash_seeds)
        rows = self._find(hashes, candidates, lower)
        ensembl_only = code != 2  # a stripped version suffix only makes sense on an Ensembl ID
        rows[ensembl_only & (self._tier[np.maximum(rows, 0)] != TIER_ENSEMBL)] = -1
        best = np.full(len(missed), -1, dtype=np.int64)
        how = np.full(len(missed), -1, dtype=np.int8)
        for c in (3, 2, 1):  # the best kind is written last
            sel = (code == c) & (rows >= 0)
            best[owner[sel]], how[owner[sel]] = rows[sel], c
        return best, how

    def lookup_arrow(self, queries: Sequence[str]) -> pa.Table:
        """Answer ``queries`` in order as an Arrow table of :data:`RESULT_COLUMNS` (string answers as dictionary
        arrays over the index's dictionaries, ``match`` over the match kinds): what :meth:`lookup` turns into
        pandas, and what a CSV writer can use without it."""
        text = _query_texts(queries)
        pos, how = self.positions(text)
        answer_columns = [*_STRING_COLUMNS, "fallback", "tier", "path_length", "min_score"]
        taken = self.table.select(answer_columns).take(pa.array(pos))
        synonym = _chunk_of(taken, "tier").to_numpy() == TIER_SYNONYM
        match = np.where(how < 0, 0, how + np.where(synonym, 4, 0)).astype(np.int8)
        columns = {"query_id": text, **{c: _chunk_of(taken, c) for c in RESULT_COLUMNS[1:] if c != "match"}}
        columns["match"] = pa.DictionaryArray.from_arrays(pa.array(match, mask=how < 0), pa.array(_MATCH_CATEGORIES))
        return pa.table({c: columns[c] for c in RESULT_COLUMNS})

    def lookup(self, queries: Sequence[str]) -> pd.DataFrame:
        """Answer ``queries`` in order (see module docstring): one row each, :data:`RESULT_COLUMNS`.

        ``query_id`` holds the queries as given; string answers are categoricals (``category``, ``reason`` and
        ``bridge`` over every value the index has, the identifier columns over the values of this answer)."""
        queries = np.asarray(queries, dtype=object)
        return self.frame(self.lookup_arrow(queries), queries)

    def frame(self, answers: pa.Table, queries: np.ndarray | None = None) -> pd.DataFrame:
        """An answer of :meth:`lookup_arrow` as the pandas table :meth:`lookup` returns."""
        import pandas as pd

        if queries is None:
            queries = _chunk_of(answers, "query_id").to_numpy(zero_copy_only=False)
        out: dict[str, Any] = {"query_id": queries}
        for col in _STRING_COLUMNS:
            out[col] = self._categorical(col, _chunk_of(answers, col))
        out["fallback"] = _chunk_of(answers, "fallback").to_numpy(zero_copy_only=False)
        out["path_length"] = pd.Int64Dtype().__from_arrow__(_chunk_of(answers, "path_length"))
        out["min_score"] = pd.Float64Dtype().__from_arrow__(_chunk_of(answers, "min_score"))
        match = _chunk_of(answers, "match").indices.fill_null(-1).to_numpy()
        out["match"] = pd.Categorical.from_codes(match, categories=_MATCH_CATEGORIES)
        return pd.DataFrame(out, columns=RESULT_COLUMNS)

    def _categorical(self, col: str, values: pa.DictionaryArray) -> pd.Categorical:
        """A taken dictionary column as a pandas Categorical (see :data:`_VOCABULARY_COLUMNS`)."""
        import pandas as pd

        codes = values.indices.fill_null(-1).to_numpy()
        if col in _VOCABULARY_COLUMNS:
            return pd.Categorical.from_codes(codes, dtype=self._vocabularies[col], validate=False)
        known = codes[codes >= 0]
        if len(known) * 8 < len(values.dictionary):  # a few values of a large dictionary: sort them
            used = np.unique(known)
            remapped = np.searchsorted(used, known)
        else:  # many: count over the dictionary
            present = np.bincount(known, minlength=len(values.dictionary)) > 0
            used = np.flatnonzero(present)
            remapped = (np.cumsum(present) - 1)[known]
        categories = values.dictionary.take(pa.array(used)).to_numpy(zero_copy_only=False)
        mapped = np.full(len(codes), -1, dtype=np.int64)
        mapped[codes >= 0] = remapped
        return pd.Categorical.from_codes(mapped, dtype=_distinct_categories(categories), validate=False)


def _distinct_categories(values: np.ndarray) -> pd.CategoricalDtype:
    """The categorical dtype over ``values``, which are distinct and not null (a part of an Arrow dictionary).

    pandas checks both when the dtype is made, by hashing every value (≈0.1–0.2 s of a 1 M-query lookup, whose
    categories are up to 640k names); the index is told instead, in the cache where pandas keeps what it learnt of
    an index (``Index._cache``, pandas 2). Where that cache is missing, pandas checks as usual.
    """
    import pandas as pd

    index = pd.Index(values, dtype=object)
    known = getattr(index, "_cache", None)
    if isinstance(known, dict):
        known.update(is_unique=True, hasnans=False)
    return pd.CategoricalDtype(index)


def _query_texts(queries: Sequence[object]) -> pa.Array:
    """Queries as an Arrow string array (None and NaN stay missing; other objects become their text)."""
    try:
        return pa.array(queries, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        texts = [q if q is None or isinstance(q, str) else str(q) for q in queries]
        return pa.array(texts, type=pa.string(), from_pandas=True)


def _chunk_of(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _one_chunk(table: pa.Table) -> pa.Table:
    return table.combine_chunks() if any(c.num_chunks > 1 for c in table.columns) else table


def lookup(exact: pd.DataFrame, lower: pd.DataFrame, queries: Sequence[str]) -> pd.DataFrame:
    """Answer ``queries`` from per-key answer frames (indexed by key, with :data:`ANSWER_COLUMNS`), in order."""
    return AnswerTable(answer_tables(exact, lower)).lookup(list(queries))
