"""Stable 64-bit hashes of Arrow strings, computed with NumPy straight from the Arrow buffers (no pandas, no Python
string per value).

The hash of a string under ``seed`` (a non-negative integer), with ``b_0 … b_{L-1}`` its UTF-8 bytes and all
arithmetic modulo 2**64::

    m = fmix64(2 * seed + 1) | 1
    h = fmix64(L * m + sum((b_j + 1) * m ** (j + 1) for j in range(L)))

``fmix64`` is MurmurHash3's finalizer (a bijection that spreads every input bit over the output). The multiplier
depends on the seed, so drawing another seed changes which strings collide, and the resolution index re-draws it
until its keys' hashes are distinct. Not a cryptographic hash: the index compares the stored key of every hit, so
a collision with an unknown name can never give a false answer.

A null hashes like the empty string. :func:`reference_hash` is the same definition one string at a time in plain
Python, for tests and for readers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_MASK = (1 << 64) - 1
_FMIX = (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)
_CHUNK = 1 << 14
"""Strings hashed at a time: their bytes and the temporaries (8 bytes per byte) stay in the CPU's caches."""


def string_hashes(strings: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """The 64-bit hash (module docstring) of each string of ``strings`` under ``seed``.

    Parameters
    ----------
    strings
        An Arrow ``string`` or ``large_string`` array (chunked or not); other types are cast to ``string``.
    seed
        A non-negative integer choosing the hash function.

    Returns
    -------
    numpy.ndarray
        ``uint64``, one hash per string, in order.
    """
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks() if strings.num_chunks else pa.array([], pa.string())
    if not (pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type)):
        strings = strings.cast(pa.string())
    multiplier = _multiplier(seed)
    out = np.empty(len(strings), dtype=np.uint64)
    for start in range(0, len(strings), _CHUNK):
        out[start : start + _CHUNK] = _hash_chunk(strings.slice(start, _CHUNK), multiplier)
    return out


def reference_hash(text: str | None, seed: int) -> int:
    """The hash of one string (module docstring), in plain Python integers."""
    m = _fmix64_int(2 * seed + 1) | 1
    data = (text or "").encode("utf-8")
    total = len(data) * m
    for j, byte in enumerate(data):
        total += (byte + 1) * pow(m, j + 1, 1 << 64)
    return _fmix64_int(total & _MASK)


def _multiplier(seed: int) -> np.uint64:
    if seed < 0:
        raise ValueError(f"hash seed must be >= 0, not {seed}")
    return np.uint64(_fmix64_int(2 * seed + 1) | 1)


def _hash_chunk(strings: pa.Array, multiplier: np.uint64) -> np.ndarray:
    """Hashes of one slice of strings: per-byte terms ``(b + 1) * m ** (position + 1)`` summed per string."""
    offsets, data = _offsets_and_bytes(strings)
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    if len(data):
        position = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        powers = np.cumprod(np.full(int(lengths.max()), multiplier, dtype=np.uint64))
        terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
        sums = np.add.reduceat(np.append(terms, np.uint64(0)), starts)  # an empty string's sum is fixed below
        sums[lengths == 0] = 0
    else:
        sums = np.zeros(len(lengths), dtype=np.uint64)
    return _fmix64(sums + lengths.astype(np.uint64) * multiplier)


def _offsets_and_bytes(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The value offsets (int64, starting at 0; nulls made empty) and the UTF-8 bytes of a string array slice."""
    n = len(strings)
    wide = pa.types.is_large_string(strings.type)
    buffers = strings.buffers()
    offsets = np.frombuffer(
        buffers[1], dtype=np.int64 if wide else np.int32, count=n + 1, offset=strings.offset * (8 if wide else 4)
    ).astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    offsets -= offsets[0]
    if strings.null_count:  # a null's slot may hold bytes: drop them
        valid, lengths = strings.is_valid().to_numpy(zero_copy_only=False), np.diff(offsets)
        data = data[np.repeat(valid, lengths)]
        offsets = np.concatenate([[0], np.cumsum(np.where(valid, lengths, 0))])
    return offsets, data


def _fmix64(h: np.ndarray) -> np.ndarray:
    shift = np.uint64(33)
    h = h ^ (h >> shift)
    h *= np.uint64(_FMIX[0])
    h ^= h >> shift
    h *= np.uint64(_FMIX[1])
    h ^= h >> shift
    return h


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * _FMIX[0]) & _MASK
    h ^= h >> 33
    h = (h * _FMIX[1]) & _MASK
    return h ^ (h >> 33)
