"""Bad input is refused at the edge, in one line, before anything expensive is built; nothing is written."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import pytest

from idtrack_core.ensembl import read_extract
from idtrack_core.errors import StudyInputError

from .helpers import SIM, SIM_ASSEMBLY, SIM_SPECIES, TARGET, error_line, leftovers, run_cli, write_study

DB3 = Path("release-3/mysql/idtrack_simulans_core_3_1")


def extract(source: Path, out: Path, release: str = "3"):
    return run_cli("extract", "--source", source, *SIM, "--release", release, "--out", out)


def empty_gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(b""))


# ------------------------------------------------------------------------------------------ damaged dumps


def test_empty_gene_table(mirror_copy, tmp_path):
    empty_gzip(mirror_copy / DB3 / "gene.txt.gz")
    line = error_line(extract(mirror_copy, tmp_path / "out"))
    assert "idtrack_simulans_core_3_1: table 'gene' has no gene with a stable id (0 rows)" in line
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_zero_byte_history_file(mirror_copy, tmp_path):
    (mirror_copy / DB3 / "stable_id_event.txt.gz").write_bytes(b"")
    line = error_line(extract(mirror_copy, tmp_path / "out"))
    assert "stable_id_event.txt.gz: 0 bytes: not a gzip stream" in line
    assert not (tmp_path / "out").exists()


def test_empty_history_after_releases_with_history(mirror_copy, tmp_path):
    """Both history tables of release 3 lost: the extract alone cannot tell, the snapshot can."""
    for table in ("stable_id_event", "mapping_session"):
        empty_gzip(mirror_copy / DB3 / f"{table}.txt.gz")
    home = tmp_path / "home"
    line = error_line(run_cli("convert", "--source", mirror_copy, "--home", home, *SIM, *TARGET, "SIMX1"))
    assert "release 3 (idtrack_simulans_core_3_1" in line and "has no history rows although release 2 had" in line
    assert not list(home.glob("versions/snapshots/*/*/*")) and not leftovers(home)


def test_the_first_release_may_have_no_history(sim_mirror, tmp_path):
    assert extract(sim_mirror, tmp_path / "r1", release="1").returncode == 0
    assert len(read_extract(str(tmp_path / "r1")).tables["history"]) == 0


def test_empty_xref_table(mirror_copy, tmp_path):
    empty_gzip(mirror_copy / DB3 / "xref.txt.gz")
    line = error_line(extract(mirror_copy, tmp_path / "out"))
    assert "table 'xref' is empty although 'object_xref' has" in line
    assert not (tmp_path / "out").exists()


def test_no_cross_references_after_releases_with_some(mirror_copy, tmp_path):
    for table in ("xref", "object_xref"):
        empty_gzip(mirror_copy / DB3 / f"{table}.txt.gz")
    home = tmp_path / "home"
    line = error_line(run_cli("convert", "--source", mirror_copy, "--home", home, *SIM, *TARGET, "SIMX1"))
    assert "release 3 (idtrack_simulans_core_3_1" in line and "has no xrefs rows although release 1 had" in line


def test_truncated_dump_keeps_the_previous_extract(mirror_copy, tmp_path):
    out = tmp_path / "out"
    assert extract(mirror_copy, out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    path = mirror_copy / DB3 / "transcript.txt.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "transcript.txt.gz: truncated or corrupt gzip stream" in error_line(extract(mirror_copy, out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and not leftovers(tmp_path)


def test_non_utf8_names_are_decoded_and_counted(mirror_copy, tmp_path):
    """A Latin-1 display label (old dumps) is read as Latin-1, that field alone (a UTF-8 name beside it stays
    right), and counted in the manifest."""
    path = mirror_copy / DB3 / "xref.txt.gz"
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    for i, label in ((0, b"Caf\xe9-gene"), (1, "naïve-gene".encode())):  # Latin-1 é (not UTF-8); UTF-8 ï
        fields = lines[i].split(b"\t")
        fields[3] = label
        lines[i] = b"\t".join(fields)
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    assert extract(mirror_copy, tmp_path / "out").returncode == 0
    ex = read_extract(str(tmp_path / "out"))
    assert ex.manifest["non_utf8_values"] == {"xref": 1}
    assert {"Café-gene", "naïve-gene"} <= set(ex.tables["xrefs"]["display_label"])


# ----------------------------------------------------------------------------------- names and releases


def test_unknown_species_suggests_the_closest(sim_mirror, tmp_path):
    home = tmp_path / "home"
    proc = run_cli("convert", "--source", sim_mirror, "--home", home, "--species", "idtrack_simulan", *TARGET, "X")
    line = error_line(proc)
    assert "no core database of species 'idtrack_simulan'" in line
    assert "(did you mean 'idtrack_simulans'?); available species: idtrack_simulans" in line
    assert not home.exists()


def test_unknown_assembly_lists_the_assemblies(sim_mirror, tmp_path):
    proc = run_cli(
        "convert", "--source", sim_mirror, "--home", tmp_path / "home", "--species", "idtrack_simulans",
        "--assembly", "GRCh38", *TARGET, "X",
    )  # fmt: skip
    assert "assembly 'GRCh38'" in (line := error_line(proc)) and "assemblies of idtrack_simulans: 1" in line


def test_missing_source_folder(tmp_path):
    proc = run_cli("releases", "--source", tmp_path / "nonexistent", "--species", "homo_sapien")
    assert f"{tmp_path / 'nonexistent'}: no such folder or URL" in error_line(proc)


def test_unknown_release_fails_before_building(sim_mirror, tmp_path):
    home = tmp_path / "home"
    proc = run_cli("convert", "--source", sim_mirror, "--home", home, *SIM, "--to-release", "999", "X")
    line = error_line(proc)
    assert "release 999 is not available for idtrack_simulans SIM1" in line and "available: 1, 2, 3" in line
    assert not home.exists()  # nothing was built first


def test_hostile_species_name(sim_mirror):
    proc = run_cli("releases", "--source", sim_mirror, "--species", "homo_sapiens`; DROP TABLE gene; --")
    assert "invalid species name 'homo_sapiens`; DROP TABLE gene; --'" in error_line(proc)


# ---------------------------------------------------------------------------------------------- studies


def test_missing_study_fails_before_building(sim_mirror, tmp_path):
    home = tmp_path / "home"
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home, *SIM, *TARGET,
        "--study", f"A={tmp_path / 'missing.h5ad'}", "--out", tmp_path / "atlas.h5ad",
    )  # fmt: skip
    assert f"{tmp_path / 'missing.h5ad'}: no such file" in error_line(proc)
    assert not home.exists() and not (tmp_path / "atlas.h5ad").exists()


def test_a_study_that_is_not_h5ad(sim_mirror, tmp_path):
    fake = tmp_path / "fake.h5ad"
    fake.write_text("gene,cell1\nA,1\n")
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", tmp_path / "home", *SIM, *TARGET,
        "--study", f"A={fake}", "--out", tmp_path / "atlas.h5ad",
    )  # fmt: skip
    assert f"{fake}: not an HDF5/h5ad file" in error_line(proc)


@pytest.mark.parametrize("kind", ["row numbers", "numbers"])
def test_numeric_var_names_are_refused_with_a_hint(kind, sim_mirror, entrez_ids, tmp_path):
    names = [str(i) for i in range(136)] if kind == "row numbers" else entrez_ids
    study = write_study(tmp_path / "numeric.h5ad", names, 30)
    home = tmp_path / "home"
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home, *SIM, *TARGET,
        "--study", f"n={study}", "--out", tmp_path / "atlas.h5ad",
    )  # fmt: skip
    line = error_line(proc)
    assert f"all {len(names)} var names are {kind}" in line and "--id-namespace entrez" in line
    assert not home.exists()  # refused before the index was built


def test_numeric_var_names_with_their_namespace(sim_mirror, home_copy, entrez_ids, tmp_path):
    study = write_study(tmp_path / "entrez.h5ad", entrez_ids, 30)
    out, report = tmp_path / "atlas.h5ad", tmp_path / "report.csv"
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home_copy, *SIM, *TARGET, "--study", f"e={study}",
        "--out", out, "--report", report, "--id-namespace", "entrez",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = report.read_text().splitlines()[1].split(",")
    assert row[0] == "e" and int(row[1]) == len(entrez_ids) and int(row[2]) + int(row[3]) == len(entrez_ids)
    assert ad.read_h5ad(out, backed="r").n_obs == 30


def test_numeric_var_names_with_their_namespace_in_the_registry(sim_mirror, home_copy, entrez_ids, tmp_path):
    """The registry says which studies hold NCBI Gene IDs; the others keep refusing numbers."""
    entrez = write_study(tmp_path / "entrez.h5ad", entrez_ids, 30)
    rows = write_study(tmp_path / "rows.h5ad", [str(i) for i in range(136)], 10)
    registry = tmp_path / "studies.csv"
    registry.write_text(f"study,path,id_namespace\ne,{entrez},entrez\nr,{rows},\n")
    out, report = tmp_path / "atlas.h5ad", tmp_path / "report.csv"
    base = ["harmonize", "--source", sim_mirror, "--home", home_copy, *SIM, *TARGET, "--out", out]
    line = error_line(run_cli(*base, "--registry", registry))
    assert "study 'r'" in line and "row numbers" in line and "id_namespace: entrez in a study registry" in line
    registry.write_text(f"study,path,id_namespace\ne,{entrez},entrez\n")
    proc = run_cli(*base, "--registry", registry, "--report", report)
    assert proc.returncode == 0, proc.stderr
    row = report.read_text().splitlines()[1].split(",")
    assert row[0] == "e" and int(row[2]) + int(row[3]) == len(entrez_ids)  # every ID matched as NCBI Gene


def test_numeric_var_names_with_their_namespace_in_the_notebook(sim_mirror, home_copy, entrez_ids, tmp_path):
    import idtrack_core

    study = write_study(tmp_path / "entrez.h5ad", entrez_ids, 30)
    target = {"source": str(sim_mirror), "species": SIM_SPECIES, "assembly": SIM_ASSEMBLY, "home": str(home_copy)}
    with pytest.raises(StudyInputError, match="id_namespace='entrez' in the library"):
        idtrack_core.harmonize({"e": str(study)}, final_database="HGNC Symbol", **target)
    h = idtrack_core.harmonize({"e": str(study)}, final_database="HGNC Symbol", id_namespace={"e": "entrez"}, **target)
    assert h.diagnostics.loc["e", "one_to_none"] == 0 and h.union().shape == (30, len(entrez_ids))


def test_row_numbers_with_a_namespace_fail_their_gates(sim_mirror, home_copy, tmp_path):
    """Said to be NCBI Gene IDs, row numbers match nothing: the failure-rate gate refuses the study."""
    study = write_study(tmp_path / "rows.h5ad", [str(i) for i in range(136)], 30)
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home_copy, *SIM, *TARGET, "--study", f"r={study}",
        "--out", tmp_path / "atlas.h5ad", "--id-namespace", "entrez",
    )  # fmt: skip
    assert "failure rate (1:0 features / features) 1.000 > max_failure_rate" in error_line(proc)
    assert not (tmp_path / "atlas.h5ad").exists()


def test_a_study_with_no_cells_is_reported(sim_mirror, home_copy, studies, tmp_path):
    out = tmp_path / "atlas.h5ad"
    proc = run_cli(
        "harmonize", "--source", sim_mirror, "--home", home_copy, *SIM, *TARGET,
        "--study", f"none={studies['empty']}", "--study", f"small={studies['small']}", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "has 0 cells" in line]
    assert len(warnings) == 1 and "study none" in warnings[0] and "WARNING" in warnings[0]
    assert ad.read_h5ad(out).obs["handle_anndata"].value_counts().to_dict() == {"small": 20, "none": 0}


# ---------------------------------------------------------------------------------------- command line


def test_a_typo_in_an_option_is_named(sim_mirror, tmp_path):
    proc = run_cli("convert", "--source", sim_mirror, "--home", tmp_path, *SIM, "--to-relese", "3", "X")
    line = error_line(proc)
    assert "unrecognized arguments: --to-relese" in line and "did you mean --to-release?" in line
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1  # no usage block either


def test_debug_shows_the_traceback(sim_mirror):
    proc = run_cli("--debug", "releases", "--source", sim_mirror, "--species", "homo_sapien")
    assert proc.returncode == 2 and "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("idtrack-atlas: error: no core database")
    after = run_cli("releases", "--source", sim_mirror, "--species", "homo_sapien", "--debug")
    assert after.returncode == 2 and "Traceback" in after.stderr
