"""A picture of a history tree: releases on the x axis, one row per stable ID, versions as nodes, events as edges
labelled with their scores (the networkx model of :class:`~idtrack_core.archive.tree.HistoryTree`, drawn with
matplotlib)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd

from idtrack_core.archive.tree import HistoryTree

FORMATS = ("svg", "png")


def release_time(release: object) -> float:
    """A release label (``67``, ``18.1``) as a number; unknown → NaN."""
    return pd.to_numeric(pd.Series([release]), errors="coerce").iloc[0]


def draw_history_tree(tree: HistoryTree, fmt: str = "svg") -> bytes:
    """The tree as an SVG or PNG image.

    Parameters
    ----------
    tree
        A history tree.
    fmt
        ``svg`` or ``png``.

    Returns
    -------
    bytes
        The image file's content.

    Raises
    ------
    ValueError
        An unsupported format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"history tree pictures are {' or '.join(FORMATS)}, not {fmt!r}")
    g = tree.to_networkx()
    ids = sorted({d["id"] for _, d in g.nodes(data=True)}, key=lambda sid: (sid != tree.root, sid))
    lanes = {sid: -i for i, sid in enumerate(ids)}
    releases = sorted(
        {r for _, d in g.nodes(data=True) for r in (d["first_release"], d["last_release"])}, key=release_time
    )
    column = {r: i for i, r in enumerate(releases)}  # evenly spaced releases, in time order
    pos = {n: (column[d["first_release"]], lanes[d["id"]]) for n, d in g.nodes(data=True)}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(releases) + 3), 1.2 + 0.9 * max(len(lanes), 1)))
    for _, d in g.nodes(data=True):  # a version's life: from the first to the last release it was seen in
        ax.plot(
            [column[d["first_release"]], column[d["last_release"]]],
            [lanes[d["id"]]] * 2,
            color="#c9d6df",
            lw=4,
            zorder=0,
        )
    colors = ["#4c9a2a" if d["is_current"] else "#9db4c0" for _, d in g.nodes(data=True)]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colors, node_size=350, edgecolors="#33415c")
    above = {n: (x, y + 0.22) for n, (x, y) in pos.items()}
    nx.draw_networkx_labels(g, above, ax=ax, labels={n: n for n in g}, font_size=7)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=12, node_size=350, connectionstyle="arc3,rad=0.1")
    labels = {(a, b): "" if d["score"] is None else f"{d['score']:.3g}" for a, b, d in g.edges(data=True)}
    nx.draw_networkx_edge_labels(
        g, pos, edge_labels=labels, ax=ax, font_size=7, connectionstyle="arc3,rad=0.1", node_size=350
    )
    ax.set_xticks(range(len(releases)), releases, fontsize=7)
    ax.set_yticks(list(lanes.values()), list(lanes), fontsize=7)
    ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    ax.set_xlim(-0.7, len(releases) - 0.3)
    ax.set_ylim(min(lanes.values(), default=0) - 0.6, 0.6)
    ax.set_xlabel("Ensembl release (green: current)")
    ax.set_title(f"History of {tree.root}" + (" (incomplete)" if tree.incomplete else ""), fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buf.getvalue()
