"""Integer codes for the strings of many release extracts, one batch (one extract's values) at a time.

Codes are assigned in order of first appearance, with Arrow hash lookups (``index_in``) instead of a Python dict
per value, so a snapshot build interns millions of identifiers and names without touching them one by one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TYPE_SHIFT = 40  # an object code is (type number << 40) | (code within the type) until the final numbering


def plain_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one ``string`` array (chunks combined, large strings cast down)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    return values if values.type == pa.string() else values.cast(pa.string())


class Interner:
    """Distinct strings numbered in order of first appearance."""

    def __init__(self) -> None:
        self.values = pa.array([], type=pa.string())

    def __len__(self) -> int:
        return len(self.values)

    def codes(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The code of each value (new values numbered after the known ones, in order of appearance)."""
        return self._codes([plain_strings(values)])

    def _codes(self, arrays: list[pa.Array]) -> np.ndarray:
        """:meth:`codes` of the values of ``arrays`` one after the other (concatenated once, with the known)."""
        known = len(self.values)
        encoded = pa.concat_arrays([self.values, *arrays]).dictionary_encode()
        self.values = encoded.dictionary  # the known values first (they are distinct), then the new ones
        return encoded.indices.to_numpy()[known:].astype(np.int64)

    def ranks(self) -> np.ndarray:
        """Per code, the rank of its string in sorted (code point) order."""
        rank = np.empty(len(self.values), dtype=np.int64)
        rank[pc.sort_indices(self.values).to_numpy()] = np.arange(len(self.values))
        return rank

    def batch(self, parts: list[pa.Array | pa.ChunkedArray]) -> list[np.ndarray]:
        """:meth:`codes` of several arrays, looked up as one batch (in the order given)."""
        parts = [plain_strings(p) for p in parts]
        codes = self._codes(parts) if parts else np.zeros(0, dtype=np.int64)
        return np.split(codes, np.cumsum([len(p) for p in parts])[:-1])


class ObjectInterner:
    """Ensembl objects keyed by (type, stable id) — one stable id may name a gene and a transcript in quirky
    databases. Codes are provisional until :meth:`final_codes`, which numbers the objects by type, then id."""

    def __init__(self) -> None:
        self._by_type: dict[str, Interner] = {}

    def batch(
        self, refs: list[tuple[pa.Array | pa.ChunkedArray, str | pa.Array | pa.ChunkedArray]]
    ) -> list[np.ndarray]:
        """Provisional codes of (stable ids, their type or per-id types) pairs, looked up as one batch per type."""
        out = [np.empty(len(ids), dtype=np.int64) for ids, _ in refs]
        pieces: dict[str, list[tuple[int, np.ndarray | None, pa.Array]]] = {}
        for i, (ids, types) in enumerate(refs):
            ids = plain_strings(ids)
            if isinstance(types, str):
                pieces.setdefault(types, []).append((i, None, ids))
                continue
            types = plain_strings(types)
            for typ in pc.unique(types).to_pylist():
                mask = pc.equal(types, typ).to_numpy(zero_copy_only=False)
                pieces.setdefault(typ, []).append((i, mask, ids.filter(pa.array(mask))))
        for typ, parts in pieces.items():
            number = list(self._by_type).index(typ) if typ in self._by_type else len(self._by_type)
            interner = self._by_type.setdefault(typ, Interner())
            for (i, mask, _), codes in zip(parts, interner.batch([p for _, _, p in parts]), strict=True):
                codes = (number << _TYPE_SHIFT) | codes
                if mask is None:
                    out[i] = codes
                else:
                    out[i][mask] = codes
        return out

    def final(self) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Every object's type and stable id, sorted by type then id, and per type number the final code of each
        provisional code within the type."""
        names = sorted(self._by_type)
        types, ids, remap = [], [], {}
        offset = 0
        for typ in names:
            values = self._by_type[typ].values
            order = pc.sort_indices(values).to_numpy()
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            remap[list(self._by_type).index(typ)] = rank + offset
            types.append(np.full(len(order), typ, dtype=object))
            ids.append(values.take(pa.array(order)).to_numpy(zero_copy_only=False))
            offset += len(order)
        empty = np.zeros(0, dtype=object)
        return np.concatenate(types or [empty]), np.concatenate(ids or [empty]), remap

    @staticmethod
    def final_codes(codes: np.ndarray, remap: dict[int, np.ndarray]) -> np.ndarray:
        """Final codes of provisional ``codes`` (-1 stays -1), looked up in one table of every type's codes."""
        out = np.full(len(codes), -1, dtype=np.int64)
        if not remap:
            return out
        numbers = range(max(remap) + 1)
        tables = [remap.get(t, np.zeros(0, dtype=np.int64)) for t in numbers]
        starts = np.cumsum([0, *(len(table) for table in tables[:-1])])
        known = codes >= 0
        valid = codes[known]
        out[known] = np.concatenate(tables)[starts[valid >> _TYPE_SHIFT] + (valid & ((1 << _TYPE_SHIFT) - 1))]
        return out
