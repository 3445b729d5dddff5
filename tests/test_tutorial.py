"""``docs/tutorial.ipynb`` executes from a clean home (nbclient, a real kernel), and the committed copy carries its
outputs (refresh them with ``jupyter execute --inplace docs/tutorial.ipynb``)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def outputs(nb) -> tuple[str, int]:
    """All text the code cells printed or displayed, and how many images they showed."""
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
            images += "image/png" in out.get("data", {})
    return "\n".join(text), images


def check(nb) -> None:
    text, images = outputs(nb)
    assert "Union shape: (110, 5)" in text and "Intersect shape: (110, 2)" in text
    assert "NOT_A_REAL_GENE" in text and "gates failing: toy_B" in text
    assert "TP53 + ENSG00000141510" in text  # the n→1 warning names the features
    assert "all materialized: True | atlas_union: 110 × 5" in text
    assert images >= 2  # the rates plots render inline


def test_the_committed_tutorial_carries_its_outputs():
    nb = nbformat.read(TUTORIAL, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    check(nb)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_tutorial_executes_from_a_clean_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IDTRACK_TUTORIAL_HOME", str(tmp_path / "work"))
    nb = nbformat.read(TUTORIAL, as_version=4)
    for cell in nb.cells:  # start from no outputs: what is checked below is what this run printed
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(TUTORIAL.parent)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    check(nb)
    assert (tmp_path / "work" / "report" / "studies" / "lung_symbols_r93" / "failed.csv").exists()
