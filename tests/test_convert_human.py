"""Conversion on the real-derived six-release human mirror (84 … 114), checked against its dump files."""

from __future__ import annotations

import functools
import gzip
import re
from collections import defaultdict

import pytest

from idtrack_core.convert import convert

from conftest import HUMAN, HUMAN_RELEASES


@functools.cache
def dump_rows(release: int, table: str) -> list[list[str]]:
    """Rows of a human mirror table read straight from its .txt.gz (no fixture row has escapes)."""
    path = HUMAN / f"release-{release}" / "mysql" / f"homo_sapiens_core_{release}_38" / f"{table}.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


@functools.cache
def gene_names(release: int) -> dict[str, set[tuple[str, str, str]]]:
    """Gene stable ID → {(db_name, accession, label)} at ``release``, from the dump files."""
    dbs = {r[0]: r[1] for r in dump_rows(release, "external_db")}
    xrefs = {r[0]: (dbs[r[1]], r[2], r[3]) for r in dump_rows(release, "xref")}
    genes = {r[0]: r[12] for r in dump_rows(release, "gene")}
    out: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for r in dump_rows(release, "object_xref"):
        out[genes[r[1]]].add(xrefs[r[3]])
    return out


@pytest.fixture(scope="module")
def snap(human_home):
    return human_home[2]


@pytest.fixture(scope="module")
def hgnc_index(human_hgnc_index):
    return human_hgnc_index


def test_seed_example_to_hgnc_symbols(hgnc_index):
    res = hgnc_index.lookup(["TP53", "BRCA1", "BRCA2", "BRAF", "KRAS", "ENSG00000141510", "NOT_A_REAL_GENE"])
    rows = res.set_index("query_id")
    for symbol in ("TP53", "BRCA1", "BRCA2", "BRAF", "KRAS"):
        assert rows.loc[symbol, "category"] == "1:1" and rows.loc[symbol, "target_ids"] == symbol
    assert rows.loc["ENSG00000141510", "target_ids"] == "TP53"
    assert rows.loc["ENSG00000141510", "category"] == "1:1"
    assert rows.loc["NOT_A_REAL_GENE", "category"] == "1:0"
    assert rows.loc["NOT_A_REAL_GENE", "reason"] == "no_corresponding"


def test_symbol_to_ensembl_gene(snap):
    res = convert(snap, ["TP53"], 114, "ensembl_gene").iloc[0]
    assert (res["category"], res["target_ids"]) == ("1:1", "ENSG00000141510")


def test_versioned_and_unversioned_ids_both_match(hgnc_index):
    res = hgnc_index.lookup(["ENSG00000141510", "ENSG00000141510.19", "ENSG00000141510.7", "ensg00000141510"])
    assert list(res["target_ids"]) == ["TP53"] * 4
    assert list(res["match"]) == ["exact", "exact", "version_stripped", "case_insensitive"]


def test_index_answers_equal_direct_resolution(snap, hgnc_index):
    queries = ["TP53", "p53", "tp53", "LFS1", "Y_RNA", "ENSG00000122718", "ENSG00000132832", "junk", "AL627309.1"]
    direct = convert(snap, queries, 114, "HGNC Symbol")
    indexed = hgnc_index.lookup(queries)
    for col in ("category", "target_ids", "ensembl_genes", "reason", "match", "bridge", "bridge_via"):
        assert list(direct[col].astype(object)) == list(indexed[col].astype(object)), col


