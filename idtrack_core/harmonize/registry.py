"""The study registry: study name → ``.h5ad`` path or URL, with optional per-study thresholds.

A YAML file::

    studies:
      heart: {path: data/heart.h5ad}
      lung: {path: s3://bucket/lung.h5ad, max_failure_rate: 0.3}
      kidney: {path: data/kidney.h5ad, id_namespace: entrez}   # var names are NCBI Gene IDs

or a CSV with columns ``study,path[,max_failure_rate,max_ambiguity_rate,max_collisions,id_namespace]``; or a watched
folder/prefix whose ``*.h5ad`` files are studies named after the file. Relative paths are relative to the
registry file. Each study has a fingerprint (size and modification time or ETag) to notice changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import yaml

from idtrack_core import storage
from idtrack_core.errors import StudyInputError
from idtrack_core.harmonize.gates import Thresholds

THRESHOLD_FIELDS = ("max_failure_rate", "max_ambiguity_rate", "max_collisions")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def validate_study_names(names: Sequence[str]) -> None:
    """Study names become obs prefixes and var column suffixes: letters, digits, ``_ . -``; unique."""
    bad = [n for n in names if not _STUDY_NAME.match(n)]
    if bad:
        raise StudyInputError(f"invalid study name(s) {bad}: use letters, digits, '_', '.', '-'")
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise StudyInputError(f"duplicate study name(s) {dupes}")


@dataclass(frozen=True)
class StudyEntry:
    """One registered study; ``thresholds`` holds only the per-study overrides; ``id_namespace`` says which
    database all-numeric var names come from (see :mod:`~idtrack_core.harmonize.namespaces`)."""

    name: str
    url: str
    thresholds: Mapping[str, float] | None = None
    id_namespace: str | None = None

    def gates(self, defaults: Thresholds) -> Thresholds:
        return replace(defaults, **dict(self.thresholds or {}))


def load_registry(source: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, StudyEntry]:
    """Studies of a registry file (``.yaml``/``.yml``/``.csv``) or of a folder/prefix of ``.h5ad`` files."""
    opts = dict(storage_options or {})
    fs, path = storage.url_to_fs(source, **opts)
    if not fs.exists(path):
        raise StudyInputError(f"{storage.redact(source)}: study registry not found")
    if fs.isdir(path):
        files = sorted(p for p in fs.ls(path, detail=False) if p.endswith(".h5ad"))
        base = source.rstrip("/")
        entries = [StudyEntry(os.path.basename(p)[: -len(".h5ad")], f"{base}/{os.path.basename(p)}") for p in files]
    else:
        with fs.open(path, "rb") as f:
            text = f.read().decode("utf-8")
        base = source.rsplit("/", 1)[0] if "/" in source else "."
        entries = _parse(text, source, base)
    validate_study_names([e.name for e in entries])
    return {e.name: e for e in entries}


def _resolve(path: str, base: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return f"{base}/{path}"


def _parse(text: str, source: str, base: str) -> list[StudyEntry]:
    if source.endswith(".csv"):
        table = pd.read_csv(io.StringIO(text), dtype={"study": str, "path": str})
        missing = {"study", "path"} - set(table.columns)
        if missing:
            raise StudyInputError(f"{storage.redact(source)}: registry CSV lacks column(s) {sorted(missing)}")
        rows = [
            (
                r["study"],
                r["path"],
                {k: r[k] for k in THRESHOLD_FIELDS if k in table.columns and pd.notna(r[k])},
                r["id_namespace"] if "id_namespace" in table.columns and pd.notna(r["id_namespace"]) else None,
            )
            for r in table.to_dict("records")
        ]
    else:
        data = yaml.safe_load(text) or {}
        studies = data.get("studies") if isinstance(data, dict) else None
        if not isinstance(studies, dict):
            raise StudyInputError(f"{storage.redact(source)}: expected a mapping under 'studies:'")
        rows = []
        for name, spec in studies.items():
            spec = {"path": spec} if isinstance(spec, str) else dict(spec or {})
            if "path" not in spec:
                raise StudyInputError(f"{storage.redact(source)}: study {name!r} has no path")
            unknown = set(spec) - {"path", "id_namespace", *THRESHOLD_FIELDS}
            if unknown:
                raise StudyInputError(f"{storage.redact(source)}: study {name!r} has unknown key(s) {sorted(unknown)}")
            thresholds = {k: spec[k] for k in THRESHOLD_FIELDS if k in spec}
            rows.append((str(name), str(spec["path"]), thresholds, spec.get("id_namespace")))
    return [
        StudyEntry(
            name,
            _resolve(path, base),
            {k: float(v) for k, v in t.items()} or None,
            str(namespace).strip() or None if namespace is not None else None,
        )
        for name, path, t, namespace in rows
    ]


_IDENTITY_KEYS = ("size", "mtime", "LastModified", "ETag", "last_modified", "etag")


def study_file_identity(url: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What identifies a study file's content without reading it: its URL (credentials removed), size, modification
    time or ETag, and ``fingerprint``, a digest of those that changes when the file does.

    Raises
    ------
    StudyInputError
        The file does not exist.
    """
    fs, path = storage.url_to_fs(url, **dict(storage_options or {}))
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise StudyInputError(f"{storage.redact(url)}: study file not found") from None
    values = [str(info.get(k, "")) for k in _IDENTITY_KEYS]
    modified = info.get("LastModified") or info.get("last_modified") or info.get("mtime") or ""
    return {
        "url": storage.redact(url),
        "size": int(info.get("size") or 0),
        "modified": str(modified),
        "etag": str(info.get("ETag") or info.get("etag") or "").strip('"'),
        "fingerprint": hashlib.sha256(repr(values).encode()).hexdigest()[:16],
    }


def study_fingerprint(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """A digest of a study file's size and modification time (or ETag): changes when the file does."""
    return study_file_identity(url, storage_options)["fingerprint"]
