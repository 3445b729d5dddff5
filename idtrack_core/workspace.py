"""A home folder (local or ``s3://``) caching release extracts, graph snapshots and resolution indexes.

Layout::

    {home}/extracts/{species}/{assembly}/{release}/            release extract (Parquet + manifest.json)
    {home}/snapshots/{species}/{assembly}/{snapshot_release}/   graph snapshot
    {home}/indexes/{snapshot sha256[:16]}/{target key}/          resolution index

Everything is rebuilt only when its inputs changed: an extract when its source database's fingerprint
changed, a snapshot when an extract changed (content hash of the inputs), an index when the snapshot did.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from idtrack_core import storage
from idtrack_core.convert.index import ResolutionIndex
from idtrack_core.convert.target import ConversionTarget
from idtrack_core.ensembl import EnsemblSource, extract_release, write_extract
from idtrack_core.ensembl.databases import CoreDatabase, validate_species
from idtrack_core.errors import SnapshotError, UnknownReleaseError, UnknownSpeciesError
from idtrack_core.graph import Snapshot, build_snapshot, read_snapshot, write_snapshot
from idtrack_core.graph.model import SNAPSHOT_FORMAT_VERSION
from idtrack_core.graph.store import read_snapshot_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """Cached artifacts of one species/assembly under ``home``."""

    home: str
    species: str
    assembly: str | None
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", validate_species(self.species))

    @property
    def _asm(self) -> str:
        return self.assembly or "any"

    def extract_url(self, release: int) -> str:
        return storage.join(self.home, "extracts", self.species, self._asm, str(release))

    def snapshot_url(self, snapshot_release: int) -> str:
        return storage.join(self.home, "snapshots", self.species, self._asm, str(snapshot_release))

    def index_url(self, snapshot_hash: str, target: ConversionTarget) -> str:
        return storage.join(self.home, "indexes", snapshot_hash[:16], target.key)

    def _manifest(self, url: str) -> dict[str, Any] | None:
        manifest_url = storage.join(url, storage.MANIFEST)
        if not storage.exists(manifest_url, **self.storage_options):
            return None
        return storage.read_json(manifest_url, **self.storage_options)

    # ---------------------------------------------------------------------------------- extracts
    def ensure_extract(self, source: EnsemblSource, db: CoreDatabase) -> str:
        """The URL of an up-to-date extract of ``db``, extracting it if missing or stale."""
        url = self.extract_url(db.release)
        manifest = self._manifest(url)
        fingerprint = source.fingerprint(db)
        if manifest and manifest.get("source_fingerprint") == fingerprint and manifest.get("source") == source.url:
            log.info("extract %s is up to date", db.name)
            return url
        log.info("extracting %s into %s", db.name, storage.redact(url))
        write_extract(extract_release(source, db.species, db.assembly, db.release), url, **self.storage_options)
        return url

    def ensure_extracts(self, source: EnsemblSource, snapshot_release: int | None = None) -> list[str]:
        """Up-to-date extracts of every release at the source (up to ``snapshot_release``)."""
        dbs = source.list_databases(self.species, self.assembly)
        if not dbs:
            raise UnknownSpeciesError(f"no core database of species {self.species!r} at {source.url}")
        if snapshot_release is not None:
            if snapshot_release not in {d.release for d in dbs}:
                raise UnknownReleaseError(f"release {snapshot_release} not found at {source.url}")
            dbs = [d for d in dbs if d.release <= snapshot_release]
        return [self.ensure_extract(source, db) for db in dbs]

    def available_releases(self, source: EnsemblSource | None) -> list[int]:
        """Releases at the source (or, without a source, cached in the home folder)."""
        if source is not None:
            return sorted(d.release for d in source.list_databases(self.species, self.assembly))
        releases = [int(u.rstrip("/").rsplit("/", 1)[-1]) for u in self.cached_extracts()]
        if not releases:
            raise SnapshotError(f"no cached extracts of {self.species} in {storage.redact(self.home)}; give --source")
        return releases

    def cached_extracts(self, snapshot_release: int | None = None) -> list[str]:
        """Extracts already in the home folder (no source access)."""
        fs, root = storage.url_to_fs(
            storage.join(self.home, "extracts", self.species, self._asm), **self.storage_options
        )
        if not fs.exists(root):
            return []
        releases = sorted(
            int(p.rstrip("/").rsplit("/", 1)[-1])
            for p in fs.ls(root, detail=False)
            if p.rstrip("/").rsplit("/", 1)[-1].isdigit()
        )
        urls = [self.extract_url(r) for r in releases if snapshot_release is None or r <= snapshot_release]
        return [u for u in urls if self._manifest(u)]

    # --------------------------------------------------------------------------------- snapshot
    def ensure_snapshot(self, extract_urls: Sequence[str], load: bool = True) -> tuple[str, Snapshot | None]:
        """(URL, snapshot) built from exactly these extracts; rebuilt only when an input changed.

        With ``load=False`` an up-to-date snapshot is not loaded (only its manifest is read)."""
        if not extract_urls:
            raise SnapshotError(f"no release extracts of {self.species} in {storage.redact(self.home)}")
        manifests = [self._manifest(u) for u in extract_urls]
        rows = sorted(
            (int(m["release"]), m["database"], hashlib.sha256(storage.json_bytes(m)).hexdigest())
            for m in manifests
            if m is not None
        )
        url = self.snapshot_url(rows[-1][0])
        existing = self._manifest(url)
        wanted = [{"release": r, "database": d, "extract_sha256": s} for r, d, s in rows]
        if (
            existing
            and existing.get("releases") == wanted
            and existing.get("format_version") == SNAPSHOT_FORMAT_VERSION
        ):
            log.info("snapshot %s is up to date", storage.redact(url))
            return url, read_snapshot(url, **self.storage_options) if load else None
        snap = build_snapshot(list(extract_urls), storage_options=self.storage_options)
        write_snapshot(snap, url, **self.storage_options)
        return url, snap

    # ------------------------------------------------------------------------------------ index
    def ensure_index(
        self, snapshot_url: str, target: ConversionTarget, snap: Snapshot | None = None
    ) -> ResolutionIndex:
        """The resolution index of a snapshot for ``target``, built and saved on first use.

        Without ``snap``, an index saved under the target as given is used without loading the snapshot."""
        content = read_snapshot_manifest(snapshot_url, **self.storage_options)["content_sha256"]
        if snap is None:
            url = self.index_url(content, target)
            if self._manifest(url):
                return ResolutionIndex.read(url, **self.storage_options)
            snap = read_snapshot(snapshot_url, **self.storage_options)
        target = target.validated(snap)
        url = self.index_url(content, target)
        if self._manifest(url):
            return ResolutionIndex.read(url, **self.storage_options)
        index = ResolutionIndex.build(snap, target)
        index.write(url, **self.storage_options)
        return index


def index_with_home(
    ws: Workspace, source: EnsemblSource | None, target: ConversionTarget, snapshot_release: int | None = None
) -> ResolutionIndex:
    """The resolution index for ``target``, (re)building extracts, snapshot and index in the home folder as
    needed; ``source=None`` uses the cached extracts only."""
    urls = ws.ensure_extracts(source, snapshot_release) if source is not None else ws.cached_extracts(snapshot_release)
    snapshot_url, snap = ws.ensure_snapshot(urls, load=False)
    return ws.ensure_index(snapshot_url, target, snap)


def convert_with_home(
    ws: Workspace,
    source: EnsemblSource | None,
    ids: Sequence[str],
    target: ConversionTarget,
    snapshot_release: int | None = None,
) -> pd.DataFrame:
    """Convert ``ids`` using (and filling) the home folder."""
    return index_with_home(ws, source, target, snapshot_release).lookup(ids)
