"""Great Expectations Data Docs of study matchings: real GX 1.x over matchings from the real Ensembl test database."""

from __future__ import annotations

import html
import os
import posixpath
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
import pytest

from idtrack_core.convert import ConversionTarget, ResolutionIndex
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot
from idtrack_core.harmonize.gates import Thresholds, evaluate_gates, evaluate_studies
from idtrack_core.harmonize.matchings import diagnose, match_features
from idtrack_core.report.data_docs import (
    DataDocsError,
    asset_names,
    render_data_docs,
    with_gate_columns,
)

from conftest import TESTDB

FOLDER = TESTDB / "rest_human_core_grch37"
LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']*)["']""")
ROW = re.compile(r'<tr data-study="([^"]*)" data-status="([^"]*)">(.*?)</tr>', re.S)
RUN_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@contextmanager
def no_network() -> Iterator[None]:
    """Any connection or DNS lookup attempted inside fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] or kwargs}")

    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def matchings() -> dict[str, pd.DataFrame]:
    """Three studies: clean (FOXC1 by symbol and by transcript: one n→1 collision), mostly junk names, and one junk
    name in ten (under a study name that is unsafe as a path)."""
    snap = build_snapshot([extract_release(DumpSource(str(FOLDER)), "homo_sapiens", None, 72)])
    lookup = ResolutionIndex.build(snap, ConversionTarget(72, "ensembl_gene")).lookup
    genes = sorted({f for line in (FOLDER / "gene.txt").read_text().splitlines() for f in line.split("\t")[12:13]})
    fox = {"ENSG00000054598", "ENSG00000164379", "ENSG00000137273"}  # FOXC1, FOXQ1, FOXF2: named by symbol below
    genes = [g for g in genes if g not in fox]
    assert len(genes) >= 17
    return {
        "heart": match_features(["FOXC1", "FOXQ1", "FOXF2", "ENST00000064324", *genes[:8]], lookup),
        "junk_lab": match_features([f"junk_{i}" for i in range(6)] + ["FOXQ1"], lookup),
        "lung v2/left": match_features([*genes[8:17], "not_a_gene"], lookup),
    }


@pytest.fixture(scope="module")
def docs(matchings) -> dict[str, bytes]:
    with no_network():
        return render_data_docs(matchings, evaluate_studies(matchings, Thresholds()), run_time=RUN_TIME)


def page_text(page: bytes) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    body = re.sub(r"<script.*?</script>", " ", page.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def index_rows(docs: dict[str, bytes]) -> list[dict]:
    """Rows of the index's static validation-results table: study, status, link to the page, the cells' text."""
    rows = []
    for study, status, cells in ROW.findall(docs["index.html"].decode()):
        page = next(link for link in LINK.findall(cells) if link.startswith("validations/"))
        rows.append({"study": html.unescape(study), "status": status, "page": page, "text": page_text(cells.encode())})
    return rows


def expected_status(study: str, matching: pd.DataFrame, thresholds: Thresholds) -> str:
    """What the blocking checks decide, in the words of the GX index."""
    return "Success" if evaluate_gates(study, matching, thresholds).passed else "Failed"


def test_fixture_studies_straddle_the_default_gates(matchings):
    """The clean study passes every gate with one collision, the junk one fails the failure rate."""
    d = {s: diagnose(s, m) for s, m in matchings.items()}
    assert d["heart"].failure_rate == 0 and d["heart"].collisions == 1
    assert d["junk_lab"].failure_rate > Thresholds().max_failure_rate
    assert 0 < d["lung v2/left"].failure_rate <= Thresholds().max_failure_rate
    for study, m in matchings.items():
        gated = with_gate_columns(m)
        assert gated["is_failed"].mean() == pytest.approx(d[study].failure_rate, abs=1e-6)
        assert gated["is_ambiguous"].mean() == pytest.approx(d[study].ambiguity_rate, abs=1e-6)
        assert gated["collision_genes_first_seen"].sum() == d[study].collisions
        assert list(m.columns) == list(gated.columns[: len(m.columns)]) and "is_failed" not in m.columns


def test_index_is_html_and_every_link_is_relative_and_resolves(docs):
    """No page loads anything from the network (no script, no remote stylesheet or image); links resolve."""
    assert next(iter(docs)) == "index.html"
    assert list(docs)[1:] == sorted(list(docs)[1:])
    assert docs["index.html"].lstrip().lower().startswith(b"<!doctype html")
    pages = [name for name in docs if name.endswith(".html")]
    assert len(pages) == 2 + 3  # index, the suite, one validation page per study
    for page in pages:
        text = docs[page].decode()
        assert "/tmp" not in text and "gx_docs_" not in text, page
        assert not re.search(r"amazonaws\.com/logo-long\.png|\.png\?d=", text), page  # the logo beacon is gone
        assert "<script" not in text.lower(), page
        assert not re.search(r"""<(?:link|img|script)\b[^>]*(?:href|src)\s*=\s*["']https?:""", text, re.I), page
        links = set(LINK.findall(text))
        assert links, page
        for link in links:
            if link.startswith(("#", "javascript:")) or not link:
                continue
            if link.startswith(("http://", "https://")):  # plain links to GX's site, nothing loaded
                assert link.split("/")[2] == "greatexpectations.io", (page, link)
                continue
            assert not link.startswith(("/", "file:", "s3:")), (page, link)
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), link.split("#")[0].split("?")[0]))
            assert target in docs, (page, link, target)


