"""Small helpers shared by the asset modules (metadata rendering, finding upstream outputs)."""

import dagster as dg
import pandas as pd


def preview(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """A Markdown table of the first rows, for the UI."""
    return dg.MetadataValue.md(df.head(rows).to_markdown())


def latest_path(context: dg.AssetExecutionContext, asset: str) -> str:
    """The ``path`` metadata of an asset's latest materialization (what this run reads)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{asset} has not been materialized yet")
    path = event.asset_materialization.metadata.get("path")
    if path is None:
        raise dg.Failure(f"{asset}'s latest materialization records no path")
    return str(path.value)
