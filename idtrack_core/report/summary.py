"""The report's Markdown summary: per-study diagnostics, policies, identifier sets and atlas shapes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from idtrack_core.harmonize.gates import GATES, GateReport
from idtrack_core.harmonize.plan import HarmonizationPlan


def gates_table(gates: Mapping[str, GateReport]) -> pd.DataFrame:
    """One row per study: each gate's value, limit and verdict."""
    rows = {}
    for study, report in sorted(gates.items()):
        row: dict[str, object] = {"passed": report.passed}
        for r in report.results:
            row[r.gate] = f"{r.value:g} ≤ {r.limit:g} ✓" if r.passed else f"{r.value:g} > {r.limit:g} ✗"
        rows[study] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=["passed", *GATES]).rename_axis("study")


def summary_markdown(
    plan: HarmonizationPlan,
    diagnostics: pd.DataFrame,
    atlases: Mapping[str, tuple[int, int]],
    gates: Mapping[str, GateReport],
) -> str:
    """The report's Markdown: per-study diagnostics, quality gates, policies, identifier sets and atlas shapes."""
    lines = ["# Harmonization report", "", "## Per-study diagnostics", "", diagnostics.to_markdown(), ""]
    lines += ["## Quality gates", "", gates_table(gates).to_markdown(), ""]
    lines += ["## Policies", ""] + [f"- **{k}**: {v}" for k, v in plan.policy.describe().items()] + [""]
    lines += ["## Atlases", ""] + [f"- **{mode}**: {n:,} cells × {m:,} features" for mode, (n, m) in atlases.items()]
    consistent = plan.conversion_failed_but_consistent_identifiers
    lines += [
        "",
        "## Identifier sets",
        "",
        f"- conversion_failed_but_consistent_identifiers ({len(consistent)}): "
        + (", ".join(f"`{c}`" for c in consistent[:20]) or "none"),
    ]
    for study, failed in plan.conversion_failed_identifiers.items():
        lines.append(
            f"- conversion_failed_identifiers[{study}] ({len(failed)}): "
            + (", ".join(f"`{c}`" for c in failed[:10]) or "none")
        )
    lines.append(f"- multiple_ensembl: {len(plan.multiple_ensembl)} features ({plan.policy.one_to_many})")
    lines.append(f"- n→1 groups: {len(plan.n_to_one)} ({plan.policy.many_to_one})")
    if plan.excluded_studies:
        lines += ["", "## Left out", ""] + [f"- {s}: {r}" for s, r in plan.excluded_studies.items()]
    return "\n".join(lines) + "\n"