def test_each_study_is_reported_with_the_status_of_its_gates(docs, matchings):
    assets = asset_names(matchings)
    assert assets["lung v2/left"] == "lung_v2_left"
    rows = {row["study"]: row for row in index_rows(docs)}
    assert list(rows) == list(matchings)
    statuses = {study: rows[study]["status"] for study in matchings}
    assert statuses == {"heart": "Success", "junk_lab": "Failed", "lung v2/left": "Success"}
    thresholds = Thresholds()
    assert "max_failure_rate" in rows["junk_lab"]["text"] and "none" in rows["heart"]["text"]
    for study, m in matchings.items():
        assert statuses[study] == expected_status(study, m, thresholds)
        page = rows[study]["page"]
        assert f"/{RUN_TIME:%Y%m%dT%H%M%S}" in page and f"{assets[study]}.html" in page
        assert "2026-01-02 03:04:05 UTC" in rows[study]["text"]
        text = page_text(docs[page])
        assert f"Data asset: {study} " in text
        assert ("Status: Failed" in text) == (statuses[study] == "Failed")
        failed = int(re.search(r"Unsuccessful Expectations (\d+)", text).group(1))
        assert failed == len(evaluate_gates(study, m, thresholds).failures)  # the contract itself holds
    junk = page_text(docs[rows["junk_lab"]["page"]])
    observed = re.search(r"is_failed .*?mean must be .*? less than or equal to 0\.2 \. ≈?([0-9.]+)", junk)
    assert float(observed.group(1)) == pytest.approx(diagnose("junk_lab", matchings["junk_lab"]).failure_rate)


def test_per_study_thresholds_and_a_second_run_give_the_same_files(docs, matchings, capfd):
    """Overrides flip the verdicts (collision and failure gates); file names do not depend on the run; no output."""
    capfd.readouterr()
    overrides = {
        "heart": Thresholds(max_collisions=0),
        "junk_lab": Thresholds(max_failure_rate=0.9),
        "lung v2/left": Thresholds(max_failure_rate=0.05),
    }
    with no_network():
        again = render_data_docs(matchings, evaluate_studies(matchings, overrides), run_time=RUN_TIME)
    assert capfd.readouterr() == ("", "")
    assert list(again) == list(docs)
    assert {n: b for n, b in again.items() if not n.endswith(".html")} == {
        n: b for n, b in docs.items() if not n.endswith(".html")
    }
    statuses = {row["study"]: row["status"] for row in index_rows(again)}
    assert statuses == {"heart": "Failed", "junk_lab": "Success", "lung v2/left": "Failed"}
    for study, m in matchings.items():
        assert statuses[study] == expected_status(study, m, overrides[study])


def test_no_study_gives_an_empty_site_and_missing_thresholds_are_named(matchings):
    with no_network():
        empty = render_data_docs({}, {})
    assert "index.html" in empty and not index_rows(empty)
    assert not any(name.startswith("validations/") for name in empty)
    with pytest.raises(DataDocsError, match="junk_lab"):
        render_data_docs(
            matchings, evaluate_studies({k: matchings[k] for k in ("heart", "lung v2/left")}, Thresholds())
        )


def test_run_time_defaults_to_now(matchings):
    before = datetime.now(UTC).replace(microsecond=0)
    with no_network():
        docs = render_data_docs({"heart": matchings["heart"]}, evaluate_studies(matchings, Thresholds()))
    (row,) = index_rows(docs)
    shown = datetime.strptime(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["text"]).group(0), "%Y-%m-%d %H:%M:%S")
    assert before <= shown.replace(tzinfo=UTC) <= datetime.now(UTC)
    assert f"/{shown:%Y%m%dT%H%M%S}" in row["page"]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} absent (Debian package chromium)")
def test_index_shows_the_validation_list_in_chromium_offline(docs, tmp_path):
    """Headless Chromium with every network request refused: the index lists each study with its status, the
    study's page opens from its link, and nothing but local files is requested."""
    from playwright.sync_api import sync_playwright

    site = tmp_path / "data_docs"
    for name, data in docs.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 700})
            page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
            )
            page.on("request", lambda request: requested.append(request.url))
            page.goto((site / "index.html").as_uri(), wait_until="load")
            rows = page.locator("#validation-results tbody tr[data-study]")
            assert rows.count() == 3
            shown = {rows.nth(i).get_attribute("data-study"): rows.nth(i).inner_text() for i in range(3)}
            assert set(shown) == {"heart", "junk_lab", "lung v2/left"}
            assert "Failed" in shown["junk_lab"] and "max_failure_rate" in shown["junk_lab"]
            assert "Success" in shown["heart"] and "2026-01-02 03:04:05 UTC" in shown["heart"]
            assert rows.first.is_visible()
            page.screenshot(path=str(tmp_path / "index.png"))
            page.get_by_role("link", name="junk_lab", exact=True).click()
            page.wait_for_load_state("load")
            assert "Data asset: junk_lab" in page.inner_text("body")
        finally:
            browser.close()
    assert requested and all(url.startswith("file:") for url in requested), [u for u in requested if "file:" not in u]
    assert (tmp_path / "index.png").stat().st_size > 10_000  # a rendered table, not a blank page
