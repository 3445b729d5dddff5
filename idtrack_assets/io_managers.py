"""Parquet IO manager over UPath (local folders and ``s3://``), with atomic writes."""

import dagster as dg
import pandas as pd
from upath import UPath

from idtrack_assets.resources import AtlasStorage
from idtrack_core import storage


class ParquetUPathIOManager(dg.UPathIOManager):
    """Stores DataFrames (index included) as Parquet; a write is a temp file + rename, or one PUT on S3."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        storage.atomic_write_bytes(str(path), storage.parquet_bytes(obj, True), **path.storage_options)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        return storage.read_parquet_file(str(path), **path.storage_options)


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Parquet files under ``{storage root}/assets``."""

    atlas_storage: dg.ResourceDependency[AtlasStorage]

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetUPathIOManager:
        return ParquetUPathIOManager(
            base_path=UPath(self.atlas_storage.url("assets"), **self.atlas_storage.storage_options)
        )