def test_ids_of_84_retired_before_114_are_1to0_or_bridged_with_evidence(hgnc_index):
    genes84 = {r[12] for r in dump_rows(84, "gene")}
    genes114 = {r[12] for r in dump_rows(114, "gene")}
    retired = sorted(genes84 - genes114)
    assert len(retired) > 1000
    res = hgnc_index.lookup(retired).set_index("query_id")
    everywhere: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for release in HUMAN_RELEASES:
        for gene, names in gene_names(release).items():
            everywhere[gene] |= names
    by_display = {"HGNC Symbol": "HGNC", "NCBI gene (formerly Entrezgene)": "EntrezGene"}
    by_display["Clone-based (Ensembl)"] = "Clone_based_ensembl_gene"
    for gene, row in res.iterrows():
        if row["category"] == "1:0":
            assert row["reason"] == "no_conversion", gene
            assert row["bridge"] in (None, "refused") or row["bridge"] != row["bridge"], gene
            continue
        assert re.fullmatch(r"(accession|label|synonym)([+|]coordinates)?|coordinates", row["bridge"]), gene
        targets = row["ensembl_genes"].split(";")
        for via in row["bridge_via"].split(";"):
            if via.startswith("coordinates/"):  # assembly:region:start-end:strand of the gene it led to
                assert re.fullmatch(r"coordinates/GRCh38:\w+:\d+-\d+:[+-]", via), (gene, via)
                continue
            display, name = via.split("/", 1)
            db, name = by_display[display], name.removesuffix(" (locations differ)").removesuffix(" (synonym)")
            field = 1 if row["bridge"].startswith("accession") else 2
            assert name in {n[field] for n in everywhere[gene] if n[0] == db}, (gene, via)
        assert set(targets) <= genes114
    counts = res["bridge"].astype(object).fillna("").str.extract(r"^(\w+)")[0].value_counts()
    assert counts.get("accession", 0) > 100 and counts.get("coordinates", 0) > 10
    assert (res["category"] == "1:0").sum() > 100
    assert res.loc["ENSG00000132832", "reason"] == "no_conversion"
    assert res.loc["ENSG00000122718", "bridge"] == "accession"
    assert res.loc["ENSG00000122718", "bridge_via"] == "HGNC Symbol/HGNC:8276"
    target = res.loc["ENSG00000122718", "ensembl_genes"]
    assert ("HGNC", "HGNC:8276", res.loc["ENSG00000122718", "target_ids"]) in gene_names(114)[target]


def test_previous_symbols_in_external_synonym_resolve_to_the_current_symbol(hgnc_index):
    """Synonyms of exactly one HGNC xref of release 114 that are no other name there → that xref's gene's symbol."""
    dbs = {r[0]: r[1] for r in dump_rows(114, "external_db")}
    xrefs = {r[0]: r for r in dump_rows(114, "xref")}
    genes = {r[0]: r[12] for r in dump_rows(114, "gene")}
    genes_of_xref: dict[str, set[str]] = defaultdict(set)
    for r in dump_rows(114, "object_xref"):
        genes_of_xref[r[3]].add(genes[r[1]])
    names = {v for r in xrefs.values() for v in (r[2], r[3])} | set(genes.values())
    owners: dict[str, set[str]] = defaultdict(set)
    for xref_id, synonym in dump_rows(114, "external_synonym"):
        owners[synonym].add(xref_id)
    lowered = defaultdict(int)
    for n in names:
        lowered[n.lower()] += 1
    cases = sorted(
        s
        for s, xs in owners.items()
        if len(xs) == 1 and s not in names and dbs[xrefs[next(iter(xs))][1]] == "HGNC" and not lowered[s.lower()]
    )
    assert len(cases) > 10_000
    sample = cases[:: len(cases) // 300]
    res = hgnc_index.lookup(sample).set_index("query_id")
    for synonym in sample:
        linked = sorted(genes_of_xref[next(iter(owners[synonym]))])
        symbols = sorted({n[2] for g in linked for n in gene_names(114)[g] if n[0] == "HGNC"})
        assert res.loc[synonym, "match"] == "synonym", synonym
        assert res.loc[synonym, "target_ids"] == ";".join(symbols), synonym
        assert res.loc[synonym, "ensembl_genes"] == ";".join(linked)


def test_gene_without_symbol_falls_back_to_its_ensembl_id(hgnc_index):
    genes114 = {r[12] for r in dump_rows(114, "gene")}
    nameless = sorted(g for g in genes114 if not any(n[0] == "HGNC" for n in gene_names(114).get(g, ())))
    assert nameless
    res = hgnc_index.lookup(nameless[:200])
    assert res["fallback"].all()
    assert list(res["target_ids"]) == nameless[:200]


def test_backward_conversion_to_release_84(snap):
    res = convert(snap, ["TP53", "ENSG00000141510.19"], 84, "ensembl_gene", from_release=114)
    assert list(res["target_ids"]) == ["ENSG00000141510", "ENSG00000141510"]
