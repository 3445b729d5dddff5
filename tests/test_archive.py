"""The archive lookup against what Ensembl's own REST test (ensembl-rest ``t/archive.t``) expects from
``rest_human_core_grch37``, and against the dump files themselves."""

from __future__ import annotations

import pytest

from idtrack_core.archive import ARCHIVE_COLUMNS, ArchiveIndex, archive_lookup
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot

from conftest import TESTDB

FOLDER = TESTDB / "rest_human_core_grch37"


@pytest.fixture(scope="module")
def snap():
    return build_snapshot([extract_release(DumpSource(str(FOLDER)), "homo_sapiens", None, 72)])


@pytest.fixture(scope="module")
def index(snap):
    return ArchiveIndex.build(snap)


def row(index: ArchiveIndex, query: str) -> dict:
    return index.lookup([query]).iloc[0].to_dict()


def schema_version() -> str:
    """The database's release as Ensembl's API reports it (``meta.schema_version``), read from the dump."""
    for line in (FOLDER / "meta.txt").read_text().splitlines():
        _, _, key, value = line.split("\t")
        if key == "schema_version":
            return value
    raise AssertionError("no schema_version")


def sessions() -> dict[str, list[str]]:
    return {line.split("\t")[0]: line.split("\t") for line in (FOLDER / "mapping_session.txt").read_text().splitlines()}


def test_current_gene_unversioned_and_versioned(index):
    """t/archive.t: ENSG00000054598 and ENSG00000054598.5 are current, version 5, the database's release."""
    for query in ("ENSG00000054598", "ENSG00000054598.5"):
        r = row(index, query)
        assert r["id"] == "ENSG00000054598" and r["version"] == 5 and r["type"] == "Gene"
        assert r["is_current"] and r["latest"] == "ENSG00000054598.5"
        assert r["release"] == schema_version() == "115" and r["assembly"] == "GRCh37"
        assert r["possible_replacements"] == "" and r["evidence"] == "current"


def test_older_gene_version_is_not_current_and_names_its_scored_replacement(index):
    """t/archive.t: ENSG00000054598.4 last existed in 67 (GRCh37); replaced by version 5 with score 0.953586."""
    r = row(index, "ENSG00000054598.4")
    assert (r["version"], r["is_current"], r["latest"]) == (4, False, "ENSG00000054598.5")
    assert (r["release"], r["assembly"], r["db_name"]) == ("67", "GRCh37", "homo_sapiens_core_67_37")
    assert r["possible_replacements"] == "ENSG00000054598.5:0.953586"
    # the score is the one stable_id_event records for 4 → 5 in the 67 → 68 session
    lines = [ln.split("\t") for ln in (FOLDER / "stable_id_event.txt").read_text().splitlines()]
    (score,) = {float(x[6]) for x in lines if x[0] == "ENSG00000054598" and x[1] == "4" and x[3] == "5"}
    assert score == pytest.approx(0.953586)


def test_retired_translation_converts_with_its_event_score(index):
    """t/archive.t: ENSP00000370275 is not current; latest ENSP00000370275.1 of release 39 on NCBI36; replaced by
    ENSP00000259806 with score 0.941244."""
    r = row(index, "ENSP00000370275")
    assert (r["id"], r["version"], r["type"], r["is_current"]) == ("ENSP00000370275", 1, "Translation", False)
    assert (r["latest"], r["release"], r["assembly"]) == ("ENSP00000370275.1", "39", "NCBI36")
    assert r["possible_replacements"] == "ENSP00000259806.1:0.941244"
    session = sessions()["362"]
    assert (session[3], session[5]) == ("39", "NCBI36")  # the old side of the session that retired it


def test_post_example_transcript_and_patch_gene(index):
    """t/archive.t POST: ENST00000429181 (Transcript, version 1) and ENSG00000262424 (Gene, latest .2) current."""
    got = index.lookup(["ENST00000429181", "ENSG00000262424"])
    assert got[["id", "type", "version", "latest"]].values.tolist() == [
        ["ENST00000429181", "Transcript", 1, "ENST00000429181.1"],
        ["ENSG00000262424", "Gene", 2, "ENSG00000262424.2"],
    ]
    assert got["is_current"].tolist() == [True, True] and set(got["release"]) == {"115"}


@pytest.mark.parametrize(
    "query,version,release,assembly,replacements",
    [
        # 2 → 3 in 39 → 40 (score 0.666667): the newest event naming version 2 is that one, old side
        ("ENSG00000137273.2", 2, "39", "NCBI36", "ENSG00000137273.3:0.666667"),
        # 1 → 2 in 37 → 38 with score 0 (self events 1 → 1 in every older session are older)
        ("ENSG00000137273.1", 1, "37", "NCBI35", "ENSG00000137273.2:0"),
        # 3 → 4 in 54 → 55, the NCBI36 → GRCh37 session
        ("ENSG00000164379.3", 3, "54", "NCBI36", "ENSG00000164379.4:0.997622"),
        # a retired transcript: the replacement, not the retirement (score 0), is the newest-best row
        ("ENST00000380891", 1, "39", "NCBI36", "ENST00000259806.1:0.941244"),
        # born in 65 → 66, retired in 67 → 68 (no successor): last seen in 67
        ("ENST00000541209", 1, "67", "GRCh37", ""),
    ],
)
def test_more_history_cases_read_off_stable_id_event(index, query, version, release, assembly, replacements):
    r = row(index, query)
    assert not r["is_current"]
    assert (r["version"], r["release"], r["assembly"], r["possible_replacements"]) == (
        version,
        release,
        assembly,
        replacements,
    )


