"""Pandera contract of a study matching table (DESIGN §6)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class StudyMatchingTable(pa.DataFrameModel):
    """One row per study feature; 1:0 rows (and only they) carry a reason."""

    feature: Series[str] = pa.Field(unique=True)
    category: Series[str] = pa.Field(isin=["1:1", "1:n", "1:0"])
    target_ids: Series[str] = pa.Field(nullable=True)
    ensembl_genes: Series[str] = pa.Field(nullable=True)
    reason: Series[str] = pa.Field(nullable=True, isin=["no_corresponding", "no_conversion"])
    fallback: Series[bool]
    n_genes: Series[int] = pa.Field(ge=0)
    collision: Series[bool]

    @pa.dataframe_check(error="a reason is given exactly for the 1:0 rows")
    def reason_iff_failed(cls, df: pd.DataFrame) -> pd.Series:
        return (df["category"] == "1:0") == df["reason"].notna()

    @pa.dataframe_check(error="1:1 rows name one target, 1:n rows several")
    def targets_match_category(cls, df: pd.DataFrame) -> pd.Series:
        n = df["target_ids"].fillna("").map(lambda t: 0 if not t else t.count(";") + 1)
        expected = df["category"].map({"1:0": 0, "1:1": 1}).fillna(2)
        return (n == expected) | ((df["category"] == "1:n") & (n > 1))

    class Config:
        strict = False
        coerce = False


def matching_failures(df: pd.DataFrame) -> pd.DataFrame | None:
    """Validate a matching table lazily; the failure cases, or None when it conforms."""
    try:
        StudyMatchingTable.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None
