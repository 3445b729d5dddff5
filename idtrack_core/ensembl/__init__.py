"""Ensembl sources (dump folders, MySQL servers) and their normalization into release extracts.

The names below load on first use (PEP 562), so importing one submodule (say :mod:`.databases`) does not import
pandas through :mod:`.extract`.
"""

from __future__ import annotations

from idtrack_core.lazy import lazy_attributes

_HOMES = {
    "CoreDatabase": "databases",
    "DumpSource": "sources",
    "EnsemblSource": "sources",
    "MySQLSource": "sources",
    "ReleaseExtract": "extract",
    "databases_of": "sources",
    "extract_release": "extract",
    "find_database": "sources",
    "latest_release": "sources",
    "open_source": "sources",
    "read_extract": "extract",
    "write_extract": "extract",
}
__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
