"""Pandera schemas of the release extract tables (DESIGN §3), built from :mod:`.contracts`.

Extraction enforces the contracts with Arrow (:func:`idtrack_core.ensembl.contracts.check_table`, no Pandera import);
these schemas state the same contracts for pandas DataFrames (the platform's asset checks, reports).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from idtrack_core.ensembl.contracts import CONTRACTS, PANDAS_DTYPES, Col, TableContract
from idtrack_core.errors import ExtractValidationError

__all__ = ["EXTRACT_SCHEMAS", "validate_extract_table"]


def _checks(col: Col) -> list[pa.Check]:
    checks = []
    if col.ge is not None:
        checks.append(pa.Check.ge(col.ge))
    if col.isin is not None:
        checks.append(pa.Check.isin(list(col.isin)))
    if col.min_length is not None:
        checks.append(pa.Check.str_length(min_value=col.min_length))
    return checks


def _any_known(columns: tuple[str, ...], error: str) -> pa.Check:
    def known(df: pd.DataFrame) -> pd.Series:
        out = df[columns[0]].notna()
        for c in columns[1:]:
            out |= df[c].notna()
        return out

    return pa.Check(known, error=error)


def _schema(contract: TableContract) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(PANDAS_DTYPES[c.type], _checks(c), nullable=c.nullable, unique=c.unique)
            for c in contract.columns
        },
        checks=[_any_known(contract.any_known, contract.any_known_error)] if contract.any_known else None,
        unique=list(contract.unique) or None,
        strict=True,
        ordered=True,
        coerce=False,
        name=contract.name,
    )


EXTRACT_SCHEMAS: dict[str, pa.DataFrameSchema] = {name: _schema(c) for name, c in CONTRACTS.items()}


def validate_extract_table(name: str, df: pd.DataFrame, where: str) -> None:
    """Validate one extract table (pandas) against its schema; raise ExtractValidationError with the failures."""
    try:
        EXTRACT_SCHEMAS[name].validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(10).to_string(index=False)
        raise ExtractValidationError(f"{where}: table {name!r} fails its schema:\n{cases}") from exc
