"""Answers per name (key), column by column: the step from name rows to the rows of a resolution index.

For the name rows of some keys (a :class:`~idtrack_core.convert.names.NameTable`, sorted by key):

1. each key's starting nodes (:func:`select_starts`): external names count at the release nearest to the anchor
   (where ``from_release`` stands in history, else where the target does) at which they hold; among the links
   nearest the anchor the best tier wins (Ensembl ID, then primary name, then synonym), then the later release.
   Ensembl IDs are anchored at ``from_release`` when they existed then, else over their whole life;
2. the answer of every distinct start (object, time span), computed once (:meth:`Resolver.start_answers`);
3. per key: the answer of its single start, or the union of its starts' answers (:func:`merge_answers`) — of those
   reaching a primary-assembly gene when some do (:meth:`Resolver.prefer_primary`);
4. per key: ``matched_node``, the distinct nodes of its starts joined by ``;`` in row order.

Every step is vectorized over all keys; only keys with several starts or nodes (a few percent) are merged one by
one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.convert.name_kinds import TIER_ENSEMBL
from idtrack_core.convert.names import NameTable
from idtrack_core.convert.starts import StartAnswers, StringPool, merge_answers

if TYPE_CHECKING:
    from idtrack_core.convert.resolve import Resolver

_OUTPUT = ["category", "target_ids", "ensembl_genes", "reason", "fallback", "tier", "matched_node"]
_OUTPUT += ["path_length", "min_score", "bridge", "bridge_via"]


def select_starts(
    rows: pd.DataFrame, from_time: float | None, target_time: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each key's starting rows (step 1 of the module docstring); ``from_time`` and ``target_time`` are where
    ``from_release`` (None: not given) and the target stand in history.

    Returns the positions of the chosen rows (in order) and their anchor times ``lo``, ``hi``.
    """
    first, last = rows["first"].to_numpy(), rows["last"].to_numpy()
    tier = rows["tier"].to_numpy()
    ensembl = tier == TIER_ENSEMBL
    frm = from_time
    anchor = float(frm if frm is not None else target_time)
    clamped = np.clip(anchor, first, last)
    lo = np.where(ensembl, first, clamped)
    hi = np.where(ensembl, last, clamped)
    if frm is not None:
        inside = ensembl & (first <= frm) & (frm <= last)
        lo, hi = np.where(inside, float(frm), lo), np.where(inside, float(frm), hi)
    distance = np.where(ensembl, 0.0, np.abs(clamped - anchor))
    release = np.where(ensembl, 0.0, clamped)
    starts = _group_starts(rows["kid"].to_numpy())
    keep = np.ones(len(rows), dtype=bool)
    for values, best in ((distance, np.minimum), (tier.astype(np.float64), np.minimum), (-release, np.minimum)):
        masked = np.where(keep, values, np.inf)
        group_best = best.reduceat(masked, starts)
        keep &= values == np.repeat(group_best, np.diff(np.r_[starts, len(rows)]))
    chosen = np.flatnonzero(keep)
    return chosen, lo[chosen], hi[chosen]


def _group_starts(kid: np.ndarray) -> np.ndarray:
    """Positions where a new key begins (rows sorted by ``kid``)."""
    return np.flatnonzero(np.r_[True, kid[1:] != kid[:-1]]) if len(kid) else np.zeros(0, dtype=np.int64)


