"""Ensembl's ID history archive over a snapshot: is an ID current, its latest version, its replacements (with
their scores), its predecessors, successors and history tree, and the archived structure of old gene versions.

- :func:`archive_lookup` answers like Ensembl's REST ``/archive/id`` (rules: :mod:`.lookup`);
  :class:`ArchiveIndex` precomputes every answer for batch lookups;
- :func:`history_tree`, :func:`predecessors`, :func:`successors` navigate the history (:mod:`.tree`), and
  :func:`draw_history_tree` pictures a tree (:mod:`.draw`, imported on demand: it needs matplotlib);
- :func:`archived_structure` lists an archived gene version's transcripts and translations (:mod:`.structure`).

Where the answers differ from Ensembl's and why: ``docs/archive.md``.
"""

from idtrack_core.archive.lookup import ARCHIVE_COLUMNS, ArchiveIndex, archive_lookup, split_version
from idtrack_core.archive.structure import STRUCTURE_COLUMNS, archived_structure
from idtrack_core.archive.tree import EDGE_COLUMNS, NODE_COLUMNS, HistoryTree, history_tree, predecessors, successors

__all__ = [
    "ARCHIVE_COLUMNS",
    "EDGE_COLUMNS",
    "NODE_COLUMNS",
    "STRUCTURE_COLUMNS",
    "ArchiveIndex",
    "HistoryTree",
    "archive_lookup",
    "archived_structure",
    "history_tree",
    "predecessors",
    "split_version",
    "successors",
]
