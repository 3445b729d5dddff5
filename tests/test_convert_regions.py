"""Patches, haplotypes and LRGs: conversions prefer primary-assembly genes (a flag keeps the others); the seed's
legacy-rescue list on the human mirror."""

from __future__ import annotations

import shutil

import pytest

from idtrack_core.convert import convert
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.ensembl.mysqldump import format_rows
from idtrack_core.graph import build_snapshot

from conftest import TESTDB

PRIMARY, PATCH, LRG = "ENSG00000141510", "ENSG00000999001", "LRG_321"


@pytest.fixture(scope="module")
def tp53_db(tmp_path_factory):
    """A test database (Ensembl's test-DB layout) with TP53 on chromosome 17, a copy on a patch region and an
    LRG gene, all three with the HGNC TP53 xref and its synonym P53 (as Ensembl links them); region classes from
    assembly_exception and the lrg coordinate system."""
    root = tmp_path_factory.mktemp("tp53")
    schema = (TESTDB / "rest_human_core_grch37" / "table.sql").read_text()
    extra = (
        "CREATE TABLE `assembly_exception` (\n  `assembly_exception_id` int(10) unsigned NOT NULL,\n"
        "  `seq_region_id` int(10) unsigned NOT NULL,\n  `seq_region_start` int(10) unsigned NOT NULL,\n"
        "  `seq_region_end` int(10) unsigned NOT NULL,\n"
        "  `exc_type` enum('HAP','PAR','PATCH_FIX','PATCH_NOVEL') NOT NULL,\n"
        "  `exc_seq_region_id` int(10) unsigned NOT NULL,\n  `exc_seq_region_start` int(10) unsigned NOT NULL,\n"
        "  `exc_seq_region_end` int(10) unsigned NOT NULL,\n  `ori` int(11) NOT NULL\n) ENGINE=MyISAM;\n"
    )
    (root / "table.sql").write_text(schema + "\n" + extra)
    tables = {
        "meta": [
            (1, None, "schema_version", "114"),
            (2, 1, "species.production_name", "homo_sapiens"),
            (3, 1, "assembly.default", "GRCh38"),
        ],
        "mapping_session": [
            (
                1,
                "homo_sapiens_core_113_38",
                "homo_sapiens_core_114_38",
                "113",
                "114",
                "GRCh38",
                "GRCh38",
                "2025-05-01 00:00:00",
            )
        ],
        "coord_system": [
            (4, 1, "chromosome", "GRCh38", 1, "default_version"),
            (9, 1, "lrg", None, 9, "default_version"),
        ],
        "seq_region": [(1, "17", 4, 83257441), (2, "HG2046_PATCH", 4, 83257441), (3, "LRG_321", 9, 20000)],
        "assembly_exception": [(1, 2, 7600000, 7700000, "PATCH_FIX", 1, 7600000, 7700000, 1)],
        "gene": [
            (1, "protein_coding", 1, 1, 7661779, 7687538, -1, 1, "ensembl", None, 1, 1, PRIMARY, 19, None, None),
            (2, "protein_coding", 1, 2, 7661779, 7687538, -1, 1, "ensembl", None, 1, 2, PATCH, 1, None, None),
            (3, "LRG_gene", 1, 3, 1, 19070, 1, 1, "LRG database", None, 1, 3, LRG, 1, None, None),
        ],
        "xref": [(1, 1100, "HGNC:11998", "TP53", "0", None, "DIRECT", "")],
        "object_xref": [(1, 1, "Gene", 1, None, 1), (2, 2, "Gene", 1, None, 1), (3, 3, "Gene", 1, None, 1)],
        "external_db": [(1100, "HGNC", None, "KNOWNXREF", 100, "HGNC Symbol", "PRIMARY_DB_SYNONYM", None, None, None)],
        "external_synonym": [(1, "P53")],
    }
    for table, rows in tables.items():
        (root / f"{table}.txt").write_text(format_rows(rows))
    for table in ("transcript", "translation", "stable_id_event"):
        (root / f"{table}.txt").write_text("")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tp53_snap(tp53_db):
    return build_snapshot([extract_release(DumpSource(str(tp53_db)), "homo_sapiens", None, 114)])


def test_region_classes_come_from_assembly_exception_and_the_lrg_coordinate_system(tp53_db):
    ex = extract_release(DumpSource(str(tp53_db)), "homo_sapiens", None, 114)
    classes = dict(zip(ex.tables["genes"]["stable_id"], ex.tables["genes"]["region_class"], strict=True))
    assert classes == {PRIMARY: "primary", PATCH: "patch", LRG: "lrg"}
    assert ex.manifest["regions_classified_by"] == "tables"


@pytest.mark.parametrize("final", ["ensembl_gene", "HGNC Symbol"])
def test_primary_gene_answers_alone_and_a_flag_keeps_the_others(tp53_snap, final):
    for strategy in ("best", "all"):
        got = convert(tp53_snap, ["TP53", "P53", "HGNC:11998"], 114, final, strategy=strategy)
        assert got["category"].tolist() == ["1:1"] * 3
        assert set(got["ensembl_genes"]) == {PRIMARY}
    kept = convert(tp53_snap, ["TP53", "P53"], 114, "ensembl_gene", strategy="all", keep_non_primary=True)
    assert kept["target_ids"].tolist() == [";".join(sorted([PRIMARY, PATCH, LRG]))] * 2


def test_a_non_primary_gene_asked_for_by_its_own_id_is_itself(tp53_snap):
    got = convert(tp53_snap, [LRG, PATCH], 114, "ensembl_gene")
    assert got["target_ids"].tolist() == [LRG, PATCH]


def test_legacy_rescue_list_on_the_human_mirror(human_home):
    """The seed's list at the newest release with strategy=all: no LRG/patch answer, evidence for every row."""
    snap = human_home[2]
    queries = ["TP53", "P53", "ENSG00000141510", "ENSG00000139618", "BRCA1", "NOT_A_REAL_GENE"]
    got = convert(snap, queries, snap.snapshot_release, "HGNC Symbol", strategy="all").set_index("query_id")
    assert got["target_ids"].to_dict() == {
        "TP53": "TP53",
        "P53": "TP53",
        "ENSG00000141510": "TP53",
        "ENSG00000139618": "BRCA2",
        "BRCA1": "BRCA1",
        "NOT_A_REAL_GENE": "",
    }
    assert got.loc["NOT_A_REAL_GENE", "reason"] == "no_corresponding"
    assert got.loc["P53", "match"] == "synonym_case_insensitive"  # HGNC lists the alias as p53
    found = got.drop(index="NOT_A_REAL_GENE")
    assert found["category"].eq("1:1").all() and found["matched_node"].notna().all()
    assert found["path_length"].notna().all() and found["min_score"].notna().all()
    genes = set(found["ensembl_genes"])
    assert not any(g.startswith("LRG") for g in genes)
    loc = snap.tables["locations"]
    objects = snap.tables["objects"].set_index("stable_id")
    classes = set(loc.loc[loc["obj"].isin(objects.loc[sorted(genes), "obj"]), "region_class"])
    assert classes == {"primary"}  # where these genes lie (84-100 have coordinates): never a patch or haplotype
