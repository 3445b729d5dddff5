"""What a conversion aims at: :class:`ConversionTarget` (target release, final database, strategy)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from idtrack_core.convert.name_kinds import ENSEMBL_SOURCE
from idtrack_core.errors import ConversionInputError, UnknownReleaseError

if TYPE_CHECKING:
    from idtrack_core.graph.model import Snapshot

ENSEMBL_DATABASES = {
    "ensembl_gene": "gene",
    "ensembl_transcript": "transcript",
    "ensembl_translation": "translation",
}
Strategy = Literal["best", "all"]
TargetField = Literal["label", "accession"]


@dataclass(frozen=True)
class ConversionTarget:
    """What to convert to: a snapshot release and a final database (``ensembl_gene`` or an external
    database's display name such as ``HGNC Symbol``), from an optional release, with a strategy.

    ``to_release`` may be ``"latest"`` until :meth:`resolved` turns it into the newest release available — the one
    place where "latest" becomes a number.
    """

    to_release: int | Literal["latest"]
    final_database: str = "ensembl_gene"
    from_release: int | None = None
    strategy: Strategy = "best"
    target_field: TargetField = "label"
    source_databases: tuple[str, ...] | None = None
    keep_non_primary: bool = False
    """Keep genes on patches, haplotypes, LRGs and other non-reference regions beside primary-assembly genes
    (by default a non-primary gene is an answer only where no primary gene answers)."""
    to_assembly: str | None = None
    """The target's assembly in a snapshot combining several (default: its primary assembly)."""
    from_assembly: str | None = None
    """The assembly ``from_release`` refers to in a snapshot combining several (default: its primary)."""

    def resolved(self, releases: Sequence[int]) -> ConversionTarget:
        """This target with ``to_release`` a release of ``releases`` (``"latest"`` → the newest one).

        Raises
        ------
        UnknownReleaseError
            ``to_release`` is not among ``releases`` (the message lists them).
        """
        available = sorted(int(r) for r in releases)
        if not available:
            raise UnknownReleaseError("no releases to convert to")
        if self.to_release == "latest":
            return replace(self, to_release=available[-1])
        if self.to_release not in available:
            listed = ", ".join(str(r) for r in available)
            raise UnknownReleaseError(f"to_release {self.to_release} is not a release of the snapshot ({listed})")
        return self

    def validated(self, snap: Snapshot) -> ConversionTarget:
        """Check against ``snap`` (resolving ``"latest"``); normalize the final database to its display name."""
        target = self.resolved(snap.release_list)
        if target.strategy not in ("best", "all"):
            raise ConversionInputError(f"strategy must be 'best' or 'all', not {target.strategy!r}")
        if target.target_field not in ("label", "accession"):
            raise ConversionInputError(f"target_field must be 'label' or 'accession', not {target.target_field!r}")
        db = target.final_database
        if db not in ENSEMBL_DATABASES:
            known = snap.database_names
            if db not in known:
                choices = sorted({*ENSEMBL_DATABASES, *set(known.values())})
                raise ConversionInputError(f"unknown final database {db!r}; known: {', '.join(choices)}")
            db = known[db]
        sources = None
        if target.source_databases:
            known = {**snap.database_names, ENSEMBL_SOURCE: ENSEMBL_SOURCE}
            unknown = [s for s in target.source_databases if s not in known]
            if unknown:
                raise ConversionInputError(f"unknown source database(s) {unknown}")
            sources = tuple(sorted({known[s] for s in target.source_databases}))
        return replace(target, final_database=db, source_databases=sources)

    @property
    def key(self) -> str:
        """A file-name-safe identity of this target."""
        db = re.sub(r"[^A-Za-z0-9]+", "_", self.final_database).strip("_")
        src = (
            "all"
            if not self.source_databases
            else "+".join(re.sub(r"[^A-Za-z0-9]+", "_", s) for s in self.source_databases)
        )
        frm = "any" if self.from_release is None else str(self.from_release)
        keep = "_keepnonprimary" if self.keep_non_primary else ""
        assemblies = "".join(
            f"_{side}{re.sub(r'[^A-Za-z0-9]+', '_', a)}"
            for side, a in (("toasm", self.to_assembly), ("fromasm", self.from_assembly))
            if a
        )
        return f"to{self.to_release}_{db}_from{frm}_{self.strategy}_{self.target_field}_{src}{keep}{assemblies}"
