"""The resolution index's lookup (memory-mapped Arrow, hashed keys, one pass for misses) answers exactly like the
previous pandas lookup, and its CSV is pandas' CSV byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from idtrack_core.cli.args import csv_bytes
from idtrack_core.convert import RESULT_COLUMNS, ResolutionIndex
from idtrack_core.convert.answers import _MATCH_CATEGORIES, _STRIP, AnswerTable, AnswerTables, hash_seeds
from idtrack_core.convert.hashing import reference_hash
from idtrack_core.convert.name_kinds import TIER_ENSEMBL, TIER_SYNONYM

_STRINGS = ("category", "target_ids", "ensembl_genes", "reason", "matched_node", "bridge", "bridge_via")


# ----------------------------------------------------------------------- the previous lookup, as a reference
def legacy_table(index: ResolutionIndex) -> pd.DataFrame:
    """The previous index layout: one row per key with its answer (exact keys, then lower-cased keys), then the
    unknown row; categorical strings."""
    keys, answers = index.keys.to_pandas(), index.table.to_pandas()
    body = pd.concat([keys[["key", "lower"]], answers.iloc[keys["row"].to_numpy()].reset_index(drop=True)], axis=1)
    unknown = answers.iloc[-1:].assign(key="", lower=True)
    table = pd.concat([body[~body["lower"]], body[body["lower"]], unknown], ignore_index=True)
    for col in _STRINGS:
        table[col] = table[col].astype(object).astype("category")
    return table.astype({"path_length": "Int64", "min_score": "Float64", "tier": "int8", "fallback": bool})


class LegacyAnswers:
    """The lookup the resolution index had before (pandas hash indexes, up to three sequential miss passes)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.unknown_row = len(table) - 1
        self.columns = {c: (table[c].cat.codes.to_numpy(), table[c].cat.categories) for c in _STRINGS}
        self.fallback = table["fallback"].to_numpy()
        self.path_length, self.min_score = table["path_length"].array, table["min_score"].array
        self.tier = table["tier"].to_numpy()
        is_lower = table["lower"].to_numpy()
        self.offset = int(np.argmax(is_lower))
        keys = table["key"].to_numpy(dtype=object)
        self.exact, self.lower = pd.Index(keys[: self.offset]), pd.Index(keys[self.offset : self.unknown_row])

    def lookup(self, queries: list[str]) -> pd.DataFrame:
        queries = np.asarray(queries, dtype=object)
        pos = self.exact.get_indexer(queries)
        how = np.where(pos >= 0, 0, -1).astype(np.int8)
        missing = np.flatnonzero(pos < 0)
        q = pa.array(queries[missing], type=pa.string())
        stripped = pc.replace_substring_regex(q, _STRIP, "")
        versioned = pc.not_equal(stripped, q).to_numpy(zero_copy_only=False)
        attempts = (
            (1, self.exact, stripped, 0, True),
            (2, self.lower, pc.utf8_lower(q), self.offset, False),
            (3, self.lower, pc.utf8_lower(stripped), self.offset, True),
        )
        for code, keys, candidates, offset, ensembl_only in attempts:
            todo = (how[missing] < 0) & (versioned if ensembl_only else True)
            found = keys.get_indexer(candidates.filter(pa.array(todo)).to_numpy(zero_copy_only=False))
            rows = np.where(found >= 0, found + offset, -1)
            if ensembl_only:
                rows = np.where((rows >= 0) & (self.tier[np.maximum(rows, 0)] == TIER_ENSEMBL), rows, -1)
            idx, hit = missing[todo], rows >= 0
            pos[idx[hit]], how[idx[hit]] = rows[hit], code
        pos[pos < 0] = self.unknown_row
        out = {"query_id": queries}
        for col, (codes, categories) in self.columns.items():
            out[col] = pd.Categorical.from_codes(codes.take(pos), categories=categories)
        out["fallback"] = self.fallback.take(pos)
        out["path_length"], out["min_score"] = self.path_length.take(pos), self.min_score.take(pos)
        synonym = self.tier.take(pos) == TIER_SYNONYM
        match = np.where(how < 0, -1, how + np.where(synonym, 4, 0))
        out["match"] = pd.Categorical.from_codes(match.astype(np.int8), categories=_MATCH_CATEGORIES)
        return pd.DataFrame(out, columns=RESULT_COLUMNS)


