"""The harmonization report without Dagster: drill-downs, the Markdown summary, the rates plot, the report folder."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from idtrack_core.convert import ConversionTarget, ResolutionIndex
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot
from idtrack_core.harmonize.drilldown import (
    DRILLDOWN_COLUMNS,
    ambiguous_features,
    collided_features,
    drilldown_counts,
    drilldown_files,
    drilldowns,
    failed_features,
)
from idtrack_core.harmonize.gates import Thresholds, evaluate_studies
from idtrack_core.harmonize.matchings import MATCHING_COLUMNS, diagnose, diagnostics_table, match_features
from idtrack_core.harmonize.plan import build_plan
from idtrack_core.report.bundle import report_files
from idtrack_core.report.plot import rates_figure, rates_png

from conftest import TESTDB

FOLDER = TESTDB / "rest_human_core_grch37"


@pytest.fixture(scope="module")
def matchings() -> dict[str, pd.DataFrame]:
    """``clean``: FOXC1 by symbol, by gene ID and by transcript (one n→1 gene, three features); ``junky``: twelve
    junk names and FOXQ1."""
    snap = build_snapshot([extract_release(DumpSource(str(FOLDER)), "homo_sapiens", None, 72)])
    lookup = ResolutionIndex.build(snap, ConversionTarget(72, "ensembl_gene")).lookup
    return {
        "clean": match_features(["FOXC1", "ENSG00000054598", "ENST00000064324", "FOXQ1", "FOXF2"], lookup),
        "junky": match_features([f"junk_{i:02d}" for i in range(12)] + ["FOXQ1"], lookup),
    }


def test_failed_and_collided_features_name_reason_candidates_and_evidence(matchings):
    failed = failed_features("junky", matchings["junky"])
    assert list(failed.columns) == DRILLDOWN_COLUMNS
    assert list(failed["feature"]) == [f"junk_{i:02d}" for i in range(12)]
    assert set(failed["reason"]) == {"no_corresponding"} and set(failed["study"]) == {"junky"}
    assert failed_features("clean", matchings["clean"]).empty

    collided = collided_features("clean", matchings["clean"])
    assert list(collided["feature"]) == ["FOXC1", "ENSG00000054598", "ENST00000064324"]  # var order
    assert set(collided["candidates"]) == {"ENSG00000054598"}
    by_feature = collided.set_index("feature")
    assert by_feature.loc["FOXC1", "reason"] == "n→1: shares ENSG00000054598 with ENSG00000054598, ENST00000064324"
    assert "matched_node=ensembl_transcript/ENST00000064324" in by_feature.loc["ENST00000064324", "evidence"]
    assert "path_length=1" in by_feature.loc["ENST00000064324", "evidence"]
    assert collided_features("junky", matchings["junky"]).empty


def test_ambiguous_features_list_every_candidate_gene():
    """A 1:n row as the index answers it (a name two genes carry), beside a 1:1 one."""
    rows = [
        ["P1", "1:n", "A4GALT;PRF1", "ENSG00000128274;ENSG00000180644", None, False, "HGNC Symbol/P1", "synonym"],
        ["TP53", "1:1", "TP53", "ENSG00000141510", None, False, "HGNC Symbol/TP53", "exact"],
    ]
    matching = pd.DataFrame(
        [[*r, 0, 1.0, None, None, 2 if r[1] == "1:n" else 1, False] for r in rows], columns=MATCHING_COLUMNS
    )
    amb = ambiguous_features("s", matching)
    assert amb.to_dict("records") == [
        {
            "study": "s",
            "feature": "P1",
            "reason": "1:n: reaches 2 genes",
            "candidates": "ENSG00000128274;ENSG00000180644",
            "targets": "A4GALT;PRF1",
            "evidence": "match=synonym; matched_node=HGNC Symbol/P1; path_length=0; min_score=1.0",
        }
    ]


def test_drilldown_tables_files_and_counts_agree_with_the_diagnostics(matchings):
    tables = drilldowns(matchings)
    counts = drilldown_counts(matchings)
    files = drilldown_files(matchings)
    assert sorted(files) == [f"studies/{s}/{k}.csv" for s in ("clean", "junky") for k in sorted(tables)]
    for study, m in matchings.items():
        d = diagnose(study, m)
        assert counts.loc[study, "failed"] == d.one_to_none == (tables["failed"]["study"] == study).sum()
        assert counts.loc[study, "ambiguous"] == d.one_to_many_target + d.fallback_1_to_n
        assert counts.loc[study, "collisions"] == d.collided_features
        for kind, table in tables.items():
            on_disk = pd.read_csv(io.BytesIO(files[f"studies/{study}/{kind}.csv"]), keep_default_na=False, dtype=str)
            expected = table[table["study"] == study].drop(columns="study").reset_index(drop=True)
            pd.testing.assert_frame_equal(on_disk, expected.astype(str), check_dtype=False)


def test_report_folder_links_every_drilldown_and_never_cuts_a_list_silently(matchings):
    gates = evaluate_studies(matchings, Thresholds(max_failure_rate=1.0))
    plan = build_plan(matchings, {})
    diagnostics = diagnostics_table([diagnose(s, m) for s, m in sorted(matchings.items())])
    files = report_files(plan, diagnostics, {"union": (10, 4)}, matchings, gates, data_docs=False)
    summary = files["summary.md"].decode()
    assert "## Drill-downs" in summary and "![rates](rates.png)" in summary
    assert "[12](studies/junky/failed.csv)" in summary and "[3](studies/clean/collisions.csv)" in summary
    # 12 failed names: the first ten inline, then how many more and the file that lists them all
    assert "`junk_09`, … (2 more: [all](studies/junky/failed.csv))" in summary
    assert not any(name.startswith("data_docs/") for name in files)
    assert files["rates.png"][:8] == b"\x89PNG\r\n\x1a\n"
    for link in ("studies/junky/failed.csv", "studies/clean/collisions.csv", "rates.png"):
        assert link in files


def test_rates_plot_shows_counts_and_each_studys_gate_limits(matchings):
    gates = evaluate_studies(matchings, {"clean": Thresholds(max_collisions=0), "junky": Thresholds()})
    diagnostics = diagnostics_table([diagnose(s, m) for s, m in sorted(matchings.items())])
    fig = rates_figure(diagnostics, gates)
    _, failure, ambiguity, collisions = fig.axes
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"n=5", "n=13", "12"} <= texts  # features per study, the 1:0 count of junky
    assert "92.3% (12)" in texts and "1 (3)" in texts  # junky's failure rate, clean's collisions (features)

    def limits(ax) -> list[float]:  # the x of each dashed limit mark
        return sorted(round(float(seg[0][0]), 6) for c in ax.collections for seg in c.get_segments())

    assert limits(failure) == [0.2, 0.2] and limits(ambiguity) == [0.05, 0.05] and limits(collisions) == [0.0, 50.0]
    over = [p.get_facecolor()[:3] for p in failure.patches]
    assert over[0] != over[1]  # junky (over its limit) is drawn in another colour than clean
    assert "limit 0, 50" in collisions.get_title()
    assert rates_png(diagnostics, gates) == rates_png(diagnostics, gates)  # deterministic bytes
