"""The quality gates have one home (idtrack_core.harmonize.gates): Pandera checks built from the thresholds."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from idtrack_core.convert import ConversionTarget, ResolutionIndex
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot
from idtrack_core.harmonize.gates import GATES, Thresholds, evaluate_gates, evaluate_studies, gate_schema
from idtrack_core.harmonize.matchings import diagnose, match_features

from conftest import TESTDB

FOX = ["FOXC1", "FOXQ1", "FOXF2"]


@pytest.fixture(scope="module")
def lookup():
    """Conversion to Ensembl genes on the real rest_human_core_grch37 test database (release 72)."""
    source = DumpSource(str(TESTDB / "rest_human_core_grch37"))
    snap = build_snapshot([extract_release(source, "homo_sapiens", None, 72)])
    return ResolutionIndex.build(snap, ConversionTarget(72, "ensembl_gene")).lookup


def test_failure_gate_names_rate_limit_and_exactly_the_failed_features(lookup):
    matching = match_features([*FOX, "junk_a", "junk_b"], lookup)
    report = evaluate_gates("lab", matching, Thresholds(max_failure_rate=0.2))
    failure = dict(zip(GATES, report.results, strict=True))["max_failure_rate"]
    assert not report.passed and report.failures == (failure,)
    assert failure.value == pytest.approx(2 / 5) == diagnose("lab", matching).failure_rate
    assert failure.offending == ("junk_a", "junk_b")
    assert "0.400 > max_failure_rate 0.2" in failure.message and "junk_a" in failure.message
    assert report.describe().startswith("lab: failure rate")
    assert evaluate_gates("lab", matching, Thresholds(max_failure_rate=0.4)).passed  # the limit is inclusive


def test_the_pandera_failure_report_names_the_gate_and_the_features(lookup):
    matching = match_features([*FOX, "junk_a"], lookup)
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        gate_schema(Thresholds(max_failure_rate=0.1)).validate(matching, lazy=True)
    assert "max_failure_rate" in str(caught.value) and "must be <= 0.1" in str(caught.value)
    cases = caught.value.failure_cases
    assert set(matching.loc[cases["index"].astype(int), "feature"]) == {"junk_a"}
    gate_schema(Thresholds(max_failure_rate=0.25)).validate(matching, lazy=True)  # passes: no exception


def test_collision_gate_counts_genes_reached_by_several_features(lookup):
    # FOXC1 by its symbol and by one of its transcripts: one gene reached twice
    matching = match_features(["FOXC1", "ENST00000380874", "FOXQ1"], lookup)
    assert matching["collision"].tolist() == [True, True, False]
    strict = evaluate_gates("s", matching, Thresholds(max_collisions=0))
    collisions = dict(zip(GATES, strict.results, strict=True))["max_collisions"]
    assert not collisions.passed and collisions.value == 1 == diagnose("s", matching).collisions
    assert collisions.offending == ("ENST00000380874", "FOXC1")
    assert evaluate_gates("s", matching, Thresholds(max_collisions=1)).passed


def test_ambiguity_gate_and_per_study_thresholds(lookup):
    matching = match_features([*FOX, "junk"], lookup)
    ambiguous = matching.assign(category=["1:n", "1:1", "1:1", "1:0"])  # as a 1:n policy test would see it
    reports = evaluate_studies(
        {"a": ambiguous, "b": matching}, {"a": Thresholds(max_failure_rate=0.5), "b": Thresholds(max_failure_rate=0.1)}
    )
    assert list(reports) == ["a", "b"]
    assert [r.gate for r in reports["a"].failures] == ["max_ambiguity_rate"]
    assert reports["a"].failures[0].offending == ("FOXC1",)
    assert [r.gate for r in reports["b"].failures] == ["max_failure_rate"]
    record = reports["b"].as_record()
    assert record["passed"] is False and record["gates"]["max_failure_rate"]["offending"] == 1


def test_an_empty_matching_passes_and_bad_thresholds_are_refused(lookup):
    empty = match_features([], lookup)
    assert isinstance(empty, pd.DataFrame) and evaluate_gates("e", empty, Thresholds()).passed
    with pytest.raises(ValueError, match="max_failure_rate"):
        Thresholds(max_failure_rate=1.5)
    with pytest.raises(ValueError, match="max_collisions"):
        Thresholds(max_collisions=-1)
