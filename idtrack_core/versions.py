"""Immutable, content-addressed versions of every artifact, ``latest`` pointers, leases and retention (DESIGN §7).

Layout under a storage root (a local folder or ``s3://bucket/prefix``)::

    {root}/versions/{slot}/{version}/...        one immutable version; complete once its manifest.json exists
    {root}/latest/{name}.json                   a pointer: the handle of the current version of an asset
    {root}/leases/{holder}/{name}.json          a version a run (the holder) wrote or read
    {root}/runs/{run_id}/...                    scratch of one run (values passed between its steps)

A *slot* is a family of versions (``snapshots/homo_sapiens/GRCh38``); a *version* is derived from everything that
determines the content — the inputs' versions, the settings and the code version (:func:`version_id`) — so building
the same thing twice finds the first build and reuses it (nothing is rewritten). A :class:`Handle` (URL + version +
manifest checksum) is what flows between steps. Pointers move atomically after a version is complete.

Nothing is deleted except by :meth:`VersionedStore.plan_retention` / :meth:`VersionedStore.remove`, which never remove
a version that a pointer names, that an active run holds a lease on, that is among the newest ``keep`` of its slot,
or that is younger than ``min_age`` (a run may have just finished it and not yet moved its pointer). A run's
scratch is removed once the run has ended (and is older than ``min_age``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from idtrack_core import storage
from idtrack_core.errors import SnapshotError

log = logging.getLogger(__name__)

VERSION_LENGTH = 20
_VERSION = re.compile(rf"^[0-9a-f]{{{VERSION_LENGTH}}}$")
_NAME = re.compile(r"^[A-Za-z0-9_.=+-]+(/[A-Za-z0-9_.=+-]+)*$")
VERSIONS, LATEST, LEASES, RUNS = "versions", "latest", "leases", "runs"


def version_id(kind: str, code_version: str, inputs: Mapping[str, Any]) -> str:
    """The content address of an artifact: a hash of its kind, its code version and everything it is made from.

    Parameters
    ----------
    kind
        What is built (``snapshot``, ``resolution_index``, …).
    code_version
        The version of the code that builds it (bumped whenever the output for the same inputs changes).
    inputs
        JSON-serializable description of the inputs: upstream versions, settings, source fingerprints.

    Returns
    -------
    str
        :data:`VERSION_LENGTH` hexadecimal characters.
    """
    document = {"kind": kind, "code_version": code_version, "inputs": inputs}
    return hashlib.sha256(storage.json_bytes(document)).hexdigest()[:VERSION_LENGTH]


@dataclass(frozen=True)
class Handle:
    """A complete, immutable version of an artifact: what one step hands to the next.

    Attributes
    ----------
    slot
        The family of versions it belongs to.
    version
        Its content address (:func:`version_id`).
    url
        The folder holding it (a local path or ``s3://`` URL).
    manifest_sha256
        SHA-256 of its ``manifest.json`` (which lists the checksums of its files).
    """

    slot: str
    version: str
    url: str
    manifest_sha256: str

    def file(self, name: str) -> str:
        """The URL of one file of this version."""
        return storage.join(self.url, name)

    def manifest(self, **storage_options: Any) -> dict[str, Any]:
        """The version's manifest, checked against :attr:`manifest_sha256`."""
        data = storage.read_bytes(self.file(storage.MANIFEST), **storage_options)
        if hashlib.sha256(data).hexdigest() != self.manifest_sha256:
            raise SnapshotError(f"{storage.redact(self.url)}: manifest changed since version {self.version} was made")
        return json.loads(data)

    def to_json(self) -> bytes:
        """Canonical JSON."""
        return storage.json_bytes(asdict(self))

    @classmethod
    def from_json(cls, data: bytes | str) -> Handle:
        """Parse :meth:`to_json`."""
        return cls(**json.loads(data))


@dataclass(frozen=True)
class VersionInfo:
    """One version folder found in a store."""

    slot: str
    version: str
    url: str
    complete: bool
    modified: float


@dataclass(frozen=True)
class Lease:
    """A version a holder (a run) wrote or read, under a name (an asset and partition)."""

    holder: str
    name: str
    handle: Handle
    role: str
    created: float


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention rule removes and why the rest stays.

    Attributes
    ----------
    remove
        Complete versions to remove.
    kept
        Every other version with the reason it stays (``pointer``, ``lease``, ``newest``, ``young``,
        ``incomplete``).
    stale_leases
        Holders whose leases no longer protect anything (their runs ended): removed with the versions.
    temporaries
        Hidden temporary files and folders (``.name.tmp-…``) that a killed or crashed write left behind, older than
        the minimum age: removed with the versions.
    run_scratch
        The scratch folders (``runs/{run_id}``) of runs that ended, older than the minimum age.
    """

    remove: tuple[VersionInfo, ...]
    kept: tuple[tuple[VersionInfo, str], ...] = ()
    stale_leases: tuple[str, ...] = field(default_factory=tuple)
    temporaries: tuple[str, ...] = field(default_factory=tuple)
    run_scratch: tuple[str, ...] = field(default_factory=tuple)


class VersionedStore:
    """Versions, pointers and leases under one storage root (see the module docstring).

    Parameters
    ----------
    root
        A local folder or an ``s3://`` URL.
    storage_options
        fsspec options (credentials, endpoint) for ``root``.
    """

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.root = root
        self.storage_options = dict(storage_options or {})

    def __repr__(self) -> str:
        return f"VersionedStore({storage.redact(self.root)!r})"

    # ----------------------------------------------------------------------------------------- versions
    def version_url(self, slot: str, version: str) -> str:
        """Where a version of ``slot`` lives."""
        _check_name(slot, "slot")
        if not _VERSION.match(version):
            raise ValueError(f"not a version id: {version!r}")
        return storage.join(self.root, VERSIONS, slot, version)

    def find(self, slot: str, version: str) -> Handle | None:
        """The handle of a complete version, or None when it does not exist (or is incomplete)."""
        url = self.version_url(slot, version)
        try:
            data = storage.read_bytes(storage.join(url, storage.MANIFEST), **self.storage_options)
        except FileNotFoundError:
            return None
        return Handle(slot, version, url, hashlib.sha256(data).hexdigest())

    def publish(self, slot: str, version: str, files: Mapping[str, bytes]) -> Handle:
        """Publish a version from in-memory files (``manifest.json`` among them), or reuse it when it exists."""
        found = self.find(slot, version)
        if found is not None:
            log.info("%s version %s exists: reused", slot, version)
            return found
        storage.publish_dir(self.version_url(slot, version), files, **self.storage_options)
        return self._sealed(slot, version)

    def find_or_make(self, slot: str, version: str, make_files: Callable[[], Mapping[str, bytes]]) -> Handle:
        """Reuse a version, or publish the files ``make_files()`` returns (called only when the version is missing:
        the expensive build it runs is skipped when the version exists)."""
        found = self.find(slot, version)
        if found is not None:
            log.info("%s version %s exists: reused", slot, version)
            return found
        return self.publish(slot, version, make_files())

    def build(self, slot: str, version: str, write: Callable[[str], Mapping[str, Any]]) -> Handle:
        """Reuse a version, or make it with ``write(url)`` (which writes its files into ``url`` and returns the
        manifest); the manifest is written last, so the version is complete only when everything is there."""
        found = self.find(slot, version)
        if found is not None:
            log.info("%s version %s exists: reused", slot, version)
            return found
        url = self.version_url(slot, version)
        manifest = write(url)
        storage.atomic_write_bytes(
            storage.join(url, storage.MANIFEST), storage.json_bytes(manifest), **self.storage_options
        )
        return self._sealed(slot, version)

    def _sealed(self, slot: str, version: str) -> Handle:
        handle = self.find(slot, version)
        if handle is None:
            raise SnapshotError(f"{storage.redact(self.version_url(slot, version))}: no manifest after publishing")
        return handle

    def _entries(self) -> tuple[str, dict[str, Any]]:
        """The path prefix of ``versions/`` and every file and folder under it (fsspec details)."""
        fs, base_path = storage.url_to_fs(storage.join(self.root, VERSIONS), **self.storage_options)
        return base_path.rstrip("/") + "/", _listing(fs, base_path, withdirs=True)

    def temporaries(self) -> list[tuple[str, float]]:
        """Hidden temporaries (``.name.tmp-…``) under ``versions/`` with their modification times: what a killed
        write left behind (a live write's temporaries are young)."""
        prefix, entries = self._entries()
        fs, _ = storage.url_to_fs(self.root, **self.storage_options)
        found = []
        for path, info in sorted(entries.items()):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            inside_temp = any(part.startswith(".") and ".tmp-" in part for part in path[len(prefix) :].split("/")[:-1])
            if name.startswith(".") and ".tmp-" in name and not inside_temp:
                found.append((fs.unstrip_protocol(path) if not storage.is_local(fs) else path, _mtime(info)))
        return found

    def versions(self) -> list[VersionInfo]:
        """Every version folder in the store, sorted by slot then modification time."""
        prefix, entries = self._entries()
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for path, info in entries.items():
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            parts = rel.strip("/").split("/")
            if len(parts) >= 2 and _VERSION.match(parts[-1]) and info.get("type") == "directory":
                found.setdefault(("/".join(parts[:-1]), parts[-1]), {"modified": _mtime(info), "complete": False})
            if len(parts) >= 3 and parts[-1] == storage.MANIFEST and _VERSION.match(parts[-2]):
                key = ("/".join(parts[:-2]), parts[-2])
                found[key] = {"modified": _mtime(info), "complete": True}
        return sorted(
            (
                VersionInfo(slot, version, self.version_url(slot, version), v["complete"], v["modified"])
                for (slot, version), v in found.items()
            ),
            key=lambda v: (v.slot, v.modified, v.version),
        )

    def remove(self, versions: Collection[VersionInfo]) -> None:
        """Delete these version folders (use :meth:`plan_retention` to choose them)."""
        for v in versions:
            log.info("removing %s version %s", v.slot, v.version)
            self._remove_tree(v.url)

    def _remove_tree(self, url: str) -> None:
        """Delete a folder and everything in it (nothing when it is gone already); retried on a remote store."""
        fs, path = storage.url_to_fs(url, **self.storage_options)
        storage.retried(fs, lambda: fs.rm(path, recursive=True) if fs.exists(path) else None, f"removing {url}")

    # ----------------------------------------------------------------------------------------- pointers
    def point(self, name: str, handle: Handle) -> None:
        """Move the pointer ``name`` (an asset, with its partition) to ``handle``, atomically."""
        _check_name(name, "pointer name")
        storage.atomic_write_bytes(self._pointer_url(name), handle.to_json(), **self.storage_options)

    def pointer(self, name: str) -> Handle | None:
        """The handle a pointer names, or None when it was never set."""
        _check_name(name, "pointer name")
        return _read_handle(self._pointer_url(name), self.storage_options)

    def pointers(self) -> dict[str, Handle]:
        """Every pointer, by name."""
        return dict(self._json_files(storage.join(self.root, LATEST)))

    def _pointer_url(self, name: str) -> str:
        return storage.join(self.root, LATEST, f"{name}.json")

    # ------------------------------------------------------------------------------------------- leases
    def lease(self, holder: str, name: str, handle: Handle, role: str) -> None:
        """Record that ``holder`` (a run id) wrote or read ``handle`` under ``name``."""
        _check_name(holder, "lease holder")
        _check_name(name, "lease name")
        document = {"handle": json.loads(handle.to_json()), "role": role, "created": time.time()}
        url = storage.join(self.root, LEASES, holder, f"{name}.json")
        storage.atomic_write_bytes(url, storage.json_bytes(document), **self.storage_options)

    def leased(self, holder: str, name: str, role: str | None = None) -> Handle | None:
        """The handle ``holder`` leased under ``name`` (with that ``role``), or None."""
        url = storage.join(self.root, LEASES, holder, f"{name}.json")
        document = _read_json(url, self.storage_options)
        if document is None or (role is not None and document["role"] != role):
            return None
        return Handle(**document["handle"])

    def leases(self) -> list[Lease]:
        """Every lease in the store."""
        base = storage.join(self.root, LEASES)
        out = []
        for rel, document in self._json_documents(base):
            holder, _, name = rel.partition("/")
            out.append(Lease(holder, name, Handle(**document["handle"]), document["role"], document["created"]))
        return sorted(out, key=lambda lease: (lease.holder, lease.name))

    def _json_documents(self, base: str) -> Iterator[tuple[str, Any]]:
        fs, base_path = storage.url_to_fs(base, **self.storage_options)
        prefix = base_path.rstrip("/") + "/"
        for path in sorted(_listing(fs, base_path)):
            if path.endswith(".json") and not path.rsplit("/", 1)[-1].startswith("."):
                rel = path[len(prefix) :][: -len(".json")]
                data = storage.retried(fs, lambda path=path: fs.cat_file(path), f"reading {path}")
                yield rel, json.loads(data)

    def _json_files(self, base: str) -> Iterator[tuple[str, Handle]]:
        for rel, document in self._json_documents(base):
            yield rel, Handle(**document)

    # ------------------------------------------------------------------------------------------ scratch
    def run_url(self, run_id: str, *parts: str) -> str:
        """Where run ``run_id`` keeps its scratch (``parts`` below it); removed by retention once the run ended."""
        _check_name(run_id, "run id")
        return storage.join(self.root, RUNS, run_id, *parts)

    def run_scratch(self) -> dict[str, float]:
        """The run ids that have scratch, with the newest modification time of what each holds."""
        fs, base_path = storage.url_to_fs(storage.join(self.root, RUNS), **self.storage_options)
        prefix = base_path.rstrip("/") + "/"
        newest: dict[str, float] = {}
        for path, info in _listing(fs, base_path).items():
            run_id = path[len(prefix) :].split("/", 1)[0]
            if run_id:
                newest[run_id] = max(newest.get(run_id, 0.0), _mtime(info))
        return newest

    # ---------------------------------------------------------------------------------------- retention
    def plan_retention(
        self,
        keep: int = 2,
        min_age_s: float = 3600.0,
        active_holders: Collection[str] | None = None,
        lease_ttl_s: float = 7 * 86400.0,
        now: float | None = None,
    ) -> RetentionPlan:
        """Choose the versions a retention rule removes.

        Parameters
        ----------
        keep
            How many of the newest complete versions of each slot always stay.
        min_age_s
            Versions modified less than this many seconds ago stay.
        active_holders
            The run ids that may still use what they leased (e.g. Dagster's runs in progress). When None, every
            lease younger than ``lease_ttl_s`` protects its version.
        lease_ttl_s
            Age after which a lease no longer protects anything when ``active_holders`` is None.
        now
            The current time (seconds since the epoch); for tests.

        Returns
        -------
        RetentionPlan
        """
        if keep < 0 or min_age_s < 0:
            raise ValueError("keep and min_age_s must be ≥ 0")
        now = time.time() if now is None else now
        pointed = {(h.slot, h.version) for h in self.pointers().values()}
        leases = self.leases()
        live = [
            lease
            for lease in leases
            if (lease.holder in active_holders if active_holders is not None else now - lease.created < lease_ttl_s)
        ]
        leased = {(lease.handle.slot, lease.handle.version) for lease in live}
        stale = tuple(sorted({lease.holder for lease in leases} - {lease.holder for lease in live}))
        remove, kept = [], []
        by_slot: dict[str, list[VersionInfo]] = {}
        for v in self.versions():
            by_slot.setdefault(v.slot, []).append(v)
        for slot_versions in by_slot.values():
            complete = [v for v in slot_versions if v.complete]
            newest = {v.version for v in sorted(complete, key=lambda v: v.modified)[-keep:]} if keep else set()
            for v in slot_versions:
                reason = _kept_because(v, pointed, leased, newest, now - v.modified < min_age_s)
                if reason:
                    kept.append((v, reason))
                else:
                    remove.append(v)
        temporaries = tuple(url for url, modified in self.temporaries() if now - modified >= min_age_s)
        scratch = tuple(
            self.run_url(run_id)
            for run_id, modified in sorted(self.run_scratch().items())
            if now - modified >= min_age_s
            and (run_id not in active_holders if active_holders is not None else now - modified >= lease_ttl_s)
        )
        return RetentionPlan(tuple(remove), tuple(kept), stale, temporaries, scratch)

    def apply_retention(self, plan: RetentionPlan) -> None:
        """Remove what :meth:`plan_retention` chose: versions, the leases and scratch of runs that ended and stale
        temporaries."""
        self.remove(plan.remove)
        for url in (*plan.temporaries, *plan.run_scratch):
            self._remove_tree(url)
        for holder in plan.stale_leases:
            self._remove_tree(storage.join(self.root, LEASES, holder))


def _kept_because(
    v: VersionInfo, pointed: set[tuple[str, str]], leased: set[tuple[str, str]], newest: set[str], young: bool
) -> str | None:
    key = (v.slot, v.version)
    if key in pointed:
        return "pointer"
    if key in leased:
        return "lease"
    if not v.complete:
        return "incomplete"
    if v.version in newest:
        return "newest"
    if young:
        return "young"
    return None


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name) or ".." in name.split("/"):
        raise ValueError(f"invalid {what} {name!r}: letters, digits and _ . = + - separated by /")


def _read_json(url: str, storage_options: Mapping[str, Any]) -> Any:
    try:
        return json.loads(storage.read_bytes(url, **storage_options))
    except FileNotFoundError:
        return None


def _listing(fs: Any, base_path: str, withdirs: bool = False) -> dict[str, Any]:
    """Every file (and folder, ``withdirs``) under ``base_path`` with its fsspec details; empty when it does not
    exist. Retried on a remote store."""

    def listing() -> dict[str, Any]:
        return fs.find(base_path, withdirs=withdirs, detail=True) if fs.exists(base_path) else {}

    return storage.retried(fs, listing, f"listing {base_path}")


def _read_handle(url: str, storage_options: Mapping[str, Any]) -> Handle | None:
    document = _read_json(url, storage_options)
    return None if document is None else Handle(**document)


def _mtime(info: Mapping[str, Any]) -> float:
    """Modification time (seconds since the epoch) of an fsspec ``info`` entry, local or S3."""
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)
    return time.time()
