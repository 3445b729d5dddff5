"""Pandera contracts of the release extract tables (DESIGN §3)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from idtrack_core.ensembl.regions import REGION_CLASSES
from idtrack_core.errors import ExtractValidationError

OBJECT_TYPES = ["gene", "transcript", "translation"]


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False
        ordered = True


class GenesTable(_Strict):
    stable_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    biotype: Series[pd.StringDtype] = pa.Field(nullable=True)
    seq_region: Series[pd.StringDtype] = pa.Field(nullable=True)
    seq_region_start: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    seq_region_end: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    seq_region_strand: Series[pd.Int64Dtype] = pa.Field(nullable=True, isin=[-1, 1])
    region_class: Series[pd.StringDtype] = pa.Field(nullable=True, isin=list(REGION_CLASSES))

    class Config:
        unique = ["stable_id", "version"]


class TranscriptsTable(_Strict):
    stable_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    gene_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    biotype: Series[pd.StringDtype] = pa.Field(nullable=True)
    seq_region: Series[pd.StringDtype] = pa.Field(nullable=True)
    seq_region_start: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    seq_region_end: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    seq_region_strand: Series[pd.Int64Dtype] = pa.Field(nullable=True, isin=[-1, 1])
    region_class: Series[pd.StringDtype] = pa.Field(nullable=True, isin=list(REGION_CLASSES))


class TranslationsTable(_Strict):
    stable_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    transcript_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)


class XrefsTable(_Strict):
    ensembl_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    object_type: Series[pd.StringDtype] = pa.Field(isin=OBJECT_TYPES)
    xref_id: Series[pd.Int64Dtype] = pa.Field(ge=0)
    db_name: Series[pd.StringDtype]
    db_display_name: Series[pd.StringDtype]
    primary_accession: Series[pd.StringDtype]
    display_label: Series[pd.StringDtype]


class SynonymsTable(_Strict):
    xref_id: Series[pd.Int64Dtype] = pa.Field(ge=0)
    db_name: Series[pd.StringDtype]
    primary_accession: Series[pd.StringDtype]
    display_label: Series[pd.StringDtype]
    synonym: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})


class HistoryTable(_Strict):
    type: Series[pd.StringDtype] = pa.Field(isin=[*OBJECT_TYPES, "rnaproduct"])
    old_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    old_version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    new_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    new_version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    score: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    mapping_session_id: Series[pd.Int64Dtype]
    old_release: Series[pd.StringDtype] = pa.Field(nullable=True)
    new_release: Series[pd.StringDtype] = pa.Field(nullable=True)

    @pa.dataframe_check(error="a history row has neither an old nor a new stable id")
    def one_side_known(cls, df: pd.DataFrame) -> pd.Series:
        return df["old_stable_id"].notna() | df["new_stable_id"].notna()

    class Config:
        unique = [
            "type",
            "old_stable_id",
            "old_version",
            "new_stable_id",
            "new_version",
            "mapping_session_id",
            "score",
        ]


class SessionsTable(_Strict):
    """``mapping_session``: the releases, databases and assemblies each history session connects."""

    mapping_session_id: Series[pd.Int64Dtype] = pa.Field(unique=True)
    old_db_name: Series[pd.StringDtype] = pa.Field(nullable=True)
    new_db_name: Series[pd.StringDtype] = pa.Field(nullable=True)
    old_release: Series[pd.StringDtype] = pa.Field(nullable=True)
    new_release: Series[pd.StringDtype] = pa.Field(nullable=True)
    old_assembly: Series[pd.StringDtype] = pa.Field(nullable=True)
    new_assembly: Series[pd.StringDtype] = pa.Field(nullable=True)
    created: Series[pd.StringDtype] = pa.Field(nullable=True)


class GeneArchiveTable(_Strict):
    """``gene_archive``: the transcripts and translations of archived gene versions (per mapping session)."""

    gene_stable_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    gene_version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    transcript_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    transcript_version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    translation_stable_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    translation_version: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    peptide_archive_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    mapping_session_id: Series[pd.Int64Dtype]


class PeptideArchiveTable(_Strict):
    """``peptide_archive``: sequences of archived translations."""

    peptide_archive_id: Series[pd.Int64Dtype] = pa.Field(unique=True)
    md5_checksum: Series[pd.StringDtype] = pa.Field(nullable=True)
    peptide_seq: Series[pd.StringDtype] = pa.Field(nullable=True)


EXTRACT_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "genes": GenesTable,
    "transcripts": TranscriptsTable,
    "translations": TranslationsTable,
    "xrefs": XrefsTable,
    "synonyms": SynonymsTable,
    "history": HistoryTable,
    "sessions": SessionsTable,
    "gene_archive": GeneArchiveTable,
    "peptide_archive": PeptideArchiveTable,
}


def conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Select and order the columns of extract table ``name`` and cast them to the model's dtypes."""
    columns = EXTRACT_SCHEMAS[name].to_schema().columns
    return pd.DataFrame({c: df[c].astype(str(col.dtype)) for c, col in columns.items()}, index=df.index)


def validate_extract_table(name: str, df: pd.DataFrame, where: str) -> None:
    """Validate one extract table against its model; raise ExtractValidationError with the failures."""
    try:
        EXTRACT_SCHEMAS[name].validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(10).to_string(index=False)
        raise ExtractValidationError(f"{where}: table {name!r} fails its schema:\n{cases}") from exc
