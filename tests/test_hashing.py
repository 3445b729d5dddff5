"""The vectorized string hash of the resolution index against its one-string-at-a-time definition."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from idtrack_core.convert.hashing import reference_hash, string_hashes

WORDS = ["", "TP53", "tp53", "ENSG00000141510", "ENSG00000141510.19", "Ångström", "β-actin", "a", "\t\\N", "x" * 300]


def test_every_string_hashes_as_its_definition_says():
    for seed in (0, 1, 7, 1000):
        got = string_hashes(pa.array(WORDS), seed)
        assert got.dtype == np.uint64
        assert list(got) == [reference_hash(w, seed) for w in WORDS]


def test_slices_chunks_large_strings_and_nulls_hash_like_their_text():
    words = [f"GENE{i % 977}{'.' * (i % 5)}" for i in range(40_000)] + WORDS  # spans several internal chunks
    expected = np.array([reference_hash(w, 3) for w in words], dtype=np.uint64)
    assert (string_hashes(pa.array(words), 3) == expected).all()
    assert (string_hashes(pa.array(words).slice(5, 100), 3) == expected[5:105]).all()
    assert (string_hashes(pa.array(words, pa.large_string()), 3) == expected).all()
    assert (string_hashes(pa.chunked_array([words[:10], words[10:]]), 3) == expected).all()
    with_null = pa.array(["TP53", None, ""])
    assert list(string_hashes(with_null, 3)) == [
        reference_hash("TP53", 3),
        reference_hash("", 3),
        reference_hash("", 3),
    ]


def test_seeds_change_the_function_and_distinct_keys_rarely_collide():
    keys = pa.array([f"ENSG{i:011d}" for i in range(200_000)] + [f"SYMBOL{i}" for i in range(200_000)])
    a, b = string_hashes(keys, 0), string_hashes(keys, 1)
    assert len(np.unique(a)) == len(np.unique(b)) == len(keys)
    assert not (a == b).any()
    assert len(np.unique(a >> np.uint64(48))) > 60_000  # the top bits are spread (the lookup sorts needles by them)


def test_a_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        string_hashes(pa.array(["x"]), -1)


def test_a_null_hashes_as_empty_even_when_its_slot_holds_bytes():
    offsets = pa.py_buffer(np.array([0, 3, 6, 8], dtype=np.int32).tobytes())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    strings = pa.StringArray.from_buffers(3, offsets, pa.py_buffer(b"abcXYZde"), validity, null_count=1)
    expected = [reference_hash("abc", 3), reference_hash("", 3), reference_hash("de", 3)]
    assert list(string_hashes(strings, 3)) == expected