def test_unknown_ids_and_versions_have_no_answer_and_lookup_keeps_order(index):
    queries = ["NOT_AN_ID", "ENSG00000054598.99", "ENSG00000054598", "ensg00000054598"]
    got = index.lookup(queries)
    assert list(got.columns) == ARCHIVE_COLUMNS and got["query_id"].tolist() == queries
    assert got["id"].isna().tolist() == [True, True, False, False]
    assert got["evidence"].tolist()[2:] == ["current", "current"]  # MySQL compares stable IDs case-insensitively


def test_a_stable_id_ending_in_a_number_is_itself_before_a_version(index):
    """``CCDS10020.1`` is a gene's stable ID: Ensembl tries the whole string first."""
    r = row(index, "CCDS10020.1")
    assert (r["id"], r["version"], r["latest"]) == ("CCDS10020.1", 1, "CCDS10020.1.1")


def test_archive_at_an_older_release_ignores_later_sessions(tmp_path):
    """A simulated mirror: the archive of release 3 does not know what happened after 3."""
    from idtrack_core.simulation import read_ground_truth, simulate_mirror

    simulate_mirror(str(tmp_path / "m"), genes=150, releases=(1, 5), seed=2)
    source = DumpSource(str(tmp_path / "m"))
    snap = build_snapshot([extract_release(source, "idtrack_simulans", "SIM1", r) for r in range(1, 6)])
    truth = read_ground_truth(str(tmp_path / "m"))
    at3 = set(truth.genes_at(3))
    retired_later = truth.transitions[
        (truth.transitions["event"] == "retirement") & (truth.transitions["from_release"] >= 3)
    ]
    ids = sorted(set(retired_later["old_stable_id"]) & at3)
    assert ids
    now = archive_lookup(snap, ids, release=3)
    assert now["is_current"].all() and set(now["release"]) == {"3"}
    later = archive_lookup(snap, ids)
    assert not later["is_current"].any()
    genes = truth.genes.set_index(["stable_id", "release"])["version"]
    for r in later.itertuples():
        # the release a retired gene last existed in, and its version there, are the ground truth's
        last = truth.genes.loc[truth.genes["stable_id"] == r.id, "release"].max()
        assert (int(r.release), r.version) == (last, genes[(r.id, last)])


# ensembl-rest t/archive.t expects this peptide for ENSP00000370275 (its test database's peptide_archive row 75538,
# which our copy of the database lacks; Apache-2.0, EMBL-EBI)
ARCHIVED_PEPTIDE = (
    "MTTEGGPPPAPLRRACSPVPGALQAALMSPPPAAAAAAAAAPETTSSSSSSSSASCASSSSSSNSASAPSAACKSAGGGGAGAGSGGAKKASSGLRRPEK"
    "PPYSYIALIVMAIQSSPSKRLTLSEIYQFLQARFPFFRGAYQGWKNSVRHNLSLNECFIKLPKGLGRPGKGHYWTIDPASEFMFEEGSFRRRPRGFRRKC"
    "QALKPMYHRVVSGLGFGASLLPQGFDFQAPPSAPLGCHSQGGYGGLDMMPAGYDAGAGAPSHAHPHHHHHHHVPHMSPNPGSTYMASCPVPAGPGGVGAA"
    "GGGGGGDYGPDSSSSPVPSSPAMASAIECHSPYTSPAAHWSSPGASPYLKQPPALTPSSNPAASAGLHSSMSSYSLEQSYLHQNAREDLSVGLPRYQHHS"
    "TPVCDRKDFVLNFNGISSFHPSASGSYYHHHHQSVCQDIKPCVM"
)


def test_archived_peptide_of_a_retired_translation(tmp_path):
    """With Ensembl's peptide_archive, a non-current translation carries its archived sequence, as REST does."""
    import hashlib
    import shutil

    folder = tmp_path / "db"
    shutil.copytree(FOLDER, folder)
    create = (
        "CREATE TABLE `peptide_archive` (\n  `peptide_archive_id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n"
        "  `md5_checksum` varchar(32) DEFAULT NULL,\n  `peptide_seq` mediumtext NOT NULL,\n"
        "  PRIMARY KEY (`peptide_archive_id`)\n) ENGINE=MyISAM DEFAULT CHARSET=latin1;\n"
    )
    (folder / "table.sql").write_text((folder / "table.sql").read_text() + "\n" + create)
    checksum = hashlib.md5(ARCHIVED_PEPTIDE.encode()).hexdigest().upper()
    (folder / "peptide_archive.txt").write_text(f"75538\t{checksum}\t{ARCHIVED_PEPTIDE}\n")
    ex = extract_release(DumpSource(str(folder)), "homo_sapiens", None, 72)
    assert ex.manifest["archive"] == {"gene_archive": True, "peptide_archive": True}
    got = archive_lookup(build_snapshot([ex]), ["ENSP00000370275", "ENSP00000259806", "ENSG00000054598.4"])
    assert got["peptide"].tolist() == [ARCHIVED_PEPTIDE, None, None]  # current IDs and genes have none
    assert checksum == "5BF671FA4A510816EAE0C8E299605D6D"  # the checksum Ensembl's row carries
