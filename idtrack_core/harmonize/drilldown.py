"""Drill-downs: the features behind a study's failure, ambiguity and collision counts, one row each.

Three tables per study, made from its matching table (:func:`~idtrack_core.harmonize.matchings.match_features`):

- ``failed``: the 1:0 features; ``reason`` is the matching's (``no_corresponding``: the name is unknown;
  ``no_conversion``: known, but no path to the target release);
- ``ambiguous``: the 1:n features; ``candidates`` are the Ensembl genes they reach;
- ``collisions``: the features that reach a gene another feature of the study also reaches (n→1); ``candidates``
  are the shared genes and ``reason`` names the other features.

Every table has the columns :data:`DRILLDOWN_COLUMNS`: ``study, feature, reason, candidates`` (``;``-joined Ensembl
genes), ``targets`` (their names in the final database) and ``evidence`` (how the name was matched and converted:
``match``, ``matched_node``, ``path_length``, ``min_score``, ``bridge``, ``bridge_via``), in the study's var order.
The report (``studies/<study>/{failed,ambiguous,collisions}.csv``), the ``harmonize --report DIR`` command, the
report asset's metadata and :class:`idtrack_core.facade.Harmonization` all use these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

DRILLDOWN_COLUMNS = ["study", "feature", "reason", "candidates", "targets", "evidence"]
KINDS = ("failed", "ambiguous", "collisions")
EVIDENCE_COLUMNS = ("match", "matched_node", "path_length", "min_score", "bridge", "bridge_via")


def evidence(matching: pd.DataFrame) -> pd.Series:
    """Per feature, its evidence as ``key=value`` pairs joined by ``"; "`` (empty values left out)."""
    values = matching.reindex(columns=list(EVIDENCE_COLUMNS))
    text = [
        "; ".join(f"{k}={v}" for k, v in zip(EVIDENCE_COLUMNS, row, strict=True) if not pd.isna(v) and v != "")
        for row in values.itertuples(index=False)
    ]
    return pd.Series(text, index=matching.index, dtype=object)


def _table(study: str, rows: pd.DataFrame, reason: pd.Series, candidates: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "study": study,
            "feature": rows["feature"].astype(str),
            "reason": reason.astype(object),
            "candidates": candidates.astype(object),
            "targets": rows["target_ids"].fillna("").astype(str),
            "evidence": evidence(rows),
        },
        columns=DRILLDOWN_COLUMNS,
    )
    return out.reset_index(drop=True)


def failed_features(study: str, matching: pd.DataFrame) -> pd.DataFrame:
    """The study's 1:0 features with the matching's reason (no candidates).

    Parameters
    ----------
    study
        The study's name (first column).
    matching
        Its matching table.

    Returns
    -------
    pandas.DataFrame
        :data:`DRILLDOWN_COLUMNS`, one row per 1:0 feature, in var order.
    """
    rows = matching[matching["category"] == "1:0"]
    return _table(study, rows, rows["reason"].fillna("").astype(str), pd.Series("", index=rows.index))


def ambiguous_features(study: str, matching: pd.DataFrame) -> pd.DataFrame:
    """The study's 1:n features: ``candidates`` are the genes each reaches; ``reason`` says how many.

    Parameters
    ----------
    study
        The study's name.
    matching
        Its matching table.

    Returns
    -------
    pandas.DataFrame
        :data:`DRILLDOWN_COLUMNS`, one row per 1:n feature, in var order.
    """
    rows = matching[matching["category"] == "1:n"]
    reason = rows["n_genes"].map(lambda n: f"1:n: reaches {n} genes") + rows["fallback"].map(
        lambda fb: " (fallback to gene IDs)" if fb else ""
    )
    return _table(study, rows, reason, rows["ensembl_genes"].fillna("").astype(str))


def collided_features(study: str, matching: pd.DataFrame) -> pd.DataFrame:
    """The study's features that share a gene with another of its features (n→1).

    Parameters
    ----------
    study
        The study's name.
    matching
        Its matching table (its ``collision`` flags mark the features).

    Returns
    -------
    pandas.DataFrame
        :data:`DRILLDOWN_COLUMNS`, one row per colliding feature, in var order: ``candidates`` are the shared genes,
        ``reason`` names the other features reaching them.
    """
    rows = matching[matching["collision"].astype(bool)]
    genes = rows["ensembl_genes"].fillna("").astype(str).str.split(";").map(lambda gs: [g for g in gs if g])
    pairs = genes.explode().dropna()
    features = rows["feature"].astype(str)
    by_gene = features.reindex(pairs.index).groupby(pairs.to_numpy()).agg(list).to_dict()
    shared, reason = [], []
    for i, gs in genes.items():
        mine = [g for g in gs if len(by_gene.get(g, [])) > 1]
        others = sorted({f for g in mine for f in by_gene[g]} - {features[i]})
        shared.append(";".join(mine))
        reason.append(f"n→1: shares {'/'.join(mine)} with {', '.join(others)}")
    return _table(study, rows, pd.Series(reason, index=rows.index), pd.Series(shared, index=rows.index))


DRILLDOWNS: dict[str, Callable[[str, pd.DataFrame], pd.DataFrame]] = {
    "failed": failed_features,
    "ambiguous": ambiguous_features,
    "collisions": collided_features,
}
"""Kind → the function making that drill-down of one study."""


def drilldowns(matchings: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every drill-down of every study: kind (:data:`KINDS`) → one table, studies sorted by name.

    Parameters
    ----------
    matchings
        Study → its matching table.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``failed``, ``ambiguous`` and ``collisions``, each with :data:`DRILLDOWN_COLUMNS`.
    """
    out = {}
    for kind, make in DRILLDOWNS.items():
        parts = [make(study, m) for study, m in sorted(matchings.items())]
        out[kind] = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DRILLDOWN_COLUMNS, dtype=object)
        )
    return out


def drilldown_path(study: str, kind: str) -> str:
    """Where a study's drill-down goes in a report folder: ``studies/<study>/<kind>.csv``."""
    return f"studies/{study}/{kind}.csv"


def drilldown_files(matchings: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """The drill-downs as CSV files (:func:`drilldown_path`), without the ``study`` column (the folder names it).

    Parameters
    ----------
    matchings
        Study → its matching table.

    Returns
    -------
    dict[str, bytes]
        Relative path → CSV content; every study gets all three files, empty ones with their header.
    """
    files = {}
    for study, m in sorted(matchings.items()):
        for kind, make in DRILLDOWNS.items():
            table = make(study, m).drop(columns="study")
            files[drilldown_path(study, kind)] = table.to_csv(index=False).encode()
    return files


def drilldown_counts(matchings: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Study × kind: the number of rows of each drill-down (index = study, sorted)."""
    rows = {study: {kind: len(make(study, m)) for kind, make in DRILLDOWNS.items()} for study, m in matchings.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(KINDS)).sort_index().rename_axis("study")
