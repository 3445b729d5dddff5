"""The report's Markdown summary: per-study diagnostics, gates, drill-downs, policies, identifier sets, atlas shapes.

Lists of names are never cut silently: the summary shows the first few and links the drill-down file that holds
them all (``studies/<study>/{failed,ambiguous,collisions}.csv``, see :mod:`idtrack_core.harmonize.drilldown`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from idtrack_core.harmonize.drilldown import KINDS, drilldown_path
from idtrack_core.harmonize.gates import GATES, GateReport
from idtrack_core.harmonize.plan import HarmonizationPlan

SHOWN_NAMES = 10
"""Names shown inline before the link to the file that lists them all."""


def gates_table(gates: Mapping[str, GateReport]) -> pd.DataFrame:
    """One row per study: each gate's value, limit and verdict."""
    rows = {}
    for study, report in sorted(gates.items()):
        row: dict[str, object] = {"passed": report.passed}
        for r in report.results:
            row[r.gate] = f"{r.value:g} ≤ {r.limit:g} ✓" if r.passed else f"{r.value:g} > {r.limit:g} ✗"
        rows[study] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=["passed", *GATES]).rename_axis("study")


def drilldown_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Study × kind counts as Markdown links to the drill-down files (a count of 0 is not linked)."""
    return pd.DataFrame(
        {
            kind: [f"[{n:,}]({drilldown_path(study, kind)})" if n else "0" for study, n in counts[kind].items()]
            for kind in KINDS
        },
        index=counts.index,
    )


def _names(names: list[str], link: str | None) -> str:
    shown = ", ".join(f"`{c}`" for c in names[:SHOWN_NAMES]) or "none"
    if len(names) > SHOWN_NAMES:
        shown += f", … ({len(names) - SHOWN_NAMES:,} more" + (f": [all]({link}))" if link else ")")
    elif names and link:
        shown += f" ([file]({link}))"
    return shown


def summary_markdown(
    plan: HarmonizationPlan,
    diagnostics: pd.DataFrame,
    atlases: Mapping[str, tuple[int, int]],
    gates: Mapping[str, GateReport],
    drilldowns: pd.DataFrame | None = None,
    rates_image: str = "rates.png",
) -> str:
    """The report's Markdown.

    Parameters
    ----------
    plan
        The harmonization plan (policies, identifier sets, studies left out).
    diagnostics
        One row per study.
    atlases
        Mode → (cells, features).
    gates
        Study → its gate report.
    drilldowns
        Study × kind counts of the drill-down files written beside the summary
        (:func:`~idtrack_core.harmonize.drilldown.drilldown_counts`); None when there are none (no links).
    rates_image
        The image link of the rates plot (a data URI shows it where the report's files are not at hand, e.g. in the
        Dagster UI).

    Returns
    -------
    str
    """
    lines = ["# Harmonization report", "", f"![rates]({rates_image})", "", "## Per-study diagnostics", ""]
    lines += [diagnostics.to_markdown(), "", "## Quality gates", "", gates_table(gates).to_markdown(), ""]
    if drilldowns is not None:
        lines += [
            "## Drill-downs",
            "",
            "Every failed (1:0), ambiguous (1:n) and colliding (n→1) feature, with the reason, the candidate genes "
            "and the evidence (one CSV per study and kind):",
            "",
            drilldown_table(drilldowns).to_markdown(),
            "",
        ]
    lines += ["## Policies", ""] + [f"- **{k}**: {v}" for k, v in plan.policy.describe().items()] + [""]
    lines += ["## Atlases", ""] + [f"- **{mode}**: {n:,} cells × {m:,} features" for mode, (n, m) in atlases.items()]
    consistent = plan.conversion_failed_but_consistent_identifiers
    lines += [
        "",
        "## Identifier sets",
        "",
        f"- conversion_failed_but_consistent_identifiers ({len(consistent)}): {_names(consistent, None)}",
    ]
    for study, failed in plan.conversion_failed_identifiers.items():
        link = drilldown_path(study, "failed") if drilldowns is not None else None
        lines.append(f"- conversion_failed_identifiers[{study}] ({len(failed)}): {_names(failed, link)}")
    lines.append(f"- multiple_ensembl: {len(plan.multiple_ensembl)} features ({plan.policy.one_to_many})")
    lines.append(f"- n→1 groups: {len(plan.n_to_one)} ({plan.policy.many_to_one})")
    if plan.excluded_studies:
        lines += ["", "## Left out", ""] + [f"- {s}: {r}" for s, r in plan.excluded_studies.items()]
    return "\n".join(lines) + "\n"
