"""IO managers: what one asset hands to the next, so that what an asset reads is what its lineage shows.

- :class:`ParquetIOManager`: tables (study features, matchings) as Parquet under ``{storage}/assets`` (their
  ``attrs`` — file identity, index version — travel with them).
- :class:`HandleIOManager`: versioned artifacts (extracts, snapshot, index, plan, atlases, report) as
  :class:`~idtrack_core.versions.Handle` objects. Storing a handle moves the asset's ``latest`` pointer (atomically,
  after the version is complete) and records a lease for the run; loading one returns the version this run wrote when
  the upstream was materialized in the same run, else the one the pointer names, and leases it for the run so
  retention never removes what a running run uses.

- :class:`StepIOManager` (the default ``io_manager``): what the steps inside a graph-backed asset hand to each other
  (the atlas's plan check, layout and blocks), pickled under ``{storage}/runs/{run_id}/``, so steps on different
  workers share nothing but the storage.

A partitioned upstream loads as one object for the same partition (``study_features[s]`` → ``study_matchings[s]``)
and as a dict partition key → object for an unpartitioned downstream (even with a single partition); a partition
that was never materialized is a clear failure naming it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from idtrack_assets.resources import AtlasStorage
from idtrack_core import storage
from idtrack_core.versions import Handle, VersionedStore


def pointer_name(asset_key: dg.AssetKey, partition: str | None) -> str:
    """The pointer (and lease) name of an asset's partition: ``study_matchings/heart``, ``atlas_union``."""
    return "/".join([*asset_key.path, *([partition] if partition is not None else [])])


def _load(context: dg.InputContext, load_one: Callable[[str | None], Any]) -> Any:
    if not context.has_asset_partitions:
        return load_one(None)
    keys = list(context.asset_partition_keys)
    if context.has_partition_key and len(keys) == 1:
        return load_one(keys[0])
    return {key: load_one(key) for key in sorted(keys)}


def _missing(context: dg.InputContext, partition: str | None) -> dg.Failure:
    asset = context.asset_key.to_user_string()
    where = f" partition {partition!r}" if partition is not None else ""
    return dg.Failure(f"{asset}{where} has not been materialized yet: materialize it first")


class ParquetIOManager(dg.ConfigurableIOManager):
    """DataFrames (index and ``attrs`` included) as ``{storage}/assets/{asset}/{partition}.parquet``, written
    atomically (temp file + rename, or one PUT on S3)."""

    atlas_storage: AtlasStorage

    def _url(self, asset_key: dg.AssetKey, partition: str | None) -> str:
        return self.atlas_storage.url("assets", f"{pointer_name(asset_key, partition or '__all__')}.parquet")

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        partition = context.partition_key if context.has_partition_key else None
        url = self._url(context.asset_key, partition)
        storage.atomic_write_bytes(url, storage.parquet_bytes(obj, True), **self.atlas_storage.storage_options)
        context.add_output_metadata({"path": dg.MetadataValue.path(url)})

    def load_input(self, context: dg.InputContext) -> Any:
        def load_one(partition: str | None) -> pd.DataFrame:
            url = self._url(context.asset_key, partition)
            if not storage.exists(url, **self.atlas_storage.storage_options):
                raise _missing(context, partition)
            return storage.read_parquet_file(url, **self.atlas_storage.storage_options)

        return _load(context, load_one)


class HandleIOManager(dg.ConfigurableIOManager):
    """Handles of versioned artifacts: a ``latest`` pointer per asset (and partition), leases per run."""

    atlas_storage: AtlasStorage

    @property
    def _store(self) -> VersionedStore:
        return self.atlas_storage.store

    def handle_output(self, context: dg.OutputContext, obj: Handle) -> None:
        if not isinstance(obj, Handle):
            raise dg.Failure(f"{context.asset_key.to_user_string()} must return a Handle, not {type(obj).__name__}")
        name = pointer_name(context.asset_key, context.partition_key if context.has_partition_key else None)
        self._store.lease(context.run_id, name, obj, "wrote")
        self._store.point(name, obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(obj.url), "version": obj.version})

    def load_input(self, context: dg.InputContext) -> Any:
        run_id = context.step_context.run_id

        def load_one(partition: str | None) -> Handle:
            name = pointer_name(context.asset_key, partition)
            handle = self._store.leased(run_id, name, "wrote") or self._store.pointer(name)
            if handle is None:
                raise _missing(context, partition)
            self._store.lease(run_id, name, handle, "read")
            return handle

        return _load(context, load_one)


class StepIOManager(dg.ConfigurableIOManager):
    """Values passed between the ops of one run, pickled to ``{storage}/runs/{run_id}/{step}/{output}[/{key}].pkl``
    (written atomically); they are scratch of that run, not versions, removed by ``idtrack-atlas retain`` once the
    run has ended."""

    atlas_storage: AtlasStorage

    def _url(self, identifier: list[str]) -> str:
        run_id, *rest = identifier
        parts = [_safe(part) for part in rest[:-1]]
        return self.atlas_storage.store.run_url(run_id, *parts, f"{_safe(rest[-1])}.pkl")

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        storage.atomic_write_bytes(self._url(context.get_identifier()), data, **self.atlas_storage.storage_options)

    def load_input(self, context: dg.InputContext) -> Any:
        url = self._url(context.upstream_output.get_identifier())
        return pickle.loads(storage.read_bytes(url, **self.atlas_storage.storage_options))


def _safe(part: str) -> str:
    """A step key such as ``atlas_union_block[001_heart]`` as one path segment."""
    return part.replace("[", "=").replace("]", "")
