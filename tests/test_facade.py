"""The notebook facade: the seed's toy example with in-memory AnnData objects, conversion, species names."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import idtrack_core
from idtrack_core import facade
from idtrack_core.errors import ConversionInputError, QualityGateError

from conftest import HUMAN

GENES_A = ["TP53", "BRCA1", "BRCA2", "BRAF", "KRAS"]
GENES_B = ["TP53", "ENSG00000141510", "BRCA1", "NOT_A_REAL_GENE"]


def toy_studies() -> dict[str, ad.AnnData]:
    """The seed's toy example: 50 cells of HGNC symbols, 60 cells mixing symbols, an Ensembl ID of TP53 and junk."""
    x_a = sp.random(50, len(GENES_A), density=0.2, format="csr", random_state=0)
    x_b = sp.random(60, len(GENES_B), density=0.2, format="csr", random_state=1)
    a = ad.AnnData(X=x_a, obs=pd.DataFrame(index=[f"cellA_{i}" for i in range(50)]), var=pd.DataFrame(index=GENES_A))
    b = ad.AnnData(X=x_b, obs=pd.DataFrame(index=[f"cellB_{i}" for i in range(60)]), var=pd.DataFrame(index=GENES_B))
    return {"toy_A": a, "toy_B": b}


@pytest.fixture(scope="module")
def human(human_home) -> dict:
    """Where the human mirror is and a home already holding its extracts and snapshot (the index is built once)."""
    return {"source": str(HUMAN), "species": "human", "assembly": "GRCh38", "home": human_home[0].home}


def test_the_seed_toy_example_with_in_memory_anndata(human, monkeypatch, caplog):
    calls = []
    real = facade.match_studies
    monkeypatch.setattr(facade, "match_studies", lambda *a, **k: calls.append(a) or real(*a, **k))
    studies = toy_studies()
    with caplog.at_level(logging.WARNING, logger="idtrack_core"):
        h = idtrack_core.harmonize(studies, **human, final_database="HGNC Symbol", max_failure_rate=0.3)
        union, intersect = h.union(), h.intersect()
    assert union.shape == (110, 5) and intersect.shape == (110, 2)
    assert len(calls) == 1  # matched once for both modes
    assert not union.isbacked and sorted(union.var["converted_id"]) == sorted(GENES_A)
    assert sorted(intersect.var["converted_id"]) == ["BRCA1", "TP53"]

    failed = h.failed
    assert failed[["study", "feature", "reason"]].values.tolist() == [["toy_B", "NOT_A_REAL_GENE", "no_corresponding"]]
    collisions = h.collisions
    assert collisions[["study", "feature", "candidates"]].values.tolist() == [
        ["toy_B", "TP53", "ENSG00000141510"],
        ["toy_B", "ENSG00000141510", "ENSG00000141510"],
    ]
    assert h.ambiguous.empty
    assert list(h.diagnostics.index) == ["toy_A", "toy_B"] and list(h.diagnostics["input_ids"]) == [5, 4]
    assert h.diagnostics.loc["toy_B", "failure_rate"] == 0.25 and h.diagnostics.loc["toy_B", "collisions"] == 1

    # the n→1 pair is summed, cell by cell, and a warning names it
    b = studies["toy_B"].X.toarray()
    cells = union.obs["handle_anndata"] == "toy_B"
    tp53 = union[cells.to_numpy(), "ENSG00000141510"].X.toarray().ravel()
    np.testing.assert_allclose(tp53, b[:, 0] + b[:, 1])
    assert any("toy_B" in r.getMessage() and "TP53 + ENSG00000141510" in r.getMessage() for r in caplog.records)
    record = union.uns["idtrack"]
    assert record["studies"]["toy_B"]["file"]["url"] == "<in-memory AnnData 'toy_B'>"
    assert record["target"]["final_database"] == "HGNC Symbol" and record["target"]["to_release"] == 114
    assert {s: r.passed for s, r in h.gates().items()} == {"toy_A": True, "toy_B": True}
    assert "toy_B" in repr(h) and "1 failed" in repr(h)