# ------------------------------------------------------------------------------------------------ queries
@pytest.fixture(scope="module")
def mixed_queries(human_hgnc_index: ResolutionIndex) -> list[str]:
    """Exact names of every kind, then the same names lower-cased, upper-cased, with unknown version suffixes,
    synonyms, junk and edge cases."""
    rng = np.random.default_rng(12)
    k = human_hgnc_index.keys
    keys = k.column("key").to_numpy(zero_copy_only=False)
    exact = keys[~k.column("lower").to_numpy(zero_copy_only=False)]
    tier = human_hgnc_index.table.column("tier").to_numpy()[k.column("row").to_numpy()]
    synonyms = keys[tier == TIER_SYNONYM]
    genes = exact[np.char.startswith(exact.astype(str), "ENSG")]
    names = rng.choice(exact, 3000)
    junk = ["".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), int(n))) for n in rng.integers(4, 11, 400)]
    queries = [
        *names,
        *(s.lower() for s in rng.choice(exact, 800)),
        *(s.upper() for s in rng.choice(exact, 400)),
        *(f"{g}.99" for g in rng.choice(genes, 500)),
        *(f"{g.lower()}.7" for g in rng.choice(genes, 200)),
        *rng.choice(synonyms, 500),
        *(s.lower() for s in rng.choice(synonyms, 200)),
        *junk,
        *["", "TP53", "tp53", "Tp53", "TP53.1", "ENSG00000141510", "ENSG00000141510.99", "ensg00000141510.99"],
        *["NOT_A_GENE", "X.1.2", "ENSG00000141510.", ".5", "a,b", 'q"uote', "ÄÖÜ", "tp53 ", " TP53"],
    ]
    return [str(q) for q in rng.permutation(np.asarray(queries, dtype=object))]


# ----------------------------------------------------------------------------------------------- the tests
def test_lookup_equals_the_previous_lookup_on_the_human_index(human_hgnc_index, mixed_queries, tmp_path):
    human_hgnc_index.write(str(tmp_path / "index"))
    mapped = ResolutionIndex.read(str(tmp_path / "index"))  # memory-mapped
    new = mapped.lookup(mixed_queries)
    old = LegacyAnswers(legacy_table(human_hgnc_index)).lookup(mixed_queries)
    assert list(new.columns) == list(old.columns) == RESULT_COLUMNS
    for col in RESULT_COLUMNS:
        a, b = new[col], old[col]
        assert a.dtype.name == b.dtype.name, col
        same = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
        assert same.all(), (col, a[~same].head(), b[~same].head())
        if col in ("category", "reason", "bridge", "match"):  # closed vocabularies: the categories too
            assert list(a.cat.categories) == list(b.cat.categories), col
        elif a.dtype.name == "category":  # identifiers: the categories are the values present
            assert list(a.cat.categories) == sorted(set(a.dropna().astype(str))), col
    kinds = set(new["match"].dropna().astype(str))
    assert {"exact", "version_stripped", "case_insensitive", "synonym", "synonym_case_insensitive"} <= kinds
    assert (new["reason"] == "no_corresponding").sum() >= 300  # the junk
    pd.testing.assert_frame_equal(new, human_hgnc_index.lookup(mixed_queries))  # in memory = mapped


def test_a_hash_hit_with_another_key_is_a_miss(human_hgnc_index):
    """Hashes only find candidates: the stored key must equal the query (here a key is replaced, its hash kept)."""
    k = human_hgnc_index.keys
    row = int(np.flatnonzero(k.column("key").to_numpy(zero_copy_only=False) == "TP53")[0])
    keys = k.column("key").to_pylist()
    keys[row] = "TP53-NOT"
    changed = k.set_column(k.schema.get_field_index("key"), "key", pa.array(keys))
    answers = AnswerTable(AnswerTables(changed, human_hgnc_index.table))
    before = human_hgnc_index.lookup(["TP53", "MDM2"])
    after = answers.lookup(["TP53", "MDM2"])
    assert before["match"].astype(str).tolist() == ["exact", "exact"]
    assert after["match"].astype(str).tolist()[1] == "exact" and after.loc[0, "match"] != "exact"
    assert after.loc[0, "match"] == "case_insensitive"  # found through its lower-cased key instead


