"""Real Ensembl history (rest_human_core_grch37: FOXC1, FOXQ1, FOXF2) converts as its stable_id_event says."""

from __future__ import annotations

from collections import defaultdict

import pytest

from idtrack_core.convert import convert
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot

from conftest import TESTDB

FOLDER = TESTDB / "rest_human_core_grch37"
TARGET = {"gene": "ensembl_gene", "transcript": "ensembl_transcript", "translation": "ensembl_translation"}
FOX = {"FOXC1": "ENSG00000054598", "FOXQ1": "ENSG00000164379", "FOXF2": "ENSG00000137273"}


@pytest.fixture(scope="module")
def snap():
    return build_snapshot([extract_release(DumpSource(str(FOLDER)), "homo_sapiens", None, 72)])


def events() -> list[tuple[str, str, str, str, str, float]]:
    """(type, old id, old version, new id, new version, score) of every stable_id_event row, from the file."""
    out = []
    for line in (FOLDER / "stable_id_event.txt").read_text().splitlines():
        old, old_v, new, new_v, _session, typ, score = line.split("\t")
        out.append((typ, old, old_v, new, new_v, float(score)))
    return out


def test_replacements_and_retirements_follow_stable_id_event(snap):
    """Every old ID with an ID-changing event converts to its replacement; one with only a retirement is 1:0."""
    successors: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    retired: set[tuple[str, str]] = set()
    for typ, old, _ov, new, _nv, score in events():
        if old == "\\N":
            continue
        if new == "\\N":
            retired.add((typ, old))
        elif new != old:
            successors[(typ, old)][new] = score
    assert successors and retired
    for (typ, old), news in successors.items():
        res = convert(snap, [old], 72, TARGET[typ]).iloc[0]
        best = sorted(n for n, s in news.items() if s == max(news.values()))  # strategy "best": top score
        assert res["target_ids"] == ";".join(best), old
        assert res["path_length"] == 1
        assert res["min_score"] == pytest.approx(max(news.values()))
    for typ, old in retired - set(successors):
        res = convert(snap, [old], 72, TARGET[typ]).iloc[0]
        assert (res["category"], res["reason"]) == ("1:0", "no_conversion"), old


def test_named_cases(snap):
    res = convert(
        snap,
        ["ENST00000064324", "ENSP00000370275", "ENST00000541209", "ENSP00000438563"],
        72,
        "ensembl_transcript",
    ).set_index("query_id")
    assert res.loc["ENST00000064324", "target_ids"] == "ENST00000380874"  # replaced in session 370 (46 → 47)
    assert res.loc["ENSP00000370275", "target_ids"] == "ENST00000259806"  # translation → its transcript
    assert res.loc["ENST00000541209", "reason"] == "no_conversion"  # born in 383, retired in 389
    assert res.loc["ENSP00000438563", "reason"] == "no_conversion"


def test_every_recorded_version_of_the_fox_genes_converts_to_itself(snap):
    """Version bumps (and versions known only from history) keep the gene; symbols and synonyms find it too."""
    versions: dict[str, set[str]] = defaultdict(set)
    for typ, old, old_v, new, new_v, _score in events():
        for gene, version in ((old, old_v), (new, new_v)):
            if typ == "gene" and gene in FOX.values() and version not in ("\\N", "0"):
                versions[gene].add(version)
    for symbol, gene in FOX.items():
        assert len(versions[gene]) >= 2, gene
        queries = [gene, *(f"{gene}.{v}" for v in sorted(versions[gene])), symbol]
        res = convert(snap, queries, 72, "HGNC Symbol")
        assert list(res["target_ids"]) == [symbol] * len(queries), symbol
        assert list(res["ensembl_genes"]) == [gene] * len(queries)
        assert set(res["match"]) == {"exact"}
    synonyms = convert(snap, ["HFH1", "FKHL6", "FREAC2"], 72, "HGNC Symbol")
    assert list(synonyms["target_ids"]) == ["FOXQ1", "FOXF2", "FOXF2"]
    assert set(synonyms["match"]) == {"synonym"}


def test_history_conversion_from_an_old_release(snap):
    """FOXF2's version 1 existed in release 38 (events 361: 37 → 38 and 362: 39 → 40)."""
    res = convert(snap, ["ENSG00000137273.1", "ENSG00000137273.2"], 72, "HGNC Symbol", from_release=38)
    assert list(res["target_ids"]) == ["FOXF2", "FOXF2"]


def test_networkx_model_of_the_snapshot(snap):
    """DESIGN §4's graph: base IDs → versions with releases, history edges with scores, xrefs to external names."""
    g = snap.to_networkx()
    assert ("version", "gene", "ENSG00000137273", 3) in g.successors(("id", "gene", "ENSG00000137273"))
    old, new = ("version", "transcript", "ENST00000064324", 1), ("version", "transcript", "ENST00000380874", 2)
    edge = next(iter(g.get_edge_data(old, new).values()))
    assert edge["kind"] == "history" and edge["score"] == pytest.approx(0.741079) and edge["new_release"] == "47"
    names = {n for n in g.successors(("id", "gene", "ENSG00000164379")) if n[0] == "external"}
    assert ("external", "HGNC Symbol", "FOXQ1") in names
    assert ("external", "HGNC Symbol", "HFH1") in set(g.successors(("external", "HGNC Symbol", "FOXQ1")))
