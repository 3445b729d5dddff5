"""Fail fast: every input of a command is checked before anything expensive is built.

A command first checks, in this order, what costs nothing or little: the names it was given (species), its outputs
(the folder can be written), its study files (they exist, are AnnData ``.h5ad``, their var names are usable), the
source (it exists and has the species and assembly) and the target release. Each error says what is available
(species, assemblies, releases) and suggests the closest name.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any

from idtrack_core import storage
from idtrack_core.ensembl.databases import validate_species
from idtrack_core.errors import OutputWriteError, UnknownReleaseError


def check_output(path: str | None, folder: bool = False) -> None:
    """An output can be written: it is published by a rename in its parent folder, so that folder (or, when it
    does not exist yet, its nearest existing ancestor) must be writable; a file output must not be a folder."""
    if path is None or storage.local_path(path) is None:
        return
    from idtrack_core.io_errors import check_writable_folder

    if not folder and os.path.isdir(path):
        raise OutputWriteError(f"cannot write {path}: it is a folder (give a file name)")
    check_writable_folder(os.path.dirname(os.path.abspath(path)))


def check_home(home: str) -> None:
    """A home folder that holds nothing yet must be writable (everything will be built into it); one that holds
    artifacts may be read-only (a shared cache), and a write it then needs fails with a clear error."""
    if storage.local_path(home) is None:
        return
    if not os.path.isdir(home) or not os.listdir(home):
        from idtrack_core.io_errors import check_writable_folder

        check_writable_folder(home)


def checked_source(args: argparse.Namespace) -> tuple[Any, list[int]]:
    """The source of ``--source`` (or None) and the releases of ``--species``/``--assembly`` it has (or, without
    a source, that ``--home`` holds).

    Raises
    ------
    InvalidNameError, SourceNotFoundError, UnknownSpeciesError, SnapshotError
        The species name is malformed, the source does not exist or lacks the species/assembly (the message lists
        what it has), or there is no source and the home holds nothing.
    """
    from idtrack_core.ensembl import databases_of, open_source

    validate_species(args.species)
    if args.source:
        source = open_source(args.source)
        return source, sorted({db.release for db in databases_of(source, args.species, args.assembly)})
    from idtrack_core.workspace import Workspace

    return None, Workspace(args.home, args.species, args.assembly).available_releases(None)


def check_release(release: int | str, releases: Sequence[int], where: str) -> None:
    """``release`` (a number or ``latest``) is one of ``releases``; else the error lists them and the nearest."""
    if release == "latest" or release in releases:
        return
    nearest = min(releases, key=lambda r: (abs(r - int(release)), r)) if releases else None
    hint = f"; the nearest is {nearest}" if nearest is not None else ""
    listed = ", ".join(str(r) for r in releases)
    raise UnknownReleaseError(f"release {release} is not available {where}{hint}; available: {listed}")


def check_studies(studies: Mapping[str, str], id_namespaces: Mapping[str, str | None] | None = None) -> None:
    """Every study file exists and is an AnnData ``.h5ad`` with usable var names (all-numeric names need the
    study's entry in ``id_namespaces``).

    Raises
    ------
    StudyInputError
        Naming the study and its file.
    """
    from idtrack_core.harmonize.namespaces import check_feature_names
    from idtrack_core.harmonize.registry import validate_study_names
    from idtrack_core.harmonize.studyio import read_study_features

    validate_study_names(list(studies))
    for name, url in studies.items():
        features = read_study_features(url)
        namespace = (id_namespaces or {}).get(name)
        check_feature_names(list(features.var_names), f"study {name!r} ({features.url})", namespace)


def checked_target(args: argparse.Namespace) -> Any:
    """Check ``--home``, ``--source``/``--species``/``--assembly`` and ``--to-release``/``--from-release`` (see
    :func:`checked_source`, :func:`check_release`); return the source (or None)."""
    check_home(args.home)
    source, releases = checked_source(args)
    where = f"for {args.species}" + (f" {args.assembly}" if args.assembly else "")
    where += f" at {source.url}" if source is not None else f" in {storage.redact(args.home)} (no --source given)"
    check_release(args.to_release, releases, where)
    if args.from_release is not None:
        check_release(args.from_release, releases, where)
    return source
