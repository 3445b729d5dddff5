"""Release extracts of every real fixture: row counts equal the source tables, real rows round-trip."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pandas as pd
import pytest

from idtrack_core.ensembl import DumpSource, extract_release, read_extract, write_extract
from idtrack_core.ensembl.schemas import validate_extract_table

from conftest import HUMAN, HUMAN_RELEASES, TESTDB, TESTDB_NAMES

SOURCE_TABLES = (
    "gene",
    "transcript",
    "translation",
    "xref",
    "object_xref",
    "external_db",
    "external_synonym",
)


def source_rows(path: Path) -> int:
    """Records in a dump file, counted independently of the parser (no fixture has escaped newlines)."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.count(b"\n")


@pytest.fixture(scope="module", params=TESTDB_NAMES)
def testdb_extract(request):
    folder = TESTDB / request.param
    return folder, extract_release(
        DumpSource(str(folder)), "homo_sapiens", None, 72 if "synthetic" not in request.param else 4
    )


@functools.cache
def human(release: int):
    return extract_release(DumpSource(str(HUMAN)), "homo_sapiens", "GRCh38", release)


@pytest.fixture(params=HUMAN_RELEASES)
def human_extract(request):
    return request.param, human(request.param)


def test_test_db_row_counts_equal_source_tables(testdb_extract):
    folder, ex = testdb_extract
    for table in SOURCE_TABLES:
        assert ex.manifest["source_rows"][table] == source_rows(folder / f"{table}.txt"), table
    assert ex.manifest["source_rows"]["stable_id_event"] == source_rows(folder / "stable_id_event.txt")
    assert len(ex.tables["genes"]) == source_rows(folder / "gene.txt")
    assert len(ex.tables["transcripts"]) == source_rows(folder / "transcript.txt")
    assert len(ex.tables["translations"]) == source_rows(folder / "translation.txt")
    for name, df in ex.tables.items():
        validate_extract_table(name, df, str(folder))


def test_human_release_row_counts_equal_source_tables(human_extract):
    release, ex = human_extract
    folder = HUMAN / f"release-{release}" / "mysql" / f"homo_sapiens_core_{release}_38"
    for table in ("gene", "transcript", "xref", "object_xref", "external_synonym", "stable_id_event"):
        assert ex.manifest["source_rows"][table] == source_rows(folder / f"{table}.txt.gz"), table
    assert len(ex.tables["genes"]) == source_rows(folder / "gene.txt.gz")
    assert len(ex.tables["transcripts"]) == source_rows(folder / "transcript.txt.gz")
    # every object_xref of the mirror is a Gene link; all resolve to a gene of this release
    assert len(ex.tables["xrefs"]) == source_rows(folder / "object_xref.txt.gz")
    assert len(ex.tables["history"]) == source_rows(folder / "stable_id_event.txt.gz")
    assert ex.manifest["absent_source_tables"] == [
        "assembly_exception",
        "attrib_type",
        "gene_archive",
        "peptide_archive",
        "seq_region_attrib",
        "translation",
    ]
    assert ex.manifest["archive"] == {"gene_archive": False, "peptide_archive": False}
    assert ex.tables["gene_archive"].empty and ex.tables["peptide_archive"].empty
    assert ex.manifest["ensembl_schema_version"] == str(release)
    if release <= 100:
        assert ex.tables["genes"]["version"].isna().all()  # 84-100 have NULL versions
    else:
        assert ex.tables["genes"]["version"].notna().all()


def test_duplicated_history_rows_are_dropped():
    folder = TESTDB / "rest_human_core_grch37"
    ex = extract_release(DumpSource(str(folder)), "homo_sapiens", None, 72)
    lines = (folder / "stable_id_event.txt").read_text().splitlines()
    assert len(lines) == 100 and len(set(lines)) == 85
    assert len(ex.tables["history"]) == 85


def test_real_history_rows_of_ENSG00000137273_round_trip():
    folder = TESTDB / "rest_human_core_grch37"
    ex = extract_release(DumpSource(str(folder)), "homo_sapiens", None, 72)
    sessions = {
        line.split("\t")[0]: line.split("\t")[3:5] for line in (folder / "mapping_session.txt").read_text().splitlines()
    }
    expected = set()
    for line in (folder / "stable_id_event.txt").read_text().splitlines():
        old, old_v, new, new_v, session, typ, score = line.split("\t")
        if "ENSG00000137273" in (old, new):
            expected.add((old, int(old_v), new, int(new_v), int(session), typ, float(score), *sessions[session]))
    h = ex.tables["history"]
    rows = h[(h["old_stable_id"] == "ENSG00000137273") | (h["new_stable_id"] == "ENSG00000137273")]
    got = {
        (
            r.old_stable_id,
            r.old_version,
            r.new_stable_id,
            r.new_version,
            r.mapping_session_id,
            r.type,
            r.score,
            r.old_release,
            r.new_release,
        )
        for r in rows.itertuples()
    }
    assert got == expected
    assert ("ENSG00000137273", 2, "ENSG00000137273", 3, 362, "gene", 0.666667, "39", "40") in got


def test_real_hgnc_xref_with_synonyms_round_trips():
    ex = human(114)  # rows read from release 114's files by hand
    x = ex.tables["xrefs"]
    tp53 = x[(x["ensembl_id"] == "ENSG00000141510") & (x["db_name"] == "HGNC")]
    assert tp53[["xref_id", "db_display_name", "primary_accession", "display_label"]].values.tolist() == [
        [63372, "HGNC Symbol", "HGNC:11998", "TP53"]
    ]
    syn = ex.tables["synonyms"]
    assert sorted(syn.loc[syn["xref_id"] == 63372, "synonym"]) == ["LFS1", "p53"]
    g = ex.tables["genes"]
    assert g.loc[g["stable_id"] == "ENSG00000141510", "version"].tolist() == [19]


