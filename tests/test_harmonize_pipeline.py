"""Harmonization of a real h5ad with studies in other identifier styles: matchings, plan, union/intersect."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from idtrack_core import __version__, cli
from idtrack_core.errors import QualityGateError, StudyInputError
from idtrack_core.harmonize.gates import Thresholds, evaluate_gates
from idtrack_core.harmonize.matchings import diagnose, match_features
from idtrack_core.harmonize.pipeline import harmonize
from idtrack_core.harmonize.plan import HarmonizationPolicy
from idtrack_core.provenance import read_atlas_provenance

from conftest import HEART_H5AD, HUMAN, HUMAN_RELEASES

OBS = ["cell_type_ontology_term_id", "batchA", "only_in_symbols"]


def release_table(release: int, table: str) -> list[list[str]]:
    path = HUMAN / f"release-{release}" / "mysql" / f"homo_sapiens_core_{release}_38" / f"{table}.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


@pytest.fixture(scope="module")
def files_114() -> dict[str, dict]:
    """From the release-114 dump files: gene → HGNC symbol and gene → version."""
    genes = {r[0]: (r[12], r[13]) for r in release_table(114, "gene")}
    hgnc = {r[0]: r[3] for r in release_table(114, "xref") if r[1] == "1100"}
    symbol: dict[str, set[str]] = {}
    for r in release_table(114, "object_xref"):
        if r[3] in hgnc:
            symbol.setdefault(genes[r[1]][0], set()).add(hgnc[r[3]])
    unique = {g: next(iter(s)) for g, s in symbol.items() if len(s) == 1}
    owners: dict[str, int] = {}
    for s in unique.values():
        owners[s] = owners.get(s, 0) + 1
    return {
        "symbol": {g: s for g, s in unique.items() if owners[s] == 1},
        "version": {gid: v for gid, v in genes.values()},
        "y_rna": sorted(g for g, s in symbol.items() if "Y_RNA" in s),
    }


def write_study(path: Path, names: list[str], x: sp.csr_matrix, obs: pd.DataFrame) -> str:
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(names, dtype=str)))
    adata.write_h5ad(path)
    return str(path)


@pytest.fixture(scope="module")
def studies(tmp_path_factory, files_114) -> dict[str, dict]:
    """The real heart study plus generated ones: symbols (+junk, a 1→n name, an n→1 pair), versioned IDs, junk.

    Each entry: url, and ``gene`` — per feature, the atlas feature it must map to ("" = must map nowhere,
    None = not known independently, e.g. a heart gene retired before 114 that a bridge may place).
    """
    root = tmp_path_factory.mktemp("studies")
    heart = ad.read_h5ad(HEART_H5AD)
    rng = np.random.default_rng(7)
    genes = [g for g in heart.var_names if g.startswith("ENSG")]
    named = [g for g in genes if g in files_114["symbol"]]
    alive = set(files_114["version"])
    heart_truth = [
        g if g in alive else ("ERCC-00002" if g == "ERCC-00002" else (None if g.startswith("ENSG") else ""))
        for g in heart.var_names
    ]
    out = {"heart": {"url": str(HEART_H5AD), "gene": heart_truth}}

    sym_genes = named[::2][:40]
    sym_names = [files_114["symbol"][g] for g in sym_genes] + ["ERCC-00002", "NOT_A_GENE_1", "Y_RNA"]
    sym_names += ["ENSG00000141510", "TP53"]  # two features of one gene: n→1
    n = len(sym_names)
    x = sp.random(50, n, density=0.3, format="csr", random_state=1, dtype=np.float32)
    x.data = np.round(x.data * 10).astype(np.float32) + 1
    obs = pd.DataFrame(
        {"cell_type_ontology_term_id": rng.choice(["CL:1", "CL:2"], 50), "only_in_symbols": np.arange(50)},
        index=[f"c{i}" for i in range(50)],
    )
    out["symbols"] = {
        "url": write_study(root / "symbols.h5ad", sym_names, x, obs),
        # Y_RNA names hundreds of genes: the default 1→n policy collapses it to the smallest gene ID
        "gene": [*sym_genes, "ERCC-00002", "", files_114["y_rna"][0], "ENSG00000141510", "ENSG00000141510"],
    }

    ver_genes = named[1::3][:30]
    ver_names = [f"{g}.{files_114['version'][g]}" for g in ver_genes] + ["ERCC-00002"]
    x = sp.random(30, len(ver_names), density=0.4, format="csr", random_state=2, dtype=np.float32)
    obs = pd.DataFrame({"batchA": ["A"] * 30}, index=[f"v{i}" for i in range(30)])
    out["versioned"] = {
        "url": write_study(root / "versioned.h5ad", ver_names, x, obs),
        "gene": [*ver_genes, "ERCC-00002"],
    }

    junk = [f"junk_{i}" for i in range(10)]
    x = sp.random(5, 10, density=0.5, format="csr", random_state=3, dtype=np.float32)
    out["junk"] = {
        "url": write_study(root / "junk.h5ad", junk, x, pd.DataFrame(index=[f"j{i}" for i in range(5)])),
        "gene": [None] * 10,
    }
    return out


def urls(studies, names=("heart", "symbols", "versioned")) -> dict[str, str]:
    return {n: studies[n]["url"] for n in names}


def test_matchings_and_diagnostics(studies, human_hgnc_index):
    heart = ad.read_h5ad(HEART_H5AD, backed="r")
    m = match_features(list(heart.var_names), human_hgnc_index.lookup)
    d = diagnose("heart", m)
    assert d.input_ids == 136 and m["feature"].tolist() == list(heart.var_names)
    ercc = m["feature"].str.startswith("ERCC")
    assert (m.loc[ercc, "category"] == "1:0").all() and (m.loc[ercc, "reason"] == "no_corresponding").all()
    assert d.one_to_none == int(ercc.sum()) + int(((m["category"] == "1:0") & ~ercc).sum())
    total = d.one_to_one_target + d.fallback_1_to_1 + d.one_to_many_target + d.fallback_1_to_n + d.one_to_none
    assert total == d.input_ids
    assert d.failure_rate == pytest.approx(d.one_to_none / d.input_ids, abs=1e-6)
    sym = match_features(["ENSG00000141510", "TP53", "Y_RNA"], human_hgnc_index.lookup)
    assert sym["collision"].tolist() == [True, True, False]
    assert diagnose("s", sym).collisions == 1
    assert not evaluate_gates(
        "j", match_features(["x"], human_hgnc_index.lookup), Thresholds(max_failure_rate=0.0)
    ).passed


def test_union_and_intersect_against_the_inputs_cell_by_cell(studies, human_hgnc_index, tmp_path):
    given = urls(studies)
    union = harmonize(given, human_hgnc_index, str(tmp_path / "u.h5ad"), "union", obs_columns=OBS)
    inter = harmonize(given, human_hgnc_index, str(tmp_path / "i.h5ad"), "intersect", obs_columns=OBS)
    plan = union.plan
    truth = {name: studies[name]["gene"] for name in given}
    for name in given:  # the plan maps every independently known feature to its true atlas feature
        m = plan.mapping[plan.mapping["study"] == name]
        placed = dict(zip(m["feature_position"], m["atlas_id"], strict=True))
        for j, gene in enumerate(truth[name]):
            if gene is not None:
                assert placed.get(j, "") == gene, (name, j, gene)
    present = {name: set(plan.mapping.loc[plan.mapping["study"] == name, "atlas_id"]) for name in given}
    assert list(plan.var.index) == sorted(set.union(*present.values()))
    everywhere = set.intersection(*present.values())
    assert {g for g in truth["symbols"] if g} & {g for g in truth["versioned"] if g} <= everywhere | {
        g for g in truth["symbols"] if g and g not in present["heart"]
    }
    assert set(plan.var_for("intersect").index) == everywhere
    assert plan.conversion_failed_but_consistent_identifiers == ["ERCC-00002"]

    for mode, result in (("union", union), ("intersect", inter)):
        atlas = ad.read_h5ad(result.merged[mode].out)
        var = plan.var_for(mode)
        assert list(atlas.var_names) == list(var.index)
        assert atlas.n_obs == sum(ad.read_h5ad(u, backed="r").n_obs for u in given.values())
        assert atlas.X.dtype == np.float32 and sp.issparse(atlas.X)
        assert list(atlas.obs["handle_anndata"].cat.categories) == list(given)
        for name, url in given.items():
            study = ad.read_h5ad(url)
            cells = atlas.obs_names[atlas.obs["handle_anndata"] == name]
            assert list(cells) == [f"{name}_{c}" for c in study.obs_names]
            block = atlas[cells].X.toarray()
            col = {g: i for i, g in enumerate(atlas.var_names)}
            expected = np.zeros_like(block)
            m = plan.mapping[plan.mapping["study"] == name]
            for j, gene in zip(m["feature_position"], m["atlas_id"], strict=True):
                if gene in col:
                    expected[:, col[gene]] += np.asarray(study.X[:, j].todense()).ravel()
            np.testing.assert_array_equal(block, expected)  # every value, zeros for missing genes
        assert atlas.obs.loc[atlas.obs["handle_anndata"] == "versioned", "only_in_symbols"].isna().all()
    var = plan.var
    assert var.loc["ENSG00000141510", "converted_id"] == "TP53"
    assert var.loc["ENSG00000141510", "converted_id_symbols"] == "ENSG00000141510;TP53"
    assert var.loc["ERCC-00002", "kind"] == "unconverted"
    assert bool(var.loc["ERCC-00002", "intersection"])
    assert var["intersection"].sum() == len(everywhere)
    assert plan.presence.shape == (len(var), 3)
    ny = plan.multiple_ensembl
    assert ny.loc[ny["feature"] == "Y_RNA", "policy"].item() == "collapse"
    assert plan.n_to_one["features"].tolist() == ["ENSG00000141510;TP53"]


def test_small_merge_equals_anndata_concat_of_reindexed_inputs(studies, human_hgnc_index, tmp_path):
    given = urls(studies, ("symbols", "versioned"))
    policy = HarmonizationPolicy(one_to_many="drop", many_to_one="first")
    res = harmonize(given, human_hgnc_index, str(tmp_path / "u.h5ad"), "union", policy)
    ours = ad.read_h5ad(tmp_path / "u.h5ad")
    parts = []
    for name, url in given.items():
        study = ad.read_h5ad(url)
        m = res.plan.mapping[res.plan.mapping["study"] == name]
        study = study[:, m["feature_position"].to_numpy()].copy()
        study.var_names = m["atlas_id"].to_numpy()
        study.obs_names = [f"{name}_{c}" for c in study.obs_names]
        parts.append(study)
    ref = ad.concat(parts, join="outer", fill_value=0)[:, ours.var_names]
    assert list(ref.obs_names) == list(ours.obs_names)
    np.testing.assert_array_equal(ref.X.toarray(), ours.X.toarray())


@pytest.mark.parametrize("one_to_many,kept", [("drop", 0), ("keep_all", None), ("collapse", 1)])
def test_one_to_many_policies(studies, human_hgnc_index, tmp_path, one_to_many, kept):
    res = harmonize(
        urls(studies, ("symbols",)),
        human_hgnc_index,
        str(tmp_path / "a.h5ad"),
        policy=HarmonizationPolicy(one_to_many=one_to_many),
    )
    row = res.plan.multiple_ensembl.set_index("feature").loc["Y_RNA"]
    n_genes = len(row["genes"].split(";"))
    assert n_genes > 1
    got = len([g for g in row["kept"].split(";") if g])
    assert got == (n_genes if kept is None else kept)
    atlas = ad.read_h5ad(tmp_path / "a.h5ad")
    study = ad.read_h5ad(studies["symbols"]["url"])
    y = np.asarray(study[:, "Y_RNA"].X.todense()).ravel()
    for gene in [g for g in row["kept"].split(";") if g]:
        np.testing.assert_array_equal(np.asarray(atlas[:, gene].X.todense()).ravel(), y)


@pytest.mark.parametrize("many_to_one", ["sum", "first", "drop"])
def test_many_to_one_policies(studies, human_hgnc_index, tmp_path, many_to_one):
    res = harmonize(
        urls(studies, ("symbols",)),
        human_hgnc_index,
        str(tmp_path / "a.h5ad"),
        policy=HarmonizationPolicy(many_to_one=many_to_one),
    )
    atlas = ad.read_h5ad(tmp_path / "a.h5ad")
    study = ad.read_h5ad(studies["symbols"]["url"])
    a = np.asarray(study[:, "ENSG00000141510"].X.todense()).ravel()
    b = np.asarray(study[:, "TP53"].X.todense()).ravel()
    if many_to_one == "drop":
        assert "ENSG00000141510" not in atlas.var_names
        return
    got = np.asarray(atlas[:, "ENSG00000141510"].X.todense()).ravel()
    np.testing.assert_array_equal(got, a + b if many_to_one == "sum" else a)
    assert res.plan.n_to_one["policy"].tolist() == [many_to_one]


def test_all_junk_study_is_reported_and_left_out(studies, human_hgnc_index, tmp_path):
    with pytest.raises(
        QualityGateError, match=r"junk: failure rate \(1:0 features / features\) 1.000 > max_failure_rate"
    ):
        harmonize(urls(studies, ("symbols", "junk")), human_hgnc_index, str(tmp_path / "a.h5ad"))
    assert not (tmp_path / "a.h5ad").exists()
    res = harmonize(
        urls(studies, ("symbols", "junk")), human_hgnc_index, str(tmp_path / "a.h5ad"), exclude_failing=True
    )
    junk = res.diagnostics_table.loc["junk"]
    assert junk["failure_rate"] == 1.0 and junk["one_to_none"] == 10
    assert list(res.plan.excluded_studies) == ["junk"]
    assert res.plan.excluded_studies["junk"].startswith("fails its quality gates: junk: failure rate")
    assert set(ad.read_h5ad(tmp_path / "a.h5ad", backed="r").obs["handle_anndata"]) == {"symbols"}
    assert not res.atlas_plan.gates["junk"].passed and res.atlas_plan.gates["symbols"].passed
    with pytest.raises(QualityGateError, match="no study passes its quality gates"):
        harmonize(urls(studies, ("junk",)), human_hgnc_index, str(tmp_path / "b.h5ad"), exclude_failing=True)
    assert not (tmp_path / "b.h5ad").exists()


def test_bad_inputs_leave_nothing_at_the_output(studies, human_hgnc_index, tmp_path):
    not_h5ad = tmp_path / "not.h5ad"
    not_h5ad.write_text("hello")
    out = tmp_path / "out.h5ad"
    with pytest.raises(StudyInputError, match=r"not\.h5ad"):
        harmonize({"a": studies["symbols"]["url"], "b": str(not_h5ad)}, human_hgnc_index, str(out))
    with pytest.raises(StudyInputError, match="invalid study name"):
        harmonize({"a/b": studies["symbols"]["url"]}, human_hgnc_index, str(out))
    with pytest.raises(StudyInputError):
        harmonize({"a": "http://127.0.0.1:9/none.h5ad"}, human_hgnc_index, str(out))
    assert not out.exists() and not list(tmp_path.glob(".out.h5ad*"))


def test_cli_harmonize_prints_diagnostics_and_writes_atlas_and_report(studies, human_home, tmp_path, capsys):
    ws, _, _ = human_home
    args = [
        "harmonize",
        "--source",
        str(HUMAN),
        "--home",
        ws.home,
        "--species",
        "homo_sapiens",
        "--assembly",
        "GRCh38",
        "--to-release",
        "114",
        "--final-database",
        "HGNC Symbol",
        "--mode",
        "intersect",
        "--out",
        str(tmp_path / "atlas.h5ad"),
        "--report",
        str(tmp_path / "report.csv"),
        "--obs-columns",
        "batchA",
    ]
    for name, url in urls(studies).items():
        args += ["--study", f"{name}={url}"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    for column in (
        "input_ids",
        "one_to_one_target",
        "fallback_1_to_1",
        "one_to_many_target",
        "fallback_1_to_n",
        "one_to_none",
        "success_rate",
        "failure_rate",
    ):
        assert column in captured.out
    assert "intersect atlas" in captured.err
    report = pd.read_csv(tmp_path / "report.csv")
    assert list(report["study"]) == ["heart", "symbols", "versioned"]
    atlas = ad.read_h5ad(tmp_path / "atlas.h5ad", backed="r")
    assert atlas.var["intersection"].all()


def test_cli_harmonize_applies_the_gates_and_the_atlas_carries_its_provenance(studies, human_home, tmp_path, capsys):
    """A failing study stops the command (exit 2, study and gate named, nothing written) unless the registry lets it
    through; the atlas written carries its provenance, which ``idtrack-atlas provenance`` prints."""
    import yaml

    ws, snapshot, _ = human_home
    base = [
        "harmonize",
        "--source",
        str(HUMAN),
        "--home",
        ws.home,
        "--species",
        "homo_sapiens",
        "--assembly",
        "GRCh38",
        "--to-release",
        "latest",
        "--final-database",
        "HGNC Symbol",
        "--out",
        str(tmp_path / "atlas.h5ad"),
    ]
    given = [f"--study=symbols={studies['symbols']['url']}", f"--study=junk={studies['junk']['url']}"]
    assert cli.main([*base, *given]) == 2
    err = capsys.readouterr().err
    assert "idtrack-atlas: error:" in err and "junk: failure rate" in err and "max_failure_rate 0.2" in err
    assert not (tmp_path / "atlas.h5ad").exists()

    registry = tmp_path / "studies.yaml"
    entries = {"symbols": {"path": studies["symbols"]["url"]}, "junk": {"path": studies["junk"]["url"]}}
    entries["junk"]["max_failure_rate"] = 1.0
    registry.write_text(yaml.safe_dump({"studies": entries}))
    assert cli.main([*base, "--registry", str(registry)]) == 0  # junk passes its own gate, but converts nothing
    assert "left out: junk (no feature converted)" in capsys.readouterr().err
    assert cli.main([*base, *given, "--exclude-failing"]) == 0
    assert "left out: junk (fails its quality gates: junk: failure rate" in capsys.readouterr().err
    atlas = ad.read_h5ad(tmp_path / "atlas.h5ad", backed="r")
    assert set(atlas.obs["handle_anndata"].cat.categories) == {"symbols"}

    record = atlas.uns["idtrack"]
    assert record["package_version"] == __version__
    assert record["source"]["url"] == str(HUMAN) and set(record["source"]["releases"]) == {
        str(r) for r in HUMAN_RELEASES
    }
    manifest = snapshot.manifest()
    assert record["source"]["species"] == "homo_sapiens" and record["source"]["assembly"] == manifest["assembly"]
    assert record["target"]["to_release"] == 114 and record["target"]["final_database"] == "HGNC Symbol"
    assert record["snapshot"]["version"] == snapshot.version
    assert record["atlas"]["mode"] == "union" and list(record["studies"]) == ["symbols"]
    symbols = record["studies"]["symbols"]
    assert symbols["file"]["url"] == studies["symbols"]["url"]
    assert symbols["file"]["size"] == Path(studies["symbols"]["url"]).stat().st_size
    assert symbols["gates"]["passed"] and symbols["diagnostics"]["input_ids"] == 45
    assert record["thresholds"]["max_failure_rate"] == 0.2 and record["plan"]["policy"]["many_to_one"] == "sum"

    capsys.readouterr()
    assert cli.main(["provenance", str(tmp_path / "atlas.h5ad")]) == 0
    shown = capsys.readouterr().out
    assert "\nsnapshot:\n" in shown and f"  version: {snapshot.version}\n" in shown and "  symbols:\n" in shown
    assert cli.main(["provenance", "--json", str(tmp_path / "atlas.h5ad")]) == 0
    assert json.loads(capsys.readouterr().out) == read_atlas_provenance(str(tmp_path / "atlas.h5ad"))
    assert cli.main(["provenance", str(HEART_H5AD)]) == 2
    assert "no provenance record" in capsys.readouterr().err


def test_cli_harmonize_format_zarr_writes_the_same_atlas_in_parallel_blocks(studies, human_home, tmp_path, capsys):
    """``--format zarr --workers 2``: a Zarr store holding the same atlas as the default .h5ad (X, obs, var), with
    its provenance (format and chunking recorded), which ``idtrack-atlas provenance`` reads."""
    ws, _, _ = human_home
    base = ["harmonize", "--source", str(HUMAN), "--home", ws.home, "--species", "homo_sapiens"]
    base += [
        "--assembly",
        "GRCh38",
        "--to-release",
        "114",
        "--final-database",
        "HGNC Symbol",
        "--obs-columns",
        "batchA",
    ]
    for name, url in urls(studies).items():
        base += ["--study", f"{name}={url}"]
    assert cli.main([*base, "--out", str(tmp_path / "atlas.h5ad")]) == 0
    assert cli.main([*base, "--out", str(tmp_path / "atlas.zarr"), "--format", "zarr", "--workers", "2"]) == 0
    assert "union atlas" in capsys.readouterr().err
    h5, zarr_atlas = ad.read_h5ad(tmp_path / "atlas.h5ad"), ad.read_zarr(tmp_path / "atlas.zarr")
    assert (h5.X != zarr_atlas.X).nnz == 0 and h5.X.dtype == zarr_atlas.X.dtype
    pd.testing.assert_frame_equal(h5.obs, zarr_atlas.obs)
    pd.testing.assert_frame_equal(h5.var, zarr_atlas.var)
    record = read_atlas_provenance(str(tmp_path / "atlas.zarr"))
    assert record["atlas"]["store"] == {"format": "zarr", "chunk_entries": 1 << 20}
    assert record["atlas"]["version"] != h5.uns["idtrack"]["atlas"]["version"]
    assert {k: v for k, v in record.items() if k != "atlas"} == {
        k: v for k, v in read_atlas_provenance(str(tmp_path / "atlas.h5ad")).items() if k != "atlas"
    }
    assert cli.main(["provenance", str(tmp_path / "atlas.zarr")]) == 0
    assert "  store:\n    chunk_entries: 1048576\n    format: zarr\n" in capsys.readouterr().out
