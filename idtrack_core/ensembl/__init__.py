"""Ensembl sources (dump folders, MySQL servers) and their normalization into release extracts.

The names below load on first use (PEP 562), so importing one submodule (say :mod:`.databases`) does not import
pandas through :mod:`.extract`.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    """The public name ``name`` from the submodule that defines it."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
