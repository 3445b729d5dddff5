"""Names of Ensembl core databases: ``{species}_core_{release}_{assembly}``."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from idtrack_core.errors import InvalidNameError

_SPECIES_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ANY_CORE_DB = re.compile(r"^(?P<species>[a-z][a-z0-9_]*?)_core_(?P<release>\d+)_(?P<assembly>[A-Za-z0-9]+)$")


@dataclass(frozen=True, order=True)
class CoreDatabase:
    """One core database of one species at one release.

    ``location`` is where the source finds it (a folder URL for dumps, the database name for MySQL).
    """

    species: str
    release: int
    assembly: str
    name: str
    location: str


@dataclass(frozen=True)
class RowFilter:
    """Which rows of a table to read: those whose integer ``column`` is (or, with ``exclude``, is not) one of
    ``values``. Sources apply it while reading (a ``WHERE`` clause on MySQL, per block of a dump), so rows left
    out are never materialized."""

    column: str
    values: tuple[int, ...]
    exclude: bool = False

    @classmethod
    def of(cls, column: str, values: Collection[int], exclude: bool = False) -> RowFilter:
        """A filter over the distinct ``values`` (sorted, so equal sets give equal filters)."""
        return cls(column, tuple(sorted({int(v) for v in values})), exclude)


def validate_species(species: str) -> str:
    """Return the species production name (``homo_sapiens``).

    Raises
    ------
    InvalidNameError
        (a ``ValueError``) The name holds anything but letters, digits, spaces and ``_``.
    """
    s = species.strip().lower().replace(" ", "_")
    if not _SPECIES_RE.match(s):
        raise InvalidNameError(
            f"invalid species name {species!r}: expected a production name such as 'homo_sapiens' "
            "(lower-case letters, digits and _)"
        )
    return s


def assembly_suffix(assembly: str | None) -> str | None:
    """The database-name suffix of an assembly: ``GRCh38`` → ``38``, ``38`` → ``38``, ``SIM1`` → ``1``."""
    if assembly is None:
        return None
    m = re.search(r"(\d+)$", assembly.strip())
    return m.group(1) if m else assembly.strip().lower()


def core_db_regex(species: str) -> re.Pattern[str]:
    """Regex matching the core database names of ``species``; groups ``release`` and ``assembly``."""
    return re.compile(rf"^{re.escape(species)}_core_(?P<release>\d+)_(?P<assembly>[A-Za-z0-9]+)$")


def parse_core_db_name(name: str, species: str) -> tuple[int, str] | None:
    """``homo_sapiens_core_114_38`` → ``(114, "38")``; None if it is not a core DB of ``species``."""
    m = core_db_regex(species).match(name)
    if not m:
        return None
    return int(m.group("release")), m.group("assembly")


def parse_any_core_db_name(name: str) -> tuple[str, int, str] | None:
    """``homo_sapiens_core_114_38`` → ``("homo_sapiens", 114, "38")``; None if it is not a core database name."""
    m = _ANY_CORE_DB.match(name)
    if not m:
        return None
    return m.group("species"), int(m.group("release")), m.group("assembly")


def assembly_matches(db_assembly: str, wanted: str | None) -> bool:
    """Whether a database's assembly (``38`` or ``GRCh38``) is the wanted one (``None`` = any)."""
    if wanted is None:
        return True
    return db_assembly.lower() == wanted.strip().lower() or assembly_suffix(db_assembly) == assembly_suffix(wanted)


def newest_per_species(dbs: list[CoreDatabase]) -> list[CoreDatabase]:
    """The newest core database of each species, sorted by species."""
    newest: dict[str, CoreDatabase] = {}
    for db in sorted(dbs):
        newest[db.species] = db
    return [newest[s] for s in sorted(newest)]
