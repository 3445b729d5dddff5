"""Ensembl's ID history archive over a snapshot: is an ID current, its latest version, its replacements (with
their scores), its history tree and the archived structure of old gene versions.

``archive_lookup(snapshot, ids)`` answers like Ensembl's REST ``/archive/id`` (see :mod:`.lookup`);
:class:`ArchiveIndex` precomputes every answer for batch lookups.
"""

from idtrack_core.archive.lookup import ARCHIVE_COLUMNS, ArchiveIndex, archive_lookup, split_version

__all__ = ["ARCHIVE_COLUMNS", "ArchiveIndex", "archive_lookup", "split_version"]
