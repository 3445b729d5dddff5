"""History navigation: an ID's predecessors, successors and whole history tree, as tables and as a networkx graph.

The tree follows Ensembl's ``fetch_history_tree_by_stable_id``: starting from one stable ID, every
``stable_id_event`` naming it is taken; events that link it to *other* IDs are taken best score first, at most
``per_id`` of them, and those IDs are explored in turn, until more than ``max_ids`` IDs have been explored (the
tree is then ``incomplete``). Like Ensembl's ``consolidate_tree``, events in which nothing changes (the same ID
and version on both sides, recorded in every old mapping session) are left out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from idtrack_core.archive.events import ArchiveEvents
from idtrack_core.archive.lookup import split_version
from idtrack_core.errors import ConversionInputError
from idtrack_core.graph.model import Snapshot

EDGE_COLUMNS = [
    "type",
    "old_id",
    "old_version",
    "old_release",
    "old_assembly",
    "new_id",
    "new_version",
    "new_release",
    "new_assembly",
    "score",
    "mapping_session_id",
    "change",
]
NODE_COLUMNS = ["id", "version", "type", "first_release", "last_release", "is_current"]
MAX_IDS = 30
PER_ID = 20


@dataclass(frozen=True)
class HistoryTree:
    """The history tree of ``root``: ``edges`` (:data:`EDGE_COLUMNS`: one event each, ``change`` ∈ {birth,
    retirement, version, id}) and ``nodes`` (:data:`NODE_COLUMNS`: one ID version each)."""

    root: str
    edges: pd.DataFrame = field(repr=False)
    nodes: pd.DataFrame = field(repr=False)
    incomplete: bool = False

    def to_networkx(self) -> nx.DiGraph:
        """Nodes ``"ID.version"`` (attributes of :data:`NODE_COLUMNS`); edges old → new with ``score``,
        ``old_release``, ``new_release``, ``change`` (births and retirements have no edge)."""
        g = nx.DiGraph(root=self.root, incomplete=self.incomplete)
        for n in self.nodes.itertuples(index=False):
            g.add_node(node_name(n.id, n.version), **n._asdict())
        both = self.edges.dropna(subset=["old_id", "new_id"])
        for e in both.itertuples(index=False):
            g.add_edge(
                node_name(e.old_id, e.old_version),
                node_name(e.new_id, e.new_version),
                score=None if pd.isna(e.score) else float(e.score),
                old_release=e.old_release,
                new_release=e.new_release,
                change=e.change,
            )
        return g


def node_name(stable_id: str, version: object) -> str:
    """``ID.version`` (``ID`` when the version is unknown)."""
    return stable_id if version is None or pd.isna(version) else f"{stable_id}.{int(version)}"


def history_tree(
    snap: Snapshot,
    query: str,
    release: int | None = None,
    assembly: str | None = None,
    max_ids: int = MAX_IDS,
    per_id: int = PER_ID,
) -> HistoryTree:
    """The history tree of ``query`` (a stable ID; a ``.version`` suffix is ignored) in the archive of ``snap``.

    Parameters
    ----------
    snap
        An identifier graph snapshot.
    query
        The stable ID whose history is wanted.
    release, assembly
        The archive's release and assembly (default: newest, primary).
    max_ids, per_id
        Ensembl's limits: stop after exploring more than ``max_ids`` IDs; follow at most ``per_id`` links to
        other IDs per ID, best score first.

    Returns
    -------
    HistoryTree

    Raises
    ------
    ConversionInputError
        No event names the ID.
    """
    view = ArchiveEvents.of(snap, release, assembly)
    edges = _edge_table(view)
    stable_id = _known_id(edges, query)
    rows, incomplete = _explore(edges, stable_id, max_ids, per_id)
    tree = edges.loc[rows]
    tree = tree[tree["change"] != "none"].sort_values(["new_time", "old_time", "old_id", "new_id"], kind="stable")
    return HistoryTree(stable_id, tree[EDGE_COLUMNS].reset_index(drop=True), _nodes(view, edges, tree), incomplete)


def successors(snap: Snapshot, query: str, release: int | None = None, assembly: str | None = None) -> pd.DataFrame:
    """Events in which ``query`` (``ID`` or ``ID.version``) changed into something else (another ID or version),
    one level, oldest first (:data:`EDGE_COLUMNS`)."""
    return _one_level(snap, query, release, assembly, "old")


def predecessors(snap: Snapshot, query: str, release: int | None = None, assembly: str | None = None) -> pd.DataFrame:
    """Events in which something else (another ID or version) became ``query`` (``ID`` or ``ID.version``), one
    level, oldest first (:data:`EDGE_COLUMNS`)."""
    return _one_level(snap, query, release, assembly, "new")


def _one_level(snap: Snapshot, query: str, release: int | None, assembly: str | None, side: str) -> pd.DataFrame:
    edges = _edge_table(ArchiveEvents.of(snap, release, assembly))
    stable_id, version = split_version(query)
    if not (edges["old_id"].eq(stable_id).any() or edges["new_id"].eq(stable_id).any()):
        stable_id, version = _known_id(edges, query), None
    other = "new" if side == "old" else "old"
    sel = (edges[f"{side}_id"] == stable_id) & edges[f"{other}_id"].notna() & edges["change"].isin(["version", "id"])
    if version is not None:
        sel &= edges[f"{side}_version"] == version
    out = edges[sel].sort_values(["new_time", "old_time", "old_id", "new_id"], kind="stable")
    return out[EDGE_COLUMNS].reset_index(drop=True)


def _edge_table(view: ArchiveEvents) -> pd.DataFrame:
    """The archive's events with stable IDs instead of object codes and the kind of change each one is."""
    e = view.events
    ids = view.ids
    out = pd.DataFrame({"type": e["type"].to_numpy(dtype=object)})
    for side in ("old", "new"):
        o = e[f"{side}_obj"].to_numpy()
        out[f"{side}_id"] = np.where(o >= 0, ids[np.maximum(o, 0)], None)
        out[f"{side}_version"] = e[f"{side}_version"].to_numpy()
        out[f"{side}_release"] = e[f"{side}_release"].to_numpy(dtype=object)
        out[f"{side}_assembly"] = e[f"{side}_assembly"].to_numpy(dtype=object)
        out[f"{side}_time"] = e[f"{side}_time"].to_numpy()
    out["score"] = e["score"].to_numpy()
    out["mapping_session_id"] = e["mapping_session_id"].to_numpy()
    out = out.astype({"old_version": "Int64", "new_version": "Int64", "score": "Float64"})
    same_id = out["old_id"] == out["new_id"]
    same_version = (out["old_version"].fillna(0) == out["new_version"].fillna(0)).to_numpy(dtype=bool)
    out["change"] = np.select(
        [out["old_id"].isna(), out["new_id"].isna(), same_id & same_version, same_id],
        ["birth", "retirement", "none", "version"],
        "id",
    )
    return out