def key_answers(resolver: Resolver, rows: pd.DataFrame, last: bool = False) -> pd.DataFrame:
    """Answers for the keys of ``rows`` (name rows sorted by ``kid``): a frame indexed by key with the answer
    columns (strings Arrow-backed, ``path_length`` Int64, ``min_score`` Float64; see module docstring). With
    ``last`` the resolver forgets its walks once the starts are answered (the assembly needs the memory)."""
    if rows.empty:
        return _empty_answers()
    chosen, lo, hi = select_starts(rows, resolver.from_time, resolver.target_time)
    kid = rows["kid"].to_numpy()[chosen]
    obj = rows["obj"].to_numpy(dtype=np.int64)[chosen]
    start, u_obj, u_lo, u_hi = _distinct_starts(obj, lo, hi)
    pa.default_memory_pool().release_unused()  # before the walks (and the bridge index) need memory
    answers = resolver.start_answers(u_obj, u_lo, u_hi)
    if last:
        resolver.forget_walks()
    pools = resolver.strings
    heads = _group_starts(kid)  # the first chosen row of each key
    per_key = _per_key_starts(kid, start, heads)
    columns = _single_start_columns(answers, per_key)
    _merge_several_starts(resolver, answers, kid, start, heads, per_key, columns)
    n_targets = _target_counts(pools["target_ids"])[columns["target_ids"]]
    out = {
        "category": pa.array(np.where(n_targets == 0, "1:0", np.where(n_targets == 1, "1:1", "1:n"))),
        "target_ids": pools["target_ids"].arrow(columns["target_ids"]),
        "ensembl_genes": pools["ensembl_genes"].arrow(columns["ensembl_genes"]),
        "reason": pa.array(np.where(n_targets == 0, "no_conversion", None), type=pa.string()),
        "fallback": columns["fallback"],
        "tier": rows["tier"].to_numpy()[chosen[heads]].astype(np.int8),
        "matched_node": _matched_nodes(_arrow(rows["node"]), rows["node_id"].to_numpy(), chosen, kid),
        "path_length": pd.arrays.IntegerArray(
            np.maximum(columns["path_length"], 0).astype(np.int64), columns["path_length"] < 0
        ),
        "min_score": pd.arrays.FloatingArray(
            np.nan_to_num(columns["min_score"]).astype(np.float64), np.isnan(columns["min_score"])
        ),
        "bridge": pools["bridge"].arrow(columns["bridge"]),
        "bridge_via": pools["bridge_via"].arrow(columns["bridge_via"]),
    }
    keys = _arrow(rows["key"]).take(pa.array(chosen[heads]))
    return pd.DataFrame(
        {c: pd.arrays.ArrowStringArray(v) if isinstance(v, pa.Array) else v for c, v in out.items()},
        index=pd.Index(pd.arrays.ArrowStringArray(keys), name="key"),
    )


def lowercased_key_answers(resolver: Resolver, names: NameTable) -> tuple[pd.DataFrame, tuple[pa.Array, np.ndarray]]:
    """Answers of the lower-cased keys of ``names`` (whose exact keys :func:`key_answers` answered in key order).

    A lower-cased key that stands for a single exact key has that key's rows, in the same order, hence its answer:
    it becomes an alias of the exact key's answer. Only lower-cased keys that merge several exact keys (a few
    hundred in the human snapshot) are resolved.

    Returns the answers of the merged keys and the aliases (lower-cased keys, positions among the exact keys).
    """
    kid = names.rows["kid"].to_numpy()
    heads = _group_starts(kid)
    lowered = pc.utf8_lower(_arrow(names.rows["key"]).take(pa.array(heads)))
    encoded = lowered.dictionary_encode()
    group = encoded.indices.to_numpy()
    single = np.bincount(group, minlength=len(encoded.dictionary))[group] == 1
    aliases = (lowered.filter(pa.array(single)), np.flatnonzero(single))
    merged = np.isin(kid, kid[heads[~single]])
    return key_answers(resolver, NameTable(names.rows[merged].reset_index(drop=True)).lowercased().rows), aliases


def _empty_answers() -> pd.DataFrame:
    strings = {c: pd.array([], dtype=pd.StringDtype("pyarrow")) for c in _OUTPUT}
    typed = {"fallback": np.zeros(0, bool), "tier": np.zeros(0, np.int8)}
    typed |= {"path_length": pd.array([], dtype="Int64"), "min_score": pd.array([], dtype="Float64")}
    index = pd.Index(pd.array([], dtype=pd.StringDtype("pyarrow")), name="key")
    return pd.DataFrame({**strings, **typed}, index=index)[_OUTPUT]


