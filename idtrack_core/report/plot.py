"""The report's plot: per-study match rates with absolute counts, and each quality gate's measure against its limit.

Left, one stacked bar per study: the shares of its features that are 1:1, 1:1 by fallback, 1:n and 1:0, each segment
labelled with its count, the bar with the study's number of features. Right, one panel per gate (failure rate,
ambiguity rate, n→1 collisions): the study's value as a bar (red when over the limit) labelled with the count behind
it, and the study's own limit as a dashed mark. Drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot, no
change of the global backend), so it works in scripts, Dagster and notebooks alike.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from idtrack_core.harmonize.gates import GateReport

RATE_COLUMNS = {
    "1:1": ("one_to_one_target",),
    "1:1 fallback": ("fallback_1_to_1",),
    "1:n": ("one_to_many_target", "fallback_1_to_n"),
    "1:0": ("one_to_none",),
}
COLORS = {"1:1": "#2b8a3e", "1:1 fallback": "#94d82d", "1:n": "#f59f00", "1:0": "#e03131"}
GATE_PANELS = {
    "max_failure_rate": ("failure rate (1:0)", "failure_rate", "one_to_none"),
    "max_ambiguity_rate": ("ambiguity rate (1:n)", "ambiguity_rate", ("one_to_many_target", "fallback_1_to_n")),
    "max_collisions": ("n→1 collisions (genes)", "collisions", "collided_features"),
}
"""Gate → (panel title, diagnostics column plotted, column(s) of the count written beside the bar)."""
_MIN_LABELLED_SHARE = 0.06


def rates_table(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Per study (rows): the share of features that are 1:1, 1:1 by fallback, 1:n and 1:0."""
    total = diagnostics["input_ids"].clip(lower=1)
    return pd.DataFrame({k: counts_table(diagnostics)[k] / total for k in RATE_COLUMNS})


def counts_table(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Per study (rows): the number of features that are 1:1, 1:1 by fallback, 1:n and 1:0."""
    return pd.DataFrame({k: diagnostics[list(cols)].sum(axis=1) for k, cols in RATE_COLUMNS.items()})


def rates_figure(diagnostics: pd.DataFrame, gates: Mapping[str, GateReport] | None = None) -> Figure:
    """The report's figure (see the module docstring).

    Parameters
    ----------
    diagnostics
        One row per study (index = study; the demo's columns).
    gates
        Study → its gate report (its limits are drawn); without it, only the rates panel is drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    studies = list(diagnostics.index)
    panels = 1 + (len(GATE_PANELS) if gates else 0)
    fig = Figure(figsize=(5.5 + 2.6 * (panels - 1), 0.55 * len(studies) + 2.0), layout="constrained")
    axes = fig.subplots(1, panels, sharey=True, width_ratios=[2.6] + [1.2] * (panels - 1), squeeze=False)[0]
    _draw_rates(axes[0], diagnostics)
    for ax, gate in zip(axes[1:], GATE_PANELS, strict=False):
        _draw_gate(ax, diagnostics, gate, {s: getattr(gates[s].thresholds, gate) for s in studies if s in gates})
    axes[0].invert_yaxis()
    fig.suptitle("Feature matching per study (counts in the bars; dashed: each study's gate limit)", fontsize=10)
    return fig


def _draw_rates(ax, diagnostics: pd.DataFrame) -> None:
    rates, counts = rates_table(diagnostics), counts_table(diagnostics)
    left = pd.Series(0.0, index=rates.index)
    for col in rates.columns:
        ax.barh(rates.index, rates[col], left=left, color=COLORS[col], label=col)
        for study, share in rates[col].items():
            if share >= _MIN_LABELLED_SHARE:
                label = f"{counts.at[study, col]:,}"
                ax.text(left[study] + share / 2, study, label, ha="center", va="center", fontsize=8)
        left += rates[col]
    for study, n in diagnostics["input_ids"].items():
        ax.text(1.01, study, f"n={n:,}", va="center", fontsize=8)
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("share of the study's features")
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.45, 1.0), frameon=False, fontsize=8)


def _draw_gate(ax, diagnostics: pd.DataFrame, gate: str, limits: Mapping[str, float]) -> None:
    title, column, count_columns = GATE_PANELS[gate]
    values = diagnostics[column].astype(float)
    counts = diagnostics[list(count_columns) if isinstance(count_columns, tuple) else [count_columns]].sum(axis=1)
    over = [values[s] > limits.get(s, float("inf")) for s in values.index]
    ax.barh(values.index, values, color=["#e03131" if o else "#868e96" for o in over])
    top = max([*values, *limits.values(), 1e-9]) * 1.35
    for i, study in enumerate(values.index):
        if study in limits:
            ax.vlines(limits[study], i - 0.4, i + 0.4, colors="black", linestyles="dashed", linewidth=1.2)
        label = f"{int(values[study]):,}" if gate == "max_collisions" else f"{values[study]:.1%}"
        ax.text(values[study] + top * 0.02, i, f"{label} ({counts[study]:,})", va="center", fontsize=8)
    shown = sorted(set(limits.values()))
    limit_text = ", ".join(f"{v:g}" for v in shown) if shown else "none"
    ax.set_title(f"{title}\nlimit {limit_text}", fontsize=9)
    ax.set_xlabel("genes (features)" if gate == "max_collisions" else "share (features)", fontsize=8)
    ax.set_xlim(0, top)


def rates_png(diagnostics: pd.DataFrame, gates: Mapping[str, GateReport] | None = None) -> bytes:
    """:func:`rates_figure` as PNG bytes (deterministic metadata)."""
    fig = rates_figure(diagnostics, gates)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf, metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True, repr=False)
class PNG:
    """A PNG image that shows itself in a notebook (``_repr_png_``) and can be saved."""

    data: bytes

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"<PNG image, {len(self.data):,} bytes>"

    def save(self, path: str | Path) -> None:
        """Write the image to ``path``."""
        Path(path).write_bytes(self.data)
