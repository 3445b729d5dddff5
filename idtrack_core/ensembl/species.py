"""Species names: ``human``, ``Homo sapiens``, ``9606`` or ``hsapiens`` → the production name ``homo_sapiens``.

Names come from the source's own list: the ``species.*`` meta rows (production name, aliases, common, display and
scientific names, taxonomy ID, URL name) of each species' newest core database there. A production name the
source has is taken as is, without reading any meta table. An unknown name is refused with the closest names.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from idtrack_core.ensembl.sources import EnsemblSource, unknown_species_error
from idtrack_core.errors import UnknownSpeciesError

if TYPE_CHECKING:
    import pandas as pd

NAME_KEYS = (
    "species.production_name",
    "species.db_name",
    "species.alias",
    "species.common_name",
    "species.display_name",
    "species.scientific_name",
    "species.taxonomy_id",
    "species.url",
)


def normalize(name: str) -> str:
    """Lower case, spaces and hyphens as underscores: ``Homo sapiens`` → ``homo_sapiens``."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class SpeciesCatalog:
    """Every name of every species at a source: normalized name → production names."""

    names: dict[str, tuple[str, ...]]

    @classmethod
    def from_meta(cls, meta: pd.DataFrame) -> SpeciesCatalog:
        """From ``production_name, meta_key, meta_value`` rows (see ``EnsemblSource.species_meta``)."""
        rows = meta[meta["meta_key"].isin(NAME_KEYS)]
        names: dict[str, set[str]] = {}
        pairs = [(p, p) for p in meta["production_name"]]
        pairs += list(zip(rows["production_name"], rows["meta_value"], strict=True))
        for production, value in pairs:
            names.setdefault(normalize(str(value)), set()).add(str(production))
        return cls({n: tuple(sorted(p)) for n, p in sorted(names.items())})

    def lookup(self, name: str, where: str = "the source") -> str | None:
        """The production name ``name`` stands for, or None when no species has that name.

        Raises
        ------
        UnknownSpeciesError
            Several species have that name.
        """
        found = self.names.get(normalize(name))
        if found and len(found) > 1:
            raise UnknownSpeciesError(f"species name {name!r} is ambiguous at {where}: {', '.join(found)}")
        return found[0] if found else None

    def closest(self, name: str) -> str:
        """The names closest to ``name`` with the production names they stand for (``human (homo_sapiens)``)."""
        close = difflib.get_close_matches(normalize(name), list(self.names), n=5, cutoff=0.6)
        return ", ".join(f"{c} ({'/'.join(self.names[c])})" for c in close)


def resolve_species(source: EnsemblSource, name: str) -> str:
    """The production name of ``name`` at ``source`` (see module docstring).

    Parameters
    ----------
    source
        An Ensembl source.
    name
        A production name, alias, common, display or scientific name, or taxonomy ID.

    Returns
    -------
    str
        The production name (``homo_sapiens``).

    Raises
    ------
    UnknownSpeciesError
        The source has no species of that name (with the closest names).
    """
    wanted = normalize(name)
    production_like = re.fullmatch(r"[a-z][a-z0-9_]*", wanted) is not None
    if production_like and any(db.species == wanted for db in source.list_databases(wanted)):
        return wanted
    catalog = SpeciesCatalog.from_meta(source.species_meta())
    found = catalog.lookup(name, source.url)
    if found is not None:
        return found
    base = str(unknown_species_error(source, wanted, None)) if production_like else f"no species called {name!r}"
    hint = catalog.closest(name)
    raise UnknownSpeciesError(base + (f"; closest names: {hint}" if hint else ""))
