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

Reproducibility: the validation pages live under ``validations/<suite>/<run name>/<run time>/``; the run time is
pinned (:data:`DOCS_RUN_TIME`, unless given) so the same studies always give the same file names and links into a
published report stay valid across materializations. The real time of a run is the Dagster materialization's.

The pages are GX's HTML (with the small fixes of :func:`_read_site`): they style themselves from public CDNs
(bootstrap, jQuery, font-awesome) when opened in a browser, and the index's tables are drawn by that JavaScript.
The logo, which GX fetches from its own bucket with a timestamp (a beacon), is pointed at the copy in the site's
``static/`` folder (the stylesheet still names GX's dark-mode logo).
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
DOCS_RUN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Run time written into the Data Docs paths unless the caller gives one (see the module docstring)."""

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
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class DataDocsError(RuntimeError):
    """The Data Docs could not be built (names the study or the missing file)."""


def render_data_docs(
    matchings: Mapping[str, pd.DataFrame],
    gates: Mapping[str, GateReport],
    *,
    run_time: datetime | None = None,
) -> dict[str, bytes]:
    """Validate every study's matching table and render the Great Expectations Data Docs site.

    Parameters
    ----------
    matchings
        Study name → matching table (columns ``MATCHING_COLUMNS``, as :func:`match_features` returns it).
    gates
        Study → its gate report (:func:`~idtrack_core.harmonize.gates.evaluate_gates`); its thresholds become the
        expectations' limits (every study of ``matchings`` must be there).
    run_time
        Run time recorded in the validation results and their paths; :data:`DOCS_RUN_TIME` when None.

    Returns
    -------
    dict[str, bytes]
        Relative path in the site (``/``-separated, ``index.html`` first, then sorted) → file content. Links
        between pages are relative, so the folder can be copied anywhere.
    """
    assets = asset_names(matchings)
    limits = {study: _study_thresholds(gates, study) for study in matchings}
    with _quiet(), tempfile.TemporaryDirectory(prefix="gx_docs_") as site:
        context = gx.get_context(mode="ephemeral", project_config=_context_config(site))
        suite = context.suites.add(matching_suite())
        datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
        run_id = gx.RunIdentifier(run_name=RUN_NAME, run_time=run_time or DOCS_RUN_TIME)
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
            log.info("GX validation of %s: %s", study, "passed" if result.success else "failed")
        if not matchings:  # no checkpoint ran: build the (empty) site ourselves
            context.build_data_docs(site_names=[SITE_NAME])
        files = _read_site(Path(site), {f"{DATASOURCE_NAME}-{asset}.html": study for study, asset in assets.items()})
    if "index.html" not in files:
        raise DataDocsError(f"GX built no index.html in its Data Docs site (files: {sorted(files)[:10]})")
    return files


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
    """Every file of the built site, ``index.html`` first, with three fixes to GX's pages.

    - GX's remote logo becomes the one in ``static/``;
    - links into ``static/`` are made relative to the page's own depth (GX 1.24 puts the validation pages' favicon
      one level too high);
    - the study is named in the overview of its validation page (GX 1.x writes "Data asset: None" there for
      dataframe assets; ``study_pages`` maps page file name → study).
    """
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    if "index.html" in names:
        names.remove("index.html")
        names.insert(0, "index.html")
    files = {}
    for name in names:
        data = (root / name).read_bytes()
        if name.endswith(".html"):
            text = _GX_LOGO.sub("static/images/logo-long.png", data.decode("utf-8"))
            text = _STATIC_LINK.sub(rf"\g<1>{'../' * name.count('/')}static/", text)
            study = study_pages.get(name.rsplit("/", 1)[-1]) if name.startswith("validations/") else None
            if study is not None:
                text = text.replace("Data asset: None<br>", f"Data asset: {html.escape(study)}<br>", 1)
            data = text.encode("utf-8")
        files[name] = data
    return files


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
