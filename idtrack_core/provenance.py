"""The provenance record every atlas carries: what it was made from, with which settings, by which code.

The record is built in two steps — :func:`plan_provenance` when the harmonization plan is made (source, snapshot,
index, target, policies, thresholds, and per study its file, matching hash, diagnostics and gate results), then
:func:`atlas_provenance` when an atlas is written from that plan (mode, ``obs`` columns, plan and atlas versions).
It is stored in the atlas as ``adata.uns["idtrack"]``, in the atlas version's manifest and in the Dagster
materialization's metadata; :func:`read_atlas_provenance` reads it back without loading ``X`` and
:func:`format_provenance` prints it for people (``idtrack-atlas provenance ATLAS.h5ad``).

The record holds only JSON types with no ``None`` values and no lists of mappings (``uns`` stores it as HDF5 groups):
releases and studies are mappings keyed by their name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from idtrack_core import __version__, storage

PROVENANCE_KEY = "idtrack"
PROVENANCE_FORMAT_VERSION = 1


def plan_provenance(
    index_manifest: Mapping[str, Any],
    index_version: str,
    plan_version: str,
    policy: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    studies: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The provenance of a harmonization plan.

    Parameters
    ----------
    index_manifest
        The manifest of the resolution index the studies were matched with (its ``lineage`` names the snapshot and
        the extracts with their source and fingerprints).
    index_version, plan_version
        The versions of the index and of the plan.
    policy
        The harmonization policies (1→n, n→1, consistent failures).
    thresholds
        The default gate limits (per-study limits are in ``studies``).
    studies
        Per study: ``file`` (its identity), ``matching_sha256``, ``thresholds``, ``diagnostics``, ``gates``.

    Returns
    -------
    dict
        The record (see the module docstring).
    """
    lineage = index_manifest.get("lineage", {})
    extracts = lineage.get("extracts", [])
    sources = sorted({e["source"] for e in extracts})
    snapshot = lineage.get("snapshot", {})
    record = {
        "format_version": PROVENANCE_FORMAT_VERSION,
        "package_version": __version__,
        "source": {
            "url": sources[0] if len(sources) == 1 else sources,
            "species": index_manifest.get("species"),
            "assembly": index_manifest.get("assembly"),
            "releases": {
                str(e["release"]): {
                    "database": e["database"],
                    "fingerprint": e["source_fingerprint"],
                    "extract_version": e["version"],
                }
                for e in extracts
            },
        },
        "target": {
            "to_release": index_manifest.get("to_release"),
            "final_database": index_manifest.get("final_database"),
            "from_release": index_manifest.get("from_release"),
            "strategy": index_manifest.get("strategy"),
            "target_field": index_manifest.get("target_field"),
        },
        "snapshot": {"version": snapshot.get("version"), "content_sha256": index_manifest.get("snapshot_sha256")},
        "index": {"version": index_version},
        "plan": {"version": plan_version, "policy": dict(policy)},
        "thresholds": dict(thresholds),
        "studies": {name: dict(info) for name, info in sorted(studies.items())},
    }
    return clean(record)


def atlas_provenance(
    plan_record: Mapping[str, Any],
    mode: str,
    obs_columns: list[str],
    atlas_version: str,
    code_version: str,
    var_names: str = "ensembl",
) -> dict[str, Any]:
    """The provenance of an atlas: its plan's record plus how the atlas itself was written."""
    record = dict(plan_record)
    record["package_version"] = __version__
    record["atlas"] = {
        "mode": mode,
        "version": atlas_version,
        "code_version": code_version,
        "obs_columns": list(obs_columns),
        "var_names": var_names,
    }
    return clean(record)


def clean(value: Any) -> Any:
    """A copy without ``None`` values, with NumPy scalars as Python ones and tuples as lists (storable in ``uns``)."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value if v is not None]
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_uns(value: Any) -> Any:
    """``uns`` as anndata reads it back (NumPy arrays and scalars) → plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): from_uns(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [from_uns(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def read_atlas_provenance(url: str, **storage_options: Any) -> dict[str, Any]:
    """The provenance record of an atlas ``.h5ad`` or Zarr store (local path or URL), read without loading ``X``.

    Raises
    ------
    StudyInputError
        The file cannot be read, or it carries no ``uns["idtrack"]`` record.
    """
    from anndata.io import read_elem

    from idtrack_core.errors import StudyInputError
    from idtrack_core.harmonize.studyio import open_h5ad

    shown = storage.redact(url)
    if url.rstrip("/").endswith(".zarr"):
        from idtrack_core.harmonize.zarr_atlas import open_atlas_store

        uns = open_atlas_store(url, storage_options).get("uns")
        if uns is None or PROVENANCE_KEY not in uns:
            raise StudyInputError(f"{shown}: no provenance record (uns['{PROVENANCE_KEY}']): not made by idtrack-atlas")
        return from_uns(read_elem(uns[PROVENANCE_KEY]))
    with open_h5ad(url, storage_options) as h5:
        if "uns" not in h5 or PROVENANCE_KEY not in h5["uns"]:
            raise StudyInputError(f"{shown}: no provenance record (uns['{PROVENANCE_KEY}']): not made by idtrack-atlas")
        return from_uns(read_elem(h5["uns"][PROVENANCE_KEY]))


def format_provenance(record: Mapping[str, Any]) -> str:
    """The record as indented ``key: value`` lines, in a stable order, for people."""
    lines: list[str] = []

    def walk(value: Any, indent: int) -> None:
        pad = "  " * indent
        for key in _ordered_keys(value):
            item = value[key]
            if isinstance(item, Mapping):
                lines.append(f"{pad}{key}:")
                walk(item, indent + 1)
            elif isinstance(item, list):
                lines.append(f"{pad}{key}: {', '.join(str(v) for v in item) or '(none)'}")
            else:
                lines.append(f"{pad}{key}: {item}")

    walk(record, 0)
    return "\n".join(lines) + "\n"


_FIRST = ("format_version", "package_version", "atlas", "source", "target", "snapshot", "index", "plan")


def _ordered_keys(mapping: Mapping[str, Any]) -> list[str]:
    first = [k for k in _FIRST if k in mapping]
    return first + sorted(k for k in mapping if k not in _FIRST)