def test_escaped_tab_in_external_db_is_parsed():
    folder = TESTDB / "patch_human_grch37"
    src = DumpSource(str(folder))
    db = src.list_databases("homo_sapiens")[0]
    dbs = src.read_table(db, "external_db", ["external_db_id", "db_name", "db_release", "status"])
    row = dbs[dbs["external_db_id"] == 4100].iloc[0]
    assert row["db_name"] == "UniGene"
    assert row["db_release"] == "25 Apr 2013 \t, UniGene Build #236 Homo "
    assert row["status"] == "KNOWN"


def test_written_extract_reads_back_identically(tmp_path):
    ex = extract_release(DumpSource(str(TESTDB / "patch_human_grch37")), "homo_sapiens", None, 72)
    manifest = write_extract(ex, str(tmp_path / "extract"))
    back = read_extract(str(tmp_path / "extract"), verify=True)
    for name, df in ex.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], df, check_dtype=True)
        assert manifest["tables"][name]["rows"] == len(df)
    assert back.release == 72 and back.database == "patch_human_grch37"


def test_extract_is_byte_identical_across_runs(tmp_path):
    src = str(TESTDB / "synthetic_core")
    for name in ("a", "b"):
        write_extract(extract_release(DumpSource(src), "homo_sapiens", None, 4), str(tmp_path / name))
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_locations_and_region_classes_of_the_rest_test_db():
    """Coordinates come from gene.txt through seq_region; HG681_PATCH genes are flagged (by name: this database
    has no assembly_exception or seq_region_attrib)."""
    ex = extract_release(DumpSource(str(TESTDB / "rest_human_core_grch37")), "homo_sapiens", None, 72)
    regions = {ln.split("\t")[0]: ln.split("\t")[1] for ln in (TESTDB / "rest_human_core_grch37/seq_region.txt").open()}
    genes = ex.tables["genes"].set_index("stable_id")
    for line in (TESTDB / "rest_human_core_grch37/gene.txt").read_text().splitlines():
        f = line.split("\t")
        g = genes.loc[f[12]]
        assert (g["seq_region"], g["seq_region_start"], g["seq_region_end"], g["seq_region_strand"]) == (
            regions[f[3]],
            int(f[4]),
            int(f[5]),
            int(f[6]),
        )
        assert g["region_class"] == ("patch" if regions[f[3]].endswith("_PATCH") else "primary")
    assert ex.manifest["regions_classified_by"] == "names"
    assert ex.tables["transcripts"]["seq_region"].notna().all()


def test_sessions_and_gene_archive_round_trip():
    folder = TESTDB / "rest_human_core_grch37"
    ex = extract_release(DumpSource(str(folder)), "homo_sapiens", None, 72)
    sessions = ex.tables["sessions"].set_index("mapping_session_id")
    lines = (folder / "mapping_session.txt").read_text().splitlines()
    assert len(sessions) == len(lines)
    for line in lines:
        sid, old_db, new_db, old_r, new_r, old_a, new_a, created = line.split("\t")
        assert tuple(sessions.loc[int(sid)]) == (old_db, new_db, old_r, new_r, old_a, new_a, created)
    archive = ex.tables["gene_archive"]
    got = {tuple(str(v) for v in r) for r in archive.itertuples(index=False)}
    want = {tuple(line.split("\t")) for line in (folder / "gene_archive.txt").read_text().splitlines()}
    assert got == want
    assert ex.manifest["archive"] == {"gene_archive": True, "peptide_archive": False}


def test_human_coordinates_where_the_source_has_them():
    assert human(100).tables["genes"]["seq_region"].notna().all()  # 84-100: real GRCh38 coordinates
    assert human(114).tables["genes"]["seq_region"].isna().all()  # 104-114: placeholder unknown:0-0
    assert human(114).tables["genes"]["region_class"].isna().all()


def test_region_classes_from_the_tables():
    """assembly_exception (patches, haplotypes), seq_region_attrib non_ref and the lrg coordinate system."""
    from idtrack_core.ensembl.regions import classify_regions

    seq_region = pd.DataFrame(
        {
            "seq_region_id": [1, 2, 3, 4, 5, 6],
            "name": ["1", "CHR_HG1_PATCH", "CHR_HSCHR6_MHC_COX_CTG1", "LRG_321", "KI270752.1", "Y"],
            "coord_system_id": [4, 4, 4, 9, 3, 4],
        }
    )
    coord_system = pd.DataFrame({"coord_system_id": [3, 4, 9], "name": ["scaffold", "chromosome", "lrg"]})
    exceptions = pd.DataFrame({"seq_region_id": [2, 3, 6], "exc_type": ["PATCH_FIX", "HAP", "PAR"]})
    attribs = pd.DataFrame({"seq_region_id": [2, 3, 5], "attrib_type_id": [16, 16, 6]})
    types = pd.DataFrame({"attrib_type_id": [6, 16], "code": ["toplevel", "non_ref"]})
    got = classify_regions(seq_region, coord_system, exceptions, attribs, types)
    assert got.classified_by == "tables"
    assert got.regions["region_class"].tolist() == ["primary", "patch", "haplotype", "lrg", "primary", "primary"]
    only_attrib = classify_regions(seq_region, coord_system, None, attribs, types).regions["region_class"]
    assert only_attrib.tolist() == ["primary", "non_reference", "non_reference", "lrg", "primary", "primary"]
