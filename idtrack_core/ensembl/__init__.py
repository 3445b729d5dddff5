"""Ensembl sources (dump folders, MySQL servers) and their normalization into release extracts."""

from idtrack_core.ensembl.databases import CoreDatabase
from idtrack_core.ensembl.extract import ReleaseExtract, extract_release, read_extract, write_extract
from idtrack_core.ensembl.sources import (
    DumpSource,
    EnsemblSource,
    MySQLSource,
    databases_of,
    find_database,
    latest_release,
    open_source,
)

__all__ = [
    "CoreDatabase",
    "DumpSource",
    "EnsemblSource",
    "MySQLSource",
    "ReleaseExtract",
    "databases_of",
    "extract_release",
    "find_database",
    "latest_release",
    "open_source",
    "read_extract",
    "write_extract",
]
