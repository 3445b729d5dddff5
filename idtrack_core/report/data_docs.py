"""Great Expectations Data Docs of the per-study matchings (DESIGN §6), for the harmonization report.

GX 1.x is called directly (``dagster-ge`` pins GX < 1): an ephemeral Data Context, one pandas dataframe asset per
study, one expectation suite (``study_matching``) that mirrors the Pandera contract
(:class:`idtrack_core.harmonize.schemas.StudyMatchingTable`) and the quality gates of
:mod:`idtrack_core.harmonize.gates`, and one Checkpoint per study whose ``UpdateDataDocsAction``
renders a filesystem Data Docs site in a temporary folder. The built site is returned as bytes so the caller can
publish it anywhere (local disk or S3).

The gates are expectations over helper columns added to a copy of each matching table:

- ``is_failed`` (1:0) — its mean is the failure rate, expected ≤ ``max_failure_rate``;
- ``is_ambiguous`` (1:n) — its mean is the ambiguity rate, expected ≤ ``max_ambiguity_rate``;
- ``collision_genes_first_seen`` — the n→1 collision genes (Ensembl genes reached by more than one feature) this
  feature is the first to reach, in var order; its sum is the study's collision count, expected ≤ ``max_collisions``.

These are the same measures as the gates of :mod:`idtrack_core.harmonize.gates`, with the limits of each study's
:class:`~idtrack_core.harmonize.gates.GateReport`, so a study that fails its blocking checks shows as failed in the
Data Docs. The limits are suite parameters given per study (per-study overrides); the suite's own page therefore
shows their names (``{'$PARAMETER': 'max_failure_rate'}``), each validation page the values applied.

Run times are real: a validation records when it ran (now, unless the caller gives a time), its page lives under
``validations/<suite>/<run name>/<run time>/`` and the index shows it. The report that holds the docs is itself a
content-addressed version, so a report made again from the same inputs keeps the docs (and the times) of the first.

The docs work offline, with no asset fetched from anywhere: GX's pages load bootstrap, jQuery, font-awesome,
bootstrap-table and vega from public CDNs and draw the index's tables with that JavaScript, so :func:`_read_site`
removes every ``<script>`` and remote stylesheet from the pages (their content is rendered on the server side
already; only the index is drawn in the browser) and links a small local stylesheet (:data:`OFFLINE_CSS`, with text
stand-ins for the icons) instead; the index is our own static page (:func:`index_page`) listing every validation
with its study, status, run time, expectation counts and failing gates. The logo, which GX fetches from its own
bucket with a timestamp (a beacon), is the copy in the site's ``static/`` folder.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

# Before GX is imported: GX 1.x releases that ship usage analytics read this at import time (1.24 ships none; the
# context config below says so too). An explicit setting by the user wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.row_conditions import Column

from idtrack_core.harmonize.gates import GateReport, Thresholds
from idtrack_core.harmonize.matchings import MATCHING_COLUMNS

log = logging.getLogger(__name__)

SUITE_NAME = "study_matching"
DATASOURCE_NAME = "matchings"
SITE_NAME = "harmonization_report"
RUN_NAME = "harmonization_report"

CATEGORIES = ["1:1", "1:n", "1:0"]
REASONS = ["no_corresponding", "no_conversion"]
HELPER_COLUMNS = ["is_failed", "is_ambiguous", "collision_genes_first_seen"]

_SUITE_NOTES = (
    "Conversion of every feature of one study to Ensembl genes (idtrack-atlas, DESIGN §6). The contract mirrors "
    "the Pandera model `StudyMatchingTable`; the expectations noted 'Gate' are the blocking quality gates of "
    "`idtrack_core.harmonize.gates` (limits given per study) over helper columns: `is_failed` (1:0), "
    "`is_ambiguous` (1:n) and `collision_genes_first_seen` (sums to the number of n→1 collision genes)."
)

_GX_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/logo-long\.png[^\"']*")
_STATIC_LINK = re.compile(r"""(["'])(?:\./|(?:\.\./)+)?static/""")
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
_REMOTE_STYLESHEET = re.compile(r"""<link\b[^>]*href\s*=\s*["']https?://[^>]*>""", re.I)
OFFLINE_CSS_PATH = "static/styles/idtrack_offline.css"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class DataDocsError(RuntimeError):
    """The Data Docs could not be built (names the study or the missing file)."""


@dataclass(frozen=True)
class Validation:
    """The outcome of one study's validation, as the index lists it."""

    study: str
    success: bool
    evaluated: int
    unsuccessful: int
    failing_gates: tuple[str, ...]


def render_data_docs(
    matchings: Mapping[str, pd.DataFrame],
    gates: Mapping[str, GateReport],
    *,
    run_time: datetime | None = None,
) -> dict[str, bytes]:
    """Validate every study's matching table and render the Great Expectations Data Docs site (offline-ready).

    Parameters
    ----------
    matchings
        Study name → matching table (columns ``MATCHING_COLUMNS``, as :func:`match_features` returns it).
    gates
        Study → its gate report (:func:`~idtrack_core.harmonize.gates.evaluate_gates`); its thresholds become the
        expectations' limits (every study of ``matchings`` must be there).
    run_time
        When the validations ran (recorded in the results, their paths and the index); now when None.

    Returns
    -------
    dict[str, bytes]
        Relative path in the site (``/``-separated, ``index.html`` first, then sorted) → file content. Links
        between pages are relative and no page loads anything from the network, so the folder can be copied
        anywhere and read offline.
    """
    assets = asset_names(matchings)
    study_pages = {f"{DATASOURCE_NAME}-{asset}.html": study for study, asset in assets.items()}  # GX's page names
    limits = {study: _study_thresholds(gates, study) for study in matchings}
    run_time = (run_time or datetime.now(UTC)).astimezone(UTC)
    outcomes = {}
    with _quiet(), tempfile.TemporaryDirectory(prefix="gx_docs_") as site:
        context = gx.get_context(mode="ephemeral", project_config=_context_config(site))
        suite = context.suites.add(matching_suite())
        datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
        run_id = gx.RunIdentifier(run_name=RUN_NAME, run_time=run_time)
        for study, matching in matchings.items():
            batch = datasource.add_dataframe_asset(name=assets[study]).add_batch_definition_whole_dataframe("all")
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=assets[study], data=batch, suite=suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{SUITE_NAME}_{assets[study]}",
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[SITE_NAME])],
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
                )
            )
            result = checkpoint.run(
                batch_parameters={"dataframe": with_gate_columns(matching)},
                expectation_parameters=limits[study].as_dict(),
                run_id=run_id,
            )
            stats = next(iter(result.run_results.values())).statistics
            failing = tuple(r.gate for r in gates[study].failures)
            evaluated, unsuccessful = stats["evaluated_expectations"], stats["unsuccessful_expectations"]
            outcomes[study] = Validation(study, bool(result.success), evaluated, unsuccessful, failing)
            log.info("GX validation of %s: %s", study, "passed" if result.success else "failed")
        if not matchings:  # no checkpoint ran: build the (empty) site ourselves
            context.build_data_docs(site_names=[SITE_NAME])
        files = _read_site(Path(site), study_pages)
    pages = {
        study_pages[name.rsplit("/", 1)[-1]]: name
        for name in files
        if name.startswith("validations/") and name.rsplit("/", 1)[-1] in study_pages
    }
    suites = sorted(n for n in files if n.startswith("expectations/") and n.endswith(".html"))
    rows = [(outcomes[s], pages.get(s)) for s in matchings]
    files["index.html"] = index_page(rows, suites, run_time).encode("utf-8")
    files[OFFLINE_CSS_PATH] = OFFLINE_CSS.encode("utf-8")
    return {"index.html": files["index.html"], **{n: files[n] for n in sorted(files) if n != "index.html"}}


