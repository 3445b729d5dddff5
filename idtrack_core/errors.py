"""Exception classes. Each names the file, table, line or identifier that caused it."""

from __future__ import annotations


class IdtrackError(Exception):
    """Base class of every error raised on purpose by idtrack_core."""


class SourceError(IdtrackError):
    """An Ensembl source cannot be read (missing, unreachable, malformed)."""


class SourceUnreachableError(SourceError):
    """A server or URL did not answer after the bounded retries."""


class UnknownReleaseError(SourceError):
    """The requested release does not exist at the source for that species and assembly."""


class UnknownSpeciesError(SourceError):
    """No core database of that species (and assembly) exists at the source."""


class InvalidNameError(IdtrackError, ValueError):
    """A species, assembly or other name given by the user is not well-formed (and is never sent anywhere)."""


class SourceNotFoundError(SourceError):
    """The source itself (a dump root folder or URL) does not exist."""


class EmptyTableError(SourceError):
    """A table that every core database fills (gene, xref, stable_id_event when there are mapping sessions) is
    empty: the dump is truncated or the database incomplete."""


class MissingTableError(SourceError):
    """A table the extract needs is absent from the source database."""


class DumpFormatError(SourceError):
    """A dump file is malformed; the message names the file and line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class ExtractValidationError(IdtrackError):
    """A normalized extract table failed its schema."""


class SnapshotError(IdtrackError):
    """A graph snapshot or resolution index is missing, stale or malformed."""


class ConversionInputError(IdtrackError):
    """A conversion request is invalid (unknown release or database, bad input)."""


class StudyInputError(IdtrackError):
    """A study file cannot be harmonized (not h5ad, bad var, unreadable)."""


class OutputWriteError(IdtrackError, OSError):
    """An output (file, folder, home) cannot be written: no space, read-only file system, permission denied.

    The message names the path and, where known, the free space seen; nothing half-written is left behind.
    """


class QualityGateError(IdtrackError):
    """A study fails its quality gates and may not enter an atlas (the message names the study and the gate)."""


class StalePlanError(IdtrackError):
    """A plan no longer matches its studies (a matching or a file changed, or now fails a gate): re-plan first."""
