"""Per-study matchings: every feature of a study converted, plus the diagnostics of DESIGN §6.

Diagnostics use the reference tool's columns: ``input_ids``, ``one_to_one_target``, ``fallback_1_to_1``,
``one_to_many_target``, ``fallback_1_to_n``, ``one_to_none``, ``success_rate`` (1:1, fallbacks included,
over input), ``failure_rate`` (1:0 over input), plus ``ambiguity_rate`` (1:n over input) and n→1
collisions: ``collisions`` (Ensembl genes reached by more than one feature of the study) and
``collided_features`` (the features involved).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from idtrack_core.convert import RESULT_COLUMNS
from idtrack_core.harmonize.gates import collision_genes
from idtrack_core.harmonize.namespaces import check_feature_names, namespaced_lookup

Lookup = Callable[[list[str]], pd.DataFrame]
MATCHING_COLUMNS = ["feature", *RESULT_COLUMNS[1:], "n_genes", "collision"]


def match_features(
    features: Sequence[str], lookup: Lookup, id_namespace: str | None = None, study: str = "study"
) -> pd.DataFrame:
    """The conversion of every feature (var order kept), with ``n_genes`` and the n→1 ``collision`` flag.

    All-numeric feature names are refused unless ``id_namespace`` names the database they come from; with a
    namespace, only matches through that database count (see :mod:`~idtrack_core.harmonize.namespaces`).
    ``study`` names the study in errors.
    """
    check_feature_names(features, study, id_namespace)
    if id_namespace:
        lookup = namespaced_lookup(lookup, id_namespace)
    res = lookup(list(features)).rename(columns={"query_id": "feature"})
    for col in ("category", "target_ids", "ensembl_genes", "reason", "matched_node", "match", "bridge", "bridge_via"):
        res[col] = res[col].astype(object).where(res[col].notna(), None)
    genes = res["ensembl_genes"].fillna("").str.split(";")
    res["n_genes"] = genes.map(lambda g: sum(1 for x in g if x)).astype("int64")
    pairs = pd.DataFrame(
        {"feature": np.repeat(np.arange(len(res)), res["n_genes"]), "gene": [x for g in genes for x in g if x]}
    )
    shared = pairs.groupby("gene")["feature"].transform("nunique") > 1
    collided = np.zeros(len(res), dtype=bool)
    collided[pairs.loc[shared, "feature"].to_numpy()] = True
    res["collision"] = collided
    return res[MATCHING_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class StudyDiagnostics:
    """Counts and rates of one study's matching (see module docstring)."""

    study: str
    input_ids: int
    one_to_one_target: int
    fallback_1_to_1: int
    one_to_many_target: int
    fallback_1_to_n: int
    one_to_none: int
    success_rate: float
    ambiguity_rate: float
    failure_rate: float
    collisions: int
    collided_features: int

    def as_row(self) -> dict[str, object]:
        return asdict(self)


def diagnose(study: str, matching: pd.DataFrame) -> StudyDiagnostics:
    """Diagnostics of one study's matching table."""
    cat, fb = matching["category"], matching["fallback"].astype(bool)
    n = len(matching)

    def count(mask: pd.Series) -> int:
        return int(mask.sum())

    one, many, none = count((cat == "1:1") & ~fb), count((cat == "1:n") & ~fb), count(cat == "1:0")
    fb_one, fb_many = count((cat == "1:1") & fb), count((cat == "1:n") & fb)
    collisions = len(collision_genes(matching))

    def rate(k: int) -> float:
        return round(k / n, 6) if n else 0.0

    return StudyDiagnostics(
        study=study,
        input_ids=n,
        one_to_one_target=one,
        fallback_1_to_1=fb_one,
        one_to_many_target=many,
        fallback_1_to_n=fb_many,
        one_to_none=none,
        success_rate=rate(one + fb_one),
        ambiguity_rate=rate(many + fb_many),
        failure_rate=rate(none),
        collisions=collisions,
        collided_features=count(matching["collision"]),
    )


def diagnostics_table(diagnostics: Sequence[StudyDiagnostics]) -> pd.DataFrame:
    """One row per study, indexed by study name (the seed's per-study table)."""
    return pd.DataFrame([d.as_row() for d in diagnostics]).set_index("study")