def _known_id(edges: pd.DataFrame, query: str) -> str:
    for candidate in dict.fromkeys([query, split_version(query)[0]]):
        if edges["old_id"].eq(candidate).any() or edges["new_id"].eq(candidate).any():
            return candidate
    raise ConversionInputError(f"no stable_id_event names {query!r}: it has no history in this archive")


def _explore(edges: pd.DataFrame, root: str, max_ids: int, per_id: int) -> tuple[list[int], bool]:
    """Rows of the tree: breadth first from ``root``, following at most ``per_id`` best-scored links per ID."""
    by_id: dict[str, list[int]] = {}
    for side in ("old_id", "new_id"):
        for i, sid in zip(edges.index, edges[side], strict=True):
            if sid is not None:
                by_id.setdefault(sid, []).append(i)
    todo, done, rows = deque([root]), {root}, set()
    explored = 0
    while todo:
        if explored > max_ids:
            return sorted(rows), True
        sid = todo.popleft()
        explored += 1
        mine = edges.loc[sorted(set(by_id.get(sid, [])))]
        links = mine["change"] == "id"
        rows.update(mine.index[~links])
        best = mine[links].sort_values("score", ascending=False, kind="stable", na_position="last").head(per_id)
        rows.update(best.index)
        for other in [*best["old_id"], *best["new_id"]]:
            if other not in done:
                done.add(other)
                todo.append(other)
    return sorted(rows), False


def _nodes(view: ArchiveEvents, edges: pd.DataFrame, tree: pd.DataFrame) -> pd.DataFrame:
    """Every ID version of the tree with the first and last release any event shows it in (the archive's release
    for a current one), and whether it is current there."""
    ids = sorted({*tree["old_id"].dropna(), *tree["new_id"].dropna()})
    parts = []
    for side in ("old", "new"):
        sel = edges[f"{side}_id"].isin(ids)
        parts.append(
            pd.DataFrame(
                {
                    "id": edges.loc[sel, f"{side}_id"],
                    "version": edges.loc[sel, f"{side}_version"],
                    "type": edges.loc[sel, "type"],
                    "time": edges.loc[sel, f"{side}_time"],
                    "release": edges.loc[sel, f"{side}_release"],
                }
            )
        )
    seen = pd.concat(parts, ignore_index=True).sort_values(["id", "version", "time"], kind="stable")
    grouped = seen.groupby(["id", "version"], dropna=False, sort=True)
    nodes = grouped.agg(type=("type", "first"), first_release=("release", "first"), last_release=("release", "last"))
    nodes = nodes.reset_index()
    current = dict(zip(view.ids, view.current_version, strict=True))
    nodes["is_current"] = [
        current.get(i, -1) >= 0 and (pd.isna(v) or int(v) == current.get(i))
        for i, v in zip(nodes["id"], nodes["version"], strict=True)
    ]
    nodes.loc[nodes["is_current"], "last_release"] = str(view.snap.release_list[view.position])
    return nodes[NODE_COLUMNS]