def test_unknown_names_only(human_hgnc_index):
    result = human_hgnc_index.lookup(["NOT_A_GENE", "ALSO_NOT"])
    assert result["reason"].astype(str).tolist() == ["no_corresponding"] * 2
    assert list(result["matched_node"].cat.categories) == [] and result["match"].isna().all()
    assert list(result["category"].cat.categories) == ["1:0", "1:1", "1:n"]


def test_hash_keys_and_stored_hashes(human_hgnc_index):
    k = human_hgnc_index.keys
    hashes = k.column("hash").to_numpy()
    assert (np.diff(hashes.astype(np.float64)) >= 0).all() and len(np.unique(hashes)) == len(hashes)
    exact, lower = hash_seeds(0)
    assert exact != lower and lower != hash_seeds(1)[1]
    keys = k.column("key").to_numpy(zero_copy_only=False)[:10]
    is_lower = k.column("lower").to_numpy(zero_copy_only=False)[:10]
    seeds = dict(zip((False, True), human_hgnc_index.answers.hash_seeds, strict=True))
    expected = [reference_hash(k, seeds[bool(low)]) for k, low in zip(keys, is_lower, strict=True)]
    assert list(hashes[:10]) == expected


def test_index_on_disk_is_two_arrow_files_opened_without_reading_them(human_hgnc_index, tmp_path):
    manifest = human_hgnc_index.write(str(tmp_path / "index"))
    assert manifest["format_version"] == 3 and manifest["tables"]["keys"]["file"] == "keys.arrow"
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["answers.arrow", "keys.arrow", "manifest.json"]
    allocated = pa.total_allocated_bytes()
    mapped = ResolutionIndex.read(str(tmp_path / "index"))
    assert pa.total_allocated_bytes() - allocated < 2**20  # the tables are mapped, not copied into Arrow's memory
    assert mapped.table.equals(human_hgnc_index.table) and mapped.keys.equals(human_hgnc_index.keys)
    rows = manifest["rows"]
    assert rows["exact"] + rows["lower"] == mapped.keys.num_rows and rows["answers"] + 1 == mapped.table.num_rows
    assert rows["answers"] - rows["exact"] < 1000  # a lower-cased key standing for one exact key shares its row


def test_csv_of_the_arrow_answer_is_pandas_csv(human_hgnc_index, mixed_queries):
    queries = [
        *mixed_queries[:3000],
        "with,comma",
        'with"quote',
        "with\nnewline",
        "with\rreturn",
        "naïve,µ",
        "",
        "ß",
        '"lead',
    ]
    frame = human_hgnc_index.lookup(queries)
    expected = frame.to_csv(index=False).encode()
    assert csv_bytes(human_hgnc_index.lookup_arrow(queries)) == expected
    assert csv_bytes(frame) == expected
    odd = pd.DataFrame(
        {
            "s": ["a", None, "b,c", 'd"e', "f\ng", "h\ri"],
            "i": pd.array([1, None, -3, 4, 5, 6], dtype="Int64"),
            "f": [0.1, np.nan, 1e-20, 1.0, -0.5, 1 / 3],
            "b": [True, False] * 3,
            "c": pd.Categorical(["x", None, "y,z", "x", "x", "y,z"]),
            "n": np.arange(6),
            "F": pd.array([0.25, None, 2.0, 3.0, 1.0, 0.1], dtype="Float64"),
        }
    )
    assert csv_bytes(odd) == odd.to_csv(index=False).encode()
    assert csv_bytes(odd.iloc[:0]) == odd.iloc[:0].to_csv(index=False).encode()
    dates = pd.DataFrame({"d": pd.to_datetime(["2020-01-01"]), "s": ["x"]})  # not a simple column: pandas writes it
    assert csv_bytes(dates) == dates.to_csv(index=False).encode()
