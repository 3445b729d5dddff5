"""Small helpers shared by the asset modules: outputs and metadata for the UI, refusals as failures."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pandas as pd

from idtrack_core.errors import QualityGateError, StalePlanError, StudyInputError
from idtrack_core.versions import Handle

# Data versions of outputs are what makes staleness in the UI true; Dagster 1.13 still calls the parameter beta.
warnings.filterwarnings("ignore", message=r"Parameter `data_version` .* is currently in beta", category=dg.BetaWarning)


def preview(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """A Markdown table of the first rows, for the UI."""
    return dg.MetadataValue.md(df.head(rows).to_markdown())


def versioned(handle: Handle, metadata: dict) -> dg.Output[Handle]:
    """The output of a versioned asset: its handle, with the version as Dagster's data version."""
    return dg.Output(handle, data_version=dg.DataVersion(handle.version), metadata=metadata)


@contextmanager
def refused_as_failure() -> Iterator[None]:
    """Turn a refusal of the library (a study failing its gates, a stale plan, a study file it cannot use) into a
    Dagster failure whose description is the library's message (which names the study and the check)."""
    try:
        yield
    except (QualityGateError, StalePlanError, StudyInputError) as exc:
        raise dg.Failure(description=str(exc)) from exc
