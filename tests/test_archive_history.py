"""History navigation (tree, predecessors, successors, picture), archived structure, the ``history`` command and
species names, on Ensembl's rest_human_core_grch37 test database."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from idtrack_core.archive import archived_structure, history_tree, predecessors, successors
from idtrack_core.archive.draw import draw_history_tree
from idtrack_core.cli import main
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.ensembl.species import resolve_species
from idtrack_core.errors import ConversionInputError, UnknownSpeciesError
from idtrack_core.graph import build_snapshot

from conftest import HUMAN, TESTDB

FOLDER = TESTDB / "rest_human_core_grch37"


@pytest.fixture(scope="module")
def snap():
    return build_snapshot([extract_release(DumpSource(str(FOLDER)), "homo_sapiens", None, 72)])


def file_events(stable_id: str) -> set[tuple]:
    """(old id, old version, new id, new version, score) of the changing events naming ``stable_id``, from the
    dump."""
    out = set()
    for line in (FOLDER / "stable_id_event.txt").read_text().splitlines():
        old, ov, new, nv, _session, _typ, score = line.split("\t")
        if stable_id in (old, new) and (old, ov) != (new, nv):
            out.add(
                (
                    None if old == "\\N" else old,
                    int(ov) or None,
                    None if new == "\\N" else new,
                    int(nv) or None,
                    float(score),
                )
            )
    return out


def edge_set(edges: pd.DataFrame) -> set[tuple]:
    return {
        (
            r.old_id,
            None if pd.isna(r.old_version) else r.old_version,
            r.new_id,
            None if pd.isna(r.new_version) else r.new_version,
            r.score,
        )
        for r in edges.itertuples()
    }


def test_tree_of_foxc1_is_its_version_changes_with_their_scores(snap):
    tree = history_tree(snap, "ENSG00000054598")
    assert edge_set(tree.edges) == file_events("ENSG00000054598")
    assert tree.edges["change"].tolist() == ["version"] * 4
    assert tree.edges["new_release"].tolist() == ["38", "47", "62", "68"]  # oldest first
    nodes = tree.nodes.set_index("version")
    assert nodes.index.tolist() == [1, 2, 3, 4, 5] and nodes["is_current"].tolist() == [False] * 4 + [True]
    assert (nodes.loc[4, "first_release"], nodes.loc[4, "last_release"]) == ("62", "67")


def test_tree_of_a_retired_translation_reaches_its_replacement(snap):
    tree = history_tree(snap, "ENSP00000370275.1")  # a version suffix is ignored: the tree is of the ID
    assert tree.root == "ENSP00000370275" and not tree.incomplete
    assert edge_set(tree.edges) == file_events("ENSP00000370275") | file_events("ENSP00000259806")
    assert set(tree.edges["change"]) == {"birth", "id", "retirement"}
    g = tree.to_networkx()
    assert list(g.edges(data="score")) == [("ENSP00000370275.1", "ENSP00000259806.1", 0.941244)]
    assert g.nodes["ENSP00000259806.1"]["is_current"] and not g.nodes["ENSP00000370275.1"]["is_current"]


def test_exploration_stops_at_max_ids_and_says_so(snap):
    assert history_tree(snap, "ENSP00000370275", max_ids=0).incomplete
    with pytest.raises(ConversionInputError, match="NOT_AN_ID"):
        history_tree(snap, "NOT_AN_ID")


def test_predecessors_and_successors_one_level(snap):
    after = successors(snap, "ENST00000064324.1")
    assert after[["new_id", "new_version", "score"]].values.tolist() == [["ENST00000380874", 2, 0.741079]]
    before = predecessors(snap, "ENSG00000054598.5")
    assert before[["old_id", "old_version", "old_release"]].values.tolist() == [["ENSG00000054598", 4, "67"]]
    assert len(successors(snap, "ENSG00000054598")) == 4  # every version change of the ID


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_tree_picture(snap, fmt, magic):
    image = draw_history_tree(history_tree(snap, "ENSP00000370275"), fmt)
    assert image.startswith(magic)
    if fmt == "svg":
        assert b"ENSP00000259806.1" in image and b"0.941" in image


def test_archived_structure_lists_transcripts_and_translations(snap):
    rows = archived_structure(snap, "ENSG00000054598")
    want = [ln.split("\t") for ln in (FOLDER / "gene_archive.txt").read_text().splitlines()]
    want = [w for w in want if w[0] == "ENSG00000054598"]
    assert rows[["transcript_id", "translation_id"]].values.tolist() == [[w[2], w[4]] for w in want]
    assert rows["release"].tolist() == ["46", "67"]  # the old side of sessions 370 and 389
    assert archived_structure(snap, "ENSG00000054598.4")["transcript_id"].tolist() == ["ENST00000541209"]
    assert archived_structure(snap, "ENSP00000370275")["gene_id"].tolist() == ["ENSG00000137273"]
    assert archived_structure(snap, "ENSG00000176515").empty


def test_species_names_from_the_source(tmp_path):
    human = DumpSource(str(HUMAN))
    for name in ("human", "Homo sapiens", "9606", "homo_sapiens"):
        assert resolve_species(human, name) == "homo_sapiens"
    with pytest.raises(UnknownSpeciesError, match=r"closest names: human \(homo_sapiens\)"):
        resolve_species(human, "humna")
    assert resolve_species(DumpSource(str(FOLDER)), "hsapiens") == "homo_sapiens"  # a species.alias
    mirror = _two_species_mirror(tmp_path)
    assert resolve_species(mirror, "mouse") == "mus_musculus"
    assert resolve_species(mirror, "10090") == "mus_musculus"
    with pytest.raises(UnknownSpeciesError, match="mouse"):
        resolve_species(mirror, "mouze")


def _two_species_mirror(root) -> DumpSource:
    """A dump root with human and mouse core databases holding only their meta tables."""
    import gzip

    from idtrack_core.ensembl.mysqldump import format_rows
    from idtrack_core.simulation.schema import CORE_SCHEMA_SQL

    for species, asm, common, taxon in (
        ("homo_sapiens", "38", "human", "9606"),
        ("mus_musculus", "39", "mouse", "10090"),
    ):
        db = root / "release-114" / "mysql" / f"{species}_core_114_{asm}"
        db.mkdir(parents=True)
        (db / f"{db.name}.sql.gz").write_bytes(gzip.compress(CORE_SCHEMA_SQL.encode()))
        rows = [
            (1, 1, "species.production_name", species),
            (2, 1, "species.common_name", common),
            (3, 1, "species.taxonomy_id", taxon),
        ]
        (db / "meta.txt.gz").write_bytes(gzip.compress(format_rows(rows).encode()))
    return DumpSource(str(root))


def test_history_command(tmp_path, capsys):
    home = str(tmp_path / "home")
    out = tmp_path / "a.json"
    args = ["history", "--source", str(FOLDER), "--home", home, "--species", "human"]
    assert main([*args, "ENSG00000054598.4", "ENSP00000370275", "NOT_AN_ID", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["latest"] for r in rows] == ["ENSG00000054598.5", "ENSP00000370275.1", None]
    assert rows[1]["possible_replacements"] == "ENSP00000259806.1:0.941244"
    assert "current 0 · not current 2 · unknown 1" in capsys.readouterr().err
    parquet = tmp_path / "a.parquet"
    assert main([*args, "ENSG00000054598", "--out", str(parquet)]) == 0
    assert pd.read_parquet(parquet)["is_current"].tolist() == [True]
    cached = ["history", "--home", home, "--species", "homo_sapiens"]  # no source: the cached extracts
    assert main([*cached, "--tree", "ENSG00000054598", "--out", str(tmp_path / "t.svg")]) == 0
    assert (tmp_path / "t.svg").read_bytes().startswith(b"<?xml")
    assert main([*cached, "--tree", "ENSG00000054598", "--out", str(tmp_path / "t.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "t.csv")) == 4
    assert main([*args[:-1], "humna", "ENSG00000054598"]) == 2
    assert "closest names: human (homo_sapiens)" in capsys.readouterr().err
