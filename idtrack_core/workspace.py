"""A workspace: the versioned release extracts, graph snapshots and resolution indexes of one species/assembly.

Everything lives in a :class:`~idtrack_core.versions.VersionedStore` (a local folder or ``s3://``) as immutable,
content-addressed versions; each step takes the :class:`~idtrack_core.versions.Handle` of its inputs and returns the
handle of its output::

    versions/extracts/{species}/{db assembly}/{release}/{version}/  release extract (Parquet + manifest.json); the
                                                                 assembly of the database's name (38, 37)
    versions/snapshots/{species}/{assembly}/{version}/           graph snapshot
    versions/indexes/{species}/{assembly}/{version}/             resolution index

A version is derived from what makes the content (the source database's fingerprint, the input versions, the target,
the code version), so an unchanged input is never rebuilt and a changed one gets a new version beside the old.
Manifests carry the ``lineage`` of their inputs (source, fingerprints, versions), which the provenance of every
atlas is made from. The command line (``--home``) and the Dagster assets use the same workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from idtrack_core import storage
from idtrack_core.convert.index import ResolutionIndex
from idtrack_core.convert.target import ConversionTarget
from idtrack_core.ensembl.databases import CoreDatabase, assembly_matches, validate_species
from idtrack_core.ensembl.sources import EnsemblSource, databases_of, previous_database
from idtrack_core.errors import SnapshotError
from idtrack_core.formats import EXTRACT_CODE_VERSION, INDEX_CODE_VERSION, SNAPSHOT_CODE_VERSION
from idtrack_core.parallel import parallel_iter
from idtrack_core.progress import progress
from idtrack_core.versions import Handle, VersionedStore, version_id

if TYPE_CHECKING:
    import pandas as pd

    from idtrack_core.graph.model import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """The versioned artifacts of one species/assembly under ``home``.

    Parameters
    ----------
    home
        Storage root: a local folder or ``s3://bucket/prefix``.
    species
        Ensembl production name (``homo_sapiens``).
    assembly
        Assembly name (``GRCh38``), or None for any.
    storage_options
        fsspec options for ``home``.
    """

    home: str
    species: str
    assembly: str | None
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", validate_species(self.species))

    @cached_property
    def store(self) -> VersionedStore:
        """The versioned store under ``home``."""
        return VersionedStore(self.home, self.storage_options)

    @property
    def _scope(self) -> str:
        return f"{self.species}/{self.assembly or 'any'}"

    # ---------------------------------------------------------------------------------------- extracts
    def extract(self, source: EnsemblSource, db: CoreDatabase) -> Handle:
        """The extract of ``db`` for the source's current content (made unless this version exists).

        The version follows the source (URL without credentials), the database and its fingerprint (file sizes
        and dates, or the server's table statistics), so a changed database gets a new extract. The extract holds
        only the history new since the previous database at the source (``history="new"``), named in the version:
        a published Ensembl database does not rewrite its mapping sessions, so that one's fingerprint is left out.
        """
        slot, version = self._extract_version(source, db)
        return self._make_extract(source, (db, slot, version))

    def _extract_version(self, source: EnsemblSource, db: CoreDatabase) -> tuple[str, str]:
        since = previous_database(source, db)
        inputs = {
            "source": storage.redact(source.url),
            "database": db.name,
            "fingerprint": source.fingerprint(db),
            "history_since": None if since is None else since.name,  # the sessions it has are left out
        }
        return f"extracts/{self.species}/{db.assembly}/{db.release}", version_id(
            "ensembl_release_extract", EXTRACT_CODE_VERSION, inputs
        )

    def _make_extract(self, source: EnsemblSource, target: tuple[CoreDatabase, str, str]) -> Handle:
        db, slot, version = target

        def make_files() -> dict[str, bytes]:
            from idtrack_core.ensembl.extract import extract_files, extract_release

            log.info("extracting %s", db.name)
            return extract_files(extract_release(source, db.species, db.assembly, db.release, history="new"))

        return self.store.find_or_make(slot, version, make_files)

    def extracts(self, source: EnsemblSource) -> list[Handle]:
        """Up-to-date extracts of every release the source has for this species/assembly (oldest first); the
        missing ones are made in parallel, one worker process per CPU (each release's extract stands alone).

        Raises
        ------
        UnknownSpeciesError
            The source has no database of this species/assembly (the message lists what it has).
        """
        dbs = sorted(databases_of(source, self.species, self.assembly), key=lambda d: (d.release, d.assembly))
        versions = [(db, *self._extract_version(source, db)) for db in dbs]
        found = {db: self.store.find(slot, version) for db, slot, version in versions}
        missing = [v for v in versions if found[v[0]] is None]
        if missing:
            with progress(f"extracting {self.species} releases", total=len(missing), unit="releases") as bar:
                made = parallel_iter(partial(self._make_extract, source), missing)
                for (db, _, _), handle in zip(missing, made, strict=True):
                    found[db] = handle
                    bar.update(note=f"release {db.release}")
        return [found[db] for db in dbs]

    def cached_extracts(self) -> list[Handle]:
        """The newest complete extract of each database already in the store (no source access), in the order of
        :meth:`extracts` (release, then the database's assembly)."""
        newest: dict[tuple[int, str], Handle] = {}
        prefix = f"extracts/{self.species}/"
        for v in self.store.versions():
            db_assembly, _, release = v.slot[len(prefix) :].partition("/")
            ours = v.slot.startswith(prefix) and release.isdigit() and assembly_matches(db_assembly, self.assembly)
            if v.complete and ours:
                newest[int(release), db_assembly] = self.store.find(v.slot, v.version)  # versions() is time-sorted
        if not newest:
            raise SnapshotError(f"no cached extracts of {self._scope} in {storage.redact(self.home)}; give --source")
        return [newest[key] for key in sorted(newest)]

    def available_releases(self, source: EnsemblSource | None) -> list[int]:
        """Releases at the source (or, without a source, cached in the store)."""
        if source is not None:
            return sorted(d.release for d in source.list_databases(self.species, self.assembly))
        return [_release_of(h) for h in self.cached_extracts()]

    # ---------------------------------------------------------------------------------------- snapshot
    def snapshot(self, extracts: Sequence[Handle]) -> Handle:
        """The graph snapshot of exactly these extracts (made unless this version exists)."""
        if not extracts:
            raise SnapshotError(f"no release extracts of {self.species} to build a snapshot from")
        inputs = {"extracts": sorted(h.version for h in extracts)}
        version = version_id("id_graph_snapshot", SNAPSHOT_CODE_VERSION, inputs)
        slot = f"snapshots/{self._scope}"

        def make_files() -> dict[str, bytes]:
            from idtrack_core.graph.build import build_snapshot
            from idtrack_core.graph.store import snapshot_files

            with progress(f"building the graph snapshot of {len(extracts)} releases"):
                snap = build_snapshot([h.url for h in extracts], storage_options=self.storage_options)
            lineage = {"extracts": [_extract_lineage(h, self.storage_options) for h in extracts]}
            return snapshot_files(snap, {"lineage": lineage})

        return self.store.find_or_make(slot, version, make_files)

    def load_snapshot(self, snapshot: Handle) -> Snapshot:
        """Load a snapshot version."""
        from idtrack_core.graph.store import read_snapshot

        return read_snapshot(snapshot.url, **self.storage_options)

    # ------------------------------------------------------------------------------------------- index
    def index(self, snapshot: Handle, target: ConversionTarget) -> Handle:
        """The resolution index of ``snapshot`` for ``target`` (made unless this version exists).

        A target release of ``"latest"`` is resolved here, against the snapshot's releases.
        """
        manifest = snapshot.manifest(**self.storage_options)
        target = target.resolved([r["release"] for r in manifest["releases"]])
        inputs = {"snapshot": snapshot.version, "target": target.key}
        version = version_id("resolution_index", INDEX_CODE_VERSION, inputs)
        slot = f"indexes/{self._scope}"

        def make_files() -> dict[str, bytes]:
            with progress(f"building the resolution index (release {target.to_release}, {target.final_database})"):
                index = ResolutionIndex.build(self.load_snapshot(snapshot), target)
            lineage = {
                **manifest.get("lineage", {}),
                "snapshot": {
                    "version": snapshot.version,
                    "content_sha256": manifest["content_sha256"],
                    "species": manifest["species"],
                    "assembly": manifest["assembly"],
                    "releases": [r["release"] for r in manifest["releases"]],
                },
            }
            return index.files({"version": version, "lineage": lineage})

        return self.store.find_or_make(slot, version, make_files)

    def load_index(self, index: Handle) -> ResolutionIndex:
        """Load a resolution index version."""
        return ResolutionIndex.read(index.url, **self.storage_options)

    # -------------------------------------------------------------------------------------- one call
    def resolution_index(self, source: EnsemblSource | None, target: ConversionTarget) -> Handle:
        """Extracts (from ``source``, or the cached ones when None), snapshot and index for ``target``."""
        extracts = self.extracts(source) if source is not None else self.cached_extracts()
        return self.index(self.snapshot(extracts), target)


def _release_of(extract: Handle) -> int:
    return int(extract.slot.rsplit("/", 1)[-1])


def _extract_lineage(extract: Handle, storage_options: dict[str, Any]) -> dict[str, Any]:
    m = extract.manifest(**storage_options)
    return {
        "release": int(m["release"]),
        "database": m["database"],
        "version": extract.version,
        "source": storage.redact(m["source"]),
        "source_fingerprint": m["source_fingerprint"],
    }


def index_with_home(ws: Workspace, source: EnsemblSource | None, target: ConversionTarget) -> ResolutionIndex:
    """The loaded resolution index for ``target``, (re)building what changed in the workspace."""
    return ws.load_index(ws.resolution_index(source, target))


def convert_with_home(
    ws: Workspace, source: EnsemblSource | None, ids: Sequence[str], target: ConversionTarget
) -> pd.DataFrame:
    """Convert ``ids`` using (and filling) the workspace."""
    return index_with_home(ws, source, target).lookup(ids)