def _arrow(column: pd.Series) -> pa.Array:
    array = pa.array(column.array, type=pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _distinct_starts(
    obj: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's start id and the distinct starts (object, lo, hi)."""
    lo_values, lo_code = np.unique(lo, return_inverse=True)
    hi_values, hi_code = np.unique(hi, return_inverse=True)
    combined = (obj * len(lo_values) + lo_code) * len(hi_values) + hi_code
    start, unique = pd.factorize(combined)
    u_obj = unique // (len(lo_values) * len(hi_values))
    return start, u_obj, lo_values[(unique // len(hi_values)) % len(lo_values)], hi_values[unique % len(hi_values)]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _per_key_starts(kid: np.ndarray, start: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Per key: its start when it has exactly one distinct start, else -1."""
    n_starts = start.max() + 1
    pairs = _distinct(kid * n_starts + start)
    pair_kid = pairs // n_starts
    first = np.r_[True, pair_kid[1:] != pair_kid[:-1]]
    counts = np.diff(np.r_[np.flatnonzero(first), len(pairs)])
    return np.where(counts == 1, pairs[first] % n_starts, -1)


def _single_start_columns(answers: StartAnswers, per_key: np.ndarray) -> dict[str, np.ndarray]:
    at = np.maximum(per_key, 0)
    names = {"genes": "ensembl_genes", "targets": "target_ids", "bridge": "bridge", "bridge_via": "bridge_via"}
    columns = {out: getattr(answers, name)[at].copy() for name, out in names.items()}
    for name in ("fallback", "path_length", "min_score"):
        columns[name] = getattr(answers, name)[at].copy()
    return columns


def _merge_several_starts(
    resolver: Resolver,
    answers: StartAnswers,
    kid: np.ndarray,
    start: np.ndarray,
    heads: np.ndarray,
    per_key: np.ndarray,
    columns: dict[str, np.ndarray],
) -> None:
    """Fill the columns of keys with several distinct starts with the union of their answers (those reaching a
    primary-assembly gene, when some do)."""
    pools = resolver.strings
    ends = np.r_[heads[1:], len(kid)]
    for k in np.flatnonzero(per_key < 0):
        several = [answers.answer(int(s), pools) for s in sorted(set(start[heads[k] : ends[k]]))]
        merged = merge_answers(resolver.prefer_primary(several))
        columns["ensembl_genes"][k] = pools["ensembl_genes"].code(";".join(merged.ensembl_genes))
        columns["target_ids"][k] = pools["target_ids"].code(";".join(merged.target_ids))
        columns["fallback"][k] = merged.fallback
        columns["path_length"][k] = -1 if merged.path_length is None else merged.path_length
        columns["min_score"][k] = np.nan if merged.min_score is None else merged.min_score
        columns["bridge"][k] = pools["bridge"].code(merged.bridge)
        columns["bridge_via"][k] = pools["bridge_via"].code(merged.bridge_via)


def _target_counts(pool: StringPool) -> np.ndarray:
    """Number of ``;``-separated ids in each string of the pool (0 for the empty string)."""
    strings = pa.array(pool.strings, type=pa.string())
    separators = pc.count_substring(strings, ";").to_numpy()
    return np.where(pc.utf8_length(strings).to_numpy() == 0, 0, separators + 1)


def _matched_nodes(node: pa.Array, node_id: np.ndarray, chosen: np.ndarray, kid: np.ndarray) -> pa.Array:
    """Per key: the distinct nodes of its chosen rows (``chosen``, with keys ``kid``) in row order, joined by ``;``."""
    pair = kid * (int(node_id.max()) + 1) + node_id[chosen]
    by_pair = np.argsort(pair, kind="stable")
    first_of_pair = np.sort(by_pair[np.r_[True, pair[by_pair][1:] != pair[by_pair][:-1]]])
    del pair, by_pair
    order = chosen[first_of_pair]  # the first row of each distinct (key, node), in row order
    key_of = kid[first_of_pair]
    starts = _group_starts(key_of)
    counts = np.diff(np.r_[starts, len(order)])
    picked = node.take(pa.array(order[starts]))
    if not (counts > 1).any():
        return picked
    several = counts > 1
    joined = _joined_lists(node.take(pa.array(order[np.repeat(several, counts)])), counts[several])
    positions = np.arange(len(starts))
    positions[np.flatnonzero(several)] = len(starts) + np.arange(len(joined))
    return pa.concat_arrays([picked, joined]).take(pa.array(positions))


def _joined_lists(values: pa.Array, counts: np.ndarray) -> pa.Array:
    """``values`` cut into consecutive lists of ``counts`` strings, each joined by ``;`` (in Arrow)."""
    offsets = pa.array(np.r_[0, np.cumsum(counts)], type=pa.int64())
    return pc.binary_join(pa.LargeListArray.from_arrays(offsets, values), ";")
