"""The report's PNG plot of per-study match rates (1:1, 1:1 by fallback, 1:n, 1:0)."""

from __future__ import annotations

import io

import pandas as pd

RATE_COLUMNS = {
    "1:1": ("one_to_one_target",),
    "1:1 fallback": ("fallback_1_to_1",),
    "1:n": ("one_to_many_target", "fallback_1_to_n"),
    "1:0": ("one_to_none",),
}


def rates_table(diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Per study (rows): the share of features that are 1:1, 1:1 by fallback, 1:n and 1:0."""
    total = diagnostics["input_ids"].clip(lower=1)
    return pd.DataFrame({k: diagnostics[list(cols)].sum(axis=1) / total for k, cols in RATE_COLUMNS.items()})


def rates_png(diagnostics: pd.DataFrame) -> bytes:
    """A stacked horizontal bar chart of :func:`rates_table`, as PNG bytes (deterministic metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = rates_table(diagnostics)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rates) + 1.6))
    left = pd.Series(0.0, index=rates.index)
    colors = {"1:1": "#2b8a3e", "1:1 fallback": "#94d82d", "1:n": "#f59f00", "1:0": "#e03131"}
    for col in rates.columns:
        ax.barh(rates.index, rates[col], left=left, color=colors[col], label=col)
        left += rates[col]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the study's features")
    ax.set_title("Feature matching per study")
    ax.invert_yaxis()
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
