"""The files of a harmonization report: summary, rate plot, diagnostics table and Data Docs, in one folder."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from idtrack_core import storage
from idtrack_core.harmonize.gates import GateReport
from idtrack_core.harmonize.plan import HarmonizationPlan
from idtrack_core.report.plot import rates_png
from idtrack_core.report.summary import summary_markdown

REPORT_CODE_VERSION = "report-1.1"
"""Changes whenever the report made from the same plan and atlases would differ (part of its version id)."""


def report_files(
    plan: HarmonizationPlan,
    diagnostics: pd.DataFrame,
    atlases: Mapping[str, tuple[int, int]],
    matchings: Mapping[str, pd.DataFrame],
    gates: Mapping[str, GateReport],
) -> dict[str, bytes]:
    """Every file of the report, ``manifest.json`` included.

    Parameters
    ----------
    plan
        The harmonization plan.
    diagnostics
        One row per study.
    atlases
        Mode → (cells, features) of each atlas.
    matchings
        Study → its matching table (validated again for the Data Docs).
    gates
        Study → its gate report.

    Returns
    -------
    dict[str, bytes]
        ``summary.md``, ``rates.png``, ``diagnostics.csv``, ``data_docs/…`` and ``manifest.json``.
    """
    from idtrack_core.report.data_docs import render_data_docs

    docs = render_data_docs(dict(sorted(matchings.items())), gates)
    files = {
        "summary.md": summary_markdown(plan, diagnostics, atlases, gates).encode(),
        "rates.png": rates_png(diagnostics),
        "diagnostics.csv": diagnostics.to_csv().encode(),
        **{f"data_docs/{name}": data for name, data in docs.items()},
    }
    files[storage.MANIFEST] = storage.json_bytes({"format_version": 1, "files": sorted(files)})
    return files