def test_gates_refuse_a_failing_study_and_outputs_go_to_disk_backed(human, tmp_path):
    studies = toy_studies()
    path_b = tmp_path / "b.h5ad"
    studies["toy_B"].write_h5ad(path_b)
    h = idtrack_core.harmonize(
        {"toy_A": studies["toy_A"], "toy_B": str(path_b)}, **human, final_database="HGNC Symbol", var_names="symbol"
    )
    gates = h.gates()
    assert not gates["toy_B"].passed and [r.gate for r in gates["toy_B"].failures] == ["max_failure_rate"]
    assert h.gates_table().loc["toy_B", "max_failure_rate"] == "0.25 > 0.2 ✗"
    with pytest.raises(QualityGateError, match=r"toy_B: failure rate .* > max_failure_rate 0.2"):
        h.union()
    h = idtrack_core.harmonize(
        {"toy_A": studies["toy_A"], "toy_B": str(path_b)},
        **human,
        final_database="HGNC Symbol",
        var_names="symbol",
        exclude_failing=True,
    )
    atlas = h.union(out=tmp_path / "union.h5ad")
    assert atlas.isbacked and atlas.shape == (50, 5) and (tmp_path / "union.h5ad").exists()
    assert sorted(atlas.var_names) == sorted(GENES_A) and atlas.var.loc["TP53", "ensembl_id"] == "ENSG00000141510"
    assert atlas.uns["idtrack"]["studies"]["toy_A"]["file"]["url"].startswith("<in-memory AnnData")
    written = h.report(tmp_path / "report")
    assert "studies/toy_B/failed.csv" in written and "summary.md" in written
    assert h.plot().data[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConversionInputError, match="study 'x': expected an AnnData"):
        idtrack_core.harmonize({"x": 42}, **human, final_database="HGNC Symbol")


def test_convert_ids_with_a_species_alias(human):
    res = idtrack_core.convert_ids(
        ["TP53", "ENSG00000141510.19", "NOT_A_REAL_GENE"], **human, final_database="HGNC Symbol"
    )
    assert res["category"].tolist() == ["1:1", "1:1", "1:0"]
    assert res["target_ids"].tolist()[:2] == ["TP53", "TP53"] and res["reason"].tolist()[2] == "no_corresponding"
    one = idtrack_core.convert_ids("TP53", **human, final_database="ensembl_gene")
    assert one["target_ids"].tolist() == ["ENSG00000141510"]


def test_species_names():
    assert facade.species_name("human") == facade.species_name("Homo sapiens") == "homo_sapiens"
    assert facade.species_name("mouse") == "mus_musculus" and facade.species_name("danio_rerio") == "danio_rerio"
    with pytest.raises(ValueError, match="invalid species name"):
        facade.species_name("9606!")
    with pytest.raises(ConversionInputError, match="give species="):
        idtrack_core.convert_ids(["TP53"], source=str(HUMAN), final_database="HGNC Symbol")


@pytest.mark.parametrize(
    "first", ["import idtrack_core.harmonize.pipeline", "from idtrack_core.harmonize import gates", "pass"]
)
def test_the_facade_is_at_the_top_level_in_any_import_order_and_import_stays_light(first):
    code = f"""
import sys
{first}
import idtrack_core
light = "pandas" not in sys.modules
import idtrack_core.harmonize.plan
from idtrack_core import harmonize, convert_ids, Harmonization
assert callable(idtrack_core.harmonize) and harmonize is idtrack_core.harmonize
assert idtrack_core.harmonize.plan.build_plan and convert_ids.__module__ == "idtrack_core.facade"
import inspect
print(light, "final_database" in inspect.signature(idtrack_core.harmonize).parameters)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str("pipeline" not in first), "True"]  # the gates alone load no pandas


def test_no_source_means_the_embedded_default(tmp_path, monkeypatch):
    """``source=None``: the simulated mirror generated under $IDTRACK_HOME (here a small one made first), its
    species; versions kept in the platform's storage by default."""
    from idtrack_core.demo_data import ensure_demo
    from idtrack_core.simulation import read_ground_truth

    demo = ensure_demo(str(tmp_path / "home"), genes=200, releases=(1, 3))
    monkeypatch.setenv("IDTRACK_HOME", demo.home)
    monkeypatch.delenv("IDTRACK_STORAGE", raising=False)
    genes = read_ground_truth(demo.mirror).genes
    alive = sorted(genes.loc[genes["release"] == 3, "stable_id"].astype(str))[:3]
    res = idtrack_core.convert_ids([*alive, "junk"], final_database="ensembl_gene")
    assert res["target_ids"].tolist()[:3] == alive and res["category"].tolist() == ["1:1", "1:1", "1:1", "1:0"]
    assert (tmp_path / "home" / "storage" / "versions" / "indexes" / "idtrack_simulans" / "SIM1").is_dir()
