"""The files of a harmonization report, in one folder::

summary.md                               diagnostics, gates, drill-down counts (linked), policies, identifier sets
rates.png                                per-study rates with counts, each gate against its limit
diagnostics.csv                          one row per study
studies/<study>/failed.csv               every 1:0 feature (feature, reason, candidates, targets, evidence)
studies/<study>/ambiguous.csv            every 1:n feature
studies/<study>/collisions.csv           every feature sharing a gene with another of the study (n→1)
data_docs/index.html …                   Great Expectations Data Docs of the matchings (platform extra)
manifest.json
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from idtrack_core import storage
from idtrack_core.harmonize.drilldown import drilldown_counts, drilldown_files
from idtrack_core.harmonize.gates import GateReport
from idtrack_core.harmonize.plan import HarmonizationPlan
from idtrack_core.report.plot import rates_png
from idtrack_core.report.summary import summary_markdown

REPORT_CODE_VERSION = "report-1.2"
"""Changes whenever the report made from the same plan and atlases would differ (part of its version id)."""


def report_files(
    plan: HarmonizationPlan,
    diagnostics: pd.DataFrame,
    atlases: Mapping[str, tuple[int, int]],
    matchings: Mapping[str, pd.DataFrame],
    gates: Mapping[str, GateReport],
    *,
    data_docs: bool = True,
    run_time: datetime | None = None,
) -> dict[str, bytes]:
    """Every file of the report (see the module docstring), ``manifest.json`` included.

    Parameters
    ----------
    plan
        The harmonization plan.
    diagnostics
        One row per study.
    atlases
        Mode → (cells, features) of each atlas.
    matchings
        Study → its matching table (the drill-downs, and validated again for the Data Docs).
    gates
        Study → its gate report.
    data_docs
        Render the Great Expectations Data Docs (needs the ``platform`` extra).
    run_time
        The validation time the Data Docs show (default: now).

    Returns
    -------
    dict[str, bytes]
        Relative path → content.
    """
    counts = drilldown_counts(matchings)
    files = {
        "summary.md": summary_markdown(plan, diagnostics, atlases, gates, counts).encode(),
        "rates.png": rates_png(diagnostics, gates),
        "diagnostics.csv": diagnostics.to_csv().encode(),
        **drilldown_files(matchings),
    }
    if data_docs:
        from idtrack_core.report.data_docs import render_data_docs

        docs = render_data_docs(dict(sorted(matchings.items())), gates, run_time=run_time)
        files.update({f"data_docs/{name}": data for name, data in docs.items()})
    files[storage.MANIFEST] = storage.json_bytes({"format_version": 1, "files": sorted(files)})
    return files
