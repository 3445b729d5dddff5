"""idtrack_core: gene identifier tracking across Ensembl releases and atlas harmonization (no Dagster).

The notebook facade is at the top level (imported on first use, so ``import idtrack_core`` stays light):

- :func:`idtrack_core.convert_ids` — identifiers of any release and database → one release and database;
- :func:`idtrack_core.harmonize` — several studies (``AnnData`` objects or ``.h5ad`` paths/URLs) matched once →
  a :class:`~idtrack_core.facade.Harmonization` with diagnostics, drill-downs, gates and union/intersect atlases.

``idtrack_core.harmonize`` is also the package of the harmonization steps; calling it runs the facade.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Harmonization", "__version__", "convert_ids", "harmonize"]
_FACADE = ("Harmonization", "convert_ids")


def __getattr__(name: str) -> Any:
    if name in _FACADE:
        from idtrack_core import facade

        return getattr(facade, name)
    if name == "harmonize":  # the (callable) subpackage
        import importlib

        return importlib.import_module("idtrack_core.harmonize")
    raise AttributeError(f"module 'idtrack_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
