"""Parquet IO manager over UPath (local folders and ``s3://``), with atomic writes."""

import io
import os
import uuid

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from idtrack_assets.resources import AtlasStorage


class ParquetUPathIOManager(dg.UPathIOManager):
    """Stores DataFrames (index included) as Parquet; a write is a temp file + rename, or one PUT on S3."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(obj, preserve_index=True), buf, compression="zstd")
        data = buf.getvalue()
        if path.protocol in ("", "file", "local"):
            local = str(path.path)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            tmp = f"{local}.tmp-{uuid.uuid4().hex}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, local)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as f:
            return pq.read_table(f).to_pandas()


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Parquet files under ``{storage root}/assets``."""

    atlas_storage: dg.ResourceDependency[AtlasStorage]

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetUPathIOManager:
        return ParquetUPathIOManager(
            base_path=UPath(self.atlas_storage.url("assets"), **self.atlas_storage.storage_options)
        )
