"""Conversion of gene names across releases and databases (DESIGN §5).

``convert(snapshot, ids, to_release, final_database)`` answers a few names directly from a snapshot; a
:class:`ResolutionIndex` precomputes every name for batch conversion. Result columns: ``RESULT_COLUMNS``
(``target_ids`` and ``ensembl_genes`` are sorted and ``;``-joined; ``category`` is ``1:1``, ``1:n`` or ``1:0``;
``reason`` is ``no_corresponding`` or ``no_conversion`` for 1:0; ``fallback`` marks Ensembl gene IDs returned
for genes without a name in the final database; ``match``/``matched_node`` say how the name was found;
``path_length``/``min_score``/``bridge``/``bridge_via`` are the evidence).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from idtrack_core.convert.answers import RESULT_COLUMNS
from idtrack_core.convert.index import ResolutionIndex
from idtrack_core.convert.target import ConversionTarget, Strategy

if TYPE_CHECKING:
    import pandas as pd

    from idtrack_core.convert.resolve import Resolver
    from idtrack_core.graph.model import Snapshot


def convert(
    snapshot: Snapshot,
    ids: Iterable[str],
    to_release: int,
    final_database: str = "ensembl_gene",
    from_release: int | None = None,
    strategy: Strategy = "best",
    source_databases: tuple[str, ...] | None = None,
    keep_non_primary: bool = False,
    to_assembly: str | None = None,
    from_assembly: str | None = None,
) -> pd.DataFrame:
    """Convert ``ids`` (one result row each, in order) to ``final_database`` at ``to_release``.

    Genes on patches, haplotypes, LRGs and other non-reference regions answer only where no primary-assembly gene
    does, unless ``keep_non_primary``. In a snapshot combining assemblies, ``to_assembly`` and ``from_assembly``
    say which one ``to_release`` and ``from_release`` refer to (default: the primary one).
    """
    from idtrack_core.convert.resolve import Resolver

    target = ConversionTarget(
        to_release,
        final_database,
        from_release,
        strategy,
        "label",
        source_databases,
        keep_non_primary,
        to_assembly,
        from_assembly,
    )
    return Resolver(snapshot, target).resolve(ids)


def __getattr__(name: str) -> Any:
    """``Resolver`` (the graph search) is imported on first use: answering from an index does not need it."""
    if name == "Resolver":
        from idtrack_core.convert.resolve import Resolver

        return Resolver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RESULT_COLUMNS", "ConversionTarget", "ResolutionIndex", "Resolver", "convert"]