def _study_thresholds(gates: Mapping[str, GateReport], study: str) -> Thresholds:
    try:
        return gates[study].thresholds
    except KeyError:
        raise DataDocsError(f"no thresholds given for study {study!r}") from None


def asset_names(matchings: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Study → GX asset name, safe as a file name (GX names the validation page after it) and unique."""
    out: dict[str, str] = {}
    for study in matchings:
        name = _UNSAFE.sub("_", study).strip(".") or "study"
        base, k = name, 1
        while name in out.values():
            k += 1
            name = f"{base}_{k}"
        out[study] = name
    return out


def matching_suite() -> gx.ExpectationSuite:
    """The expectation suite: the matching contract, then the three quality gates.

    The gates' limits are suite parameters (``max_failure_rate``, ``max_ambiguity_rate``, ``max_collisions``) given
    per study at validation time, so one suite serves studies with per-study threshold overrides.
    """
    contract = [
        gxe.ExpectTableColumnsToMatchSet(column_set=[*MATCHING_COLUMNS, *HELPER_COLUMNS], exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, notes="A study has features."),
        gxe.ExpectColumnValuesToNotBeNull(column="feature"),
        gxe.ExpectColumnValuesToBeUnique(column="feature", notes="One row per study feature."),
        gxe.ExpectColumnValuesToBeInSet(column="category", value_set=CATEGORIES),
        gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=REASONS),
        gxe.ExpectColumnValuesToNotBeNull(
            column="reason", row_condition=Column("category") == "1:0", notes="Every 1:0 feature says why."
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="reason", row_condition=Column("category") != "1:0", notes="Only 1:0 features carry a reason."
        ),
        gxe.ExpectColumnValuesToBeInSet(column="fallback", value_set=[True, False]),
        gxe.ExpectColumnValuesToBeInSet(column="collision", value_set=[True, False]),
        gxe.ExpectColumnValuesToBeBetween(column="n_genes", min_value=0),
    ]
    gates = [
        gxe.ExpectColumnMeanToBeBetween(
            column="is_failed",
            min_value=0,
            max_value={"$PARAMETER": "max_failure_rate"},
            notes="Gate: failure rate (1:0 features / features) ≤ max_failure_rate.",
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column="is_ambiguous",
            min_value=0,
            max_value={"$PARAMETER": "max_ambiguity_rate"},
            notes="Gate: ambiguity rate (1:n features / features) ≤ max_ambiguity_rate.",
        ),
        gxe.ExpectColumnSumToBeBetween(
            column="collision_genes_first_seen",
            min_value=0,
            max_value={"$PARAMETER": "max_collisions"},
            notes="Gate: n→1 collisions (Ensembl genes reached by more than one feature) ≤ max_collisions.",
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=[*contract, *gates], notes=_SUITE_NOTES)


def with_gate_columns(matching: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``matching`` with the helper columns of the gates (see the module docstring)."""
    out = matching.copy()
    out["is_failed"] = (out["category"] == "1:0").astype("int64")
    out["is_ambiguous"] = (out["category"] == "1:n").astype("int64")
    genes = out["ensembl_genes"].fillna("").astype(str).str.split(";")
    pairs = pd.DataFrame(
        {"row": np.repeat(np.arange(len(out)), genes.map(len)), "gene": [g for gs in genes for g in gs]}
    )
    pairs = pairs[pairs["gene"] != ""].drop_duplicates()
    by_gene = pairs.groupby("gene")["row"]
    first_rows = by_gene.min()[by_gene.nunique() > 1]
    out["collision_genes_first_seen"] = np.bincount(first_rows.to_numpy(dtype=np.int64), minlength=len(out))
    return out


def _context_config(site: str) -> DataContextConfig:
    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": site},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )


def _read_site(root: Path, study_pages: Mapping[str, str]) -> dict[str, bytes]:
    """Every file of the built site but GX's index (replaced by :func:`index_page`), its pages made offline-ready.

    - every ``<script>`` and remote stylesheet goes; the local :data:`OFFLINE_CSS_PATH` is linked instead;
    - GX's remote logo becomes the one in ``static/``;
    - links into ``static/`` are made relative to the page's own depth (GX 1.24 puts the validation pages' favicon
      one level too high);
    - the study is named in the overview of its validation page (GX 1.x writes "Data asset: None" there for
      dataframe assets; ``study_pages`` maps page file name → study).
    """
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    files = {}
    for name in names:
        if name == "index.html":
            continue
        data = (root / name).read_bytes()
        if name.endswith(".html"):
            files[name] = _offline_page(name, data.decode("utf-8"), study_pages).encode("utf-8")
        else:
            files[name] = data
    return files


def _offline_page(name: str, text: str, study_pages: Mapping[str, str]) -> str:
    up = "../" * name.count("/")
    text = _SCRIPT.sub("", _REMOTE_STYLESHEET.sub("", text))
    text = _GX_LOGO.sub("static/images/logo-long.png", text)
    text = text.replace("</head>", f'<link rel="stylesheet" href="{OFFLINE_CSS_PATH}">\n</head>', 1)
    text = _STATIC_LINK.sub(rf"\g<1>{up}static/", text)
    study = study_pages.get(name.rsplit("/", 1)[-1]) if name.startswith("validations/") else None
    if study is not None:
        text = text.replace("Data asset: None<br>", f"Data asset: {html.escape(study)}<br>", 1)
    return text


def index_page(rows: list[tuple[Validation, str | None]], suites: list[str], run_time: datetime) -> str:
    """The site's index: a static page listing every validation (no script, no remote asset).

    Parameters
    ----------
    rows
        Per study: its validation outcome and the path of its validation page in the site.
    suites
        Paths of the expectation suite pages.
    run_time
        When the validations ran (UTC).

    Returns
    -------
    str
        The HTML of ``index.html``; the validation table has ``id="validation-results"`` and one ``<tr>`` per study
        with ``data-study`` and ``data-status`` (``Success`` or ``Failed``).
    """
    when = f"{run_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    body = []
    for v, page in rows:
        status = "Success" if v.success else "Failed"
        mark = "✓" if v.success else "✗"
        study = html.escape(v.study)
        link = f'<a href="{html.escape(page)}">{study}</a>' if page else study
        gates = ", ".join(v.failing_gates) or "none"
        body.append(
            f'<tr data-study="{study}" data-status="{status}"><td class="status-{status.lower()}">{mark} {status}</td>'
            f"<td>{link}</td><td>{when}</td><td>{v.unsuccessful} / {v.evaluated}</td><td>{html.escape(gates)}</td>"
            f'<td><a href="expectations/{SUITE_NAME}.html">{SUITE_NAME}</a></td></tr>'
        )
    suite_items = "".join(
        f'<li><a href="{html.escape(p)}">{html.escape(p.rsplit("/", 1)[-1][: -len(".html")])}</a></li>' for p in suites
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Data Docs · {SITE_NAME}</title>
<link rel="icon" href="static/images/favicon.ico">
<link rel="stylesheet" href="{OFFLINE_CSS_PATH}">
</head>
<body>
<nav class="navbar"><img src="static/images/logo-long.png" alt="Great Expectations" height="40"></nav>
<main class="index">
<h1>Data Docs | {SITE_NAME}</h1>
<p>Every study's matching table validated against the contract and its quality gates on {when}.
These pages need no network: open them from any copy of this folder.</p>
<h2>Validation Results</h2>
<table id="validation-results" class="table">
<thead><tr><th>Status</th><th>Study</th><th>Run time</th><th>Unsuccessful / evaluated expectations</th>
<th>Failing gates</th><th>Expectation suite</th></tr></thead>
<tbody>
{chr(10).join(body) or '<tr><td colspan="6">no study validated</td></tr>'}
</tbody>
</table>
<h2>Expectation Suites</h2>
<ul id="expectation-suites">{suite_items}</ul>
</main>
</body>
</html>
"""


OFFLINE_CSS = """/* idtrack-atlas: the styling the Data Docs need offline (stands in for bootstrap and font-awesome). */
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0;
       color: #212529; background: #fff; line-height: 1.45; }
a { color: #0b5cad; }
.navbar { padding: 10px 24px; border-bottom: 1px solid #dee2e6; }
main.index, .container-fluid { padding: 16px 32px; }
table, .table { border-collapse: collapse; margin: 8px 0; }
.table th, .table td, table th, table td { border: 1px solid #dee2e6; padding: 4px 8px; text-align: left;
                                          vertical-align: top; }
thead[hidden], .d-none, .hide { display: none; }
.alert { padding: 8px 12px; border: 1px solid #d6d8db; background: #f1f3f5; border-radius: 4px; }
.card { border: 1px solid #dee2e6; border-radius: 4px; padding: 8px; margin: 8px 0; }
.badge { display: inline-block; padding: 1px 6px; border-radius: 8px; background: #e9ecef; font-size: 85%; }
.text-success, .status-success { color: #2b8a3e; }
.text-danger, .status-failed { color: #c92a2a; }
.text-warning { color: #e67700; }
.status-success, .status-failed { font-weight: 600; }
code, pre, .show-scrollbars { font-family: ui-monospace, Menlo, Consolas, monospace; overflow-x: auto; }
.fas::before, .far::before, .fa::before { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "✓ "; }
.fa-times::before, .fa-times-circle::before { content: "✗ "; }
.fa-exclamation-triangle::before { content: "⚠ "; }
.fa-info-circle::before { content: "ℹ "; }
"""
"""The stylesheet linked by every page of the site (:data:`OFFLINE_CSS_PATH`)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """GX's INFO chatter and its warnings off for the duration (its errors still propagate)."""
    gx_logger = logging.getLogger("great_expectations")
    level = gx_logger.level
    gx_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"great_expectations(\.|$)")
            yield
    finally:
        gx_logger.setLevel(level)
