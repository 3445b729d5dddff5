"""Numeric feature names: refused unless the user says which database they come from.

A study whose ``var_names`` are all numbers is ambiguous at best: NCBI Gene IDs are numbers, but so are the row
numbers ``"0".."n-1"`` left behind when a var index was reset, and any number may also be an accession of another
database. Such a study is refused with a hint, unless an *ID namespace* is given (``--id-namespace entrez`` on the
command line, ``id_namespace="entrez"`` in the library). With a namespace, a feature counts as matched only when the
match went through that database; any other match is reported as ``1:0`` (``no_corresponding``).

A namespace is the display name of an external database as matchings report it (``"NCBI gene (formerly
Entrezgene)"``, ``"HGNC Symbol"``), or an alias of :data:`NAMESPACE_ALIASES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from idtrack_core.errors import StudyInputError

#: short names accepted for ``id_namespace`` → the database display names they stand for
NAMESPACE_ALIASES = {"entrez": ("NCBI gene (formerly Entrezgene)", "NCBI gene", "EntrezGene")}
_NUMBER = re.compile(r"^\s*\d+\s*$")
_NO_NAME = "\x00idtrack: no such name"  # a query no database holds: gives the "not found" row of a lookup
_SHOW = 5


def numeric_kind(names: Sequence[str]) -> str | None:
    """``"row numbers"`` when the names are ``0..n-1`` or ``1..n`` in order, ``"numbers"`` when they are all
    numbers, else None."""
    if not len(names) or not all(_NUMBER.match(str(n)) for n in names):
        return None
    values = [int(n) for n in names]
    if values in (list(range(len(values))), list(range(1, len(values) + 1))):
        return "row numbers"
    return "numbers"


def check_feature_names(names: Sequence[str], shown: str, id_namespace: str | None = None) -> None:
    """Refuse all-numeric feature names unless ``id_namespace`` says what they are.

    Parameters
    ----------
    names
        The study's var names.
    shown
        The study (name or URL) for the message.
    id_namespace
        The database the names come from, or None.

    Raises
    ------
    StudyInputError
        The names are all numbers (or row numbers) and no namespace is given; the message says how to fix it.
    """
    kind = numeric_kind(names)
    if kind is None or id_namespace:
        return
    first = ", ".join(repr(str(n)) for n in list(names)[:_SHOW])
    hint = (
        "the var index looks reset (were the gene names moved to a var column? set them back with "
        "adata.var_names = adata.var['<column>'])"
        if kind == "row numbers"
        else "numbers are ambiguous"
    )
    raise StudyInputError(
        f"{shown}: all {len(names)} var names are {kind} ({first}, …): {hint}; if they are NCBI Gene IDs, "
        "say so with --id-namespace entrez (id_namespace='entrez' in the library, id_namespace: entrez in a "
        "study registry entry)"
    )


def namespace_databases(id_namespace: str) -> tuple[str, ...]:
    """The database display names an ``id_namespace`` stands for."""
    return NAMESPACE_ALIASES.get(id_namespace.strip().lower(), (id_namespace.strip(),))


def restrict_to_namespace(result: pd.DataFrame, id_namespace: str, not_found: pd.DataFrame) -> pd.DataFrame:
    """A lookup result where rows not matched through ``id_namespace`` become the ``not_found`` row.

    Parameters
    ----------
    result
        A lookup result (one row per query, ``matched_node`` as ``"<database>/<name>;…"``).
    id_namespace
        See :func:`namespace_databases`.
    not_found
        The one-row lookup result of a name nobody knows (its values replace those of the rows left out).
    """
    prefixes = tuple(f"{db}/" for db in namespace_databases(id_namespace))
    nodes = result["matched_node"].astype(object)
    inside = nodes.map(lambda node: isinstance(node, str) and any(p.startswith(prefixes) for p in node.split(";")))
    if bool(inside.all()):
        return result
    out = result.copy()
    outside = ~inside.to_numpy(dtype=bool)
    for col in out.columns:
        if col == "query_id":
            continue
        values = out[col].astype(object).to_numpy(copy=True)
        values[outside] = not_found[col].iloc[0]
        series = pd.Series(values, index=out.index)
        dtype = result[col].dtype
        out[col] = series.astype("category") if isinstance(dtype, pd.CategoricalDtype) else series.astype(dtype)
    return out


def namespaced_lookup(
    lookup: Callable[[list[str]], pd.DataFrame], id_namespace: str
) -> Callable[[list[str]], pd.DataFrame]:
    """``lookup`` whose answers count only matches through ``id_namespace`` (see :func:`restrict_to_namespace`)."""
    not_found = lookup([_NO_NAME])

    def restricted(queries: list[str]) -> pd.DataFrame:
        return restrict_to_namespace(lookup(queries), id_namespace, not_found)

    return restricted
