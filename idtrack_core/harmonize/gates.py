"""The quality gates of a study's matching: the one place that decides whether a study may enter an atlas.

Three gates, each a limit on a measure of the study's matching table (DESIGN §6–7):

- ``max_failure_rate``: 1:0 features / features;
- ``max_ambiguity_rate``: 1:n features / features;
- ``max_collisions``: n→1 collisions, the Ensembl genes reached by more than one feature of the study.

The limits are enforced as Pandera checks: :func:`gate_schema` builds a ``DataFrameSchema`` whose dataframe checks
mark a feature as failing when it contributes to a measure that is over its limit, so Pandera's failure report
names the gate and the offending features. :func:`evaluate_gates` runs that schema and returns a
:class:`GateReport`; the blocking asset checks, the harmonization plan, the atlases (which re-verify the studies
they include), the report, the Data Docs and the ``harmonize`` command all call it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas and pandera load when gates are evaluated, not when a command line starts
    import pandas as pd
    import pandera.pandas as pa

GATES = ("max_failure_rate", "max_ambiguity_rate", "max_collisions")


@dataclass(frozen=True)
class Thresholds:
    """The limits of the quality gates (rates are fractions of the study's features).

    Attributes
    ----------
    max_failure_rate
        Highest allowed share of features that convert to nothing (1:0).
    max_ambiguity_rate
        Highest allowed share of features that convert to several targets (1:n).
    max_collisions
        Highest allowed number of Ensembl genes reached by more than one feature of the study (n→1).
    """

    max_failure_rate: float = 0.2
    max_ambiguity_rate: float = 0.05
    max_collisions: int = 50

    def __post_init__(self) -> None:
        for gate in GATES:
            value = getattr(self, gate)
            if not isinstance(value, int | float) or value < 0 or (gate != "max_collisions" and value > 1):
                raise ValueError(f"{gate} must be a number in [0, 1] (collisions: ≥ 0), not {value!r}")

    def as_dict(self) -> dict[str, float]:
        """The limits by gate name."""
        return asdict(self)


def collision_genes(matching: pd.DataFrame) -> pd.Series:
    """Per Ensembl gene reached by more than one feature: how many features reach it (sorted by gene)."""
    import pandas as pd

    genes = matching.loc[matching["collision"], "ensembl_genes"].dropna().astype(str).str.split(";").explode()
    genes = genes[genes != ""]
    counts = genes.groupby(genes).size() if len(genes) else pd.Series(dtype="int64")
    return counts[counts > 1].sort_index()


Measure = Callable[["pd.DataFrame"], tuple[float, "pd.Series"]]


def _category_share(category: str) -> Measure:
    def measure(matching: pd.DataFrame) -> tuple[float, pd.Series]:
        mask = matching["category"] == category
        return (float(mask.mean()) if len(mask) else 0.0), mask

    return measure


def _collisions(matching: pd.DataFrame) -> tuple[float, pd.Series]:
    return float(len(collision_genes(matching))), matching["collision"].astype(bool)


MEASURES: dict[str, Measure] = {
    "max_failure_rate": _category_share("1:0"),
    "max_ambiguity_rate": _category_share("1:n"),
    "max_collisions": _collisions,
}
"""Gate → its measure: (value over the study, mask of the features that contribute to it)."""

_DESCRIPTIONS = {
    "max_failure_rate": "failure rate (1:0 features / features)",
    "max_ambiguity_rate": "ambiguity rate (1:n features / features)",
    "max_collisions": "n→1 collisions (genes reached by several features)",
}


def gate_schema(thresholds: Thresholds) -> pa.DataFrameSchema:
    """The gates as a Pandera schema over a matching table (columns ``feature``, ``category``, ``ensembl_genes``,
    ``collision``): one dataframe check per gate, failing exactly the features that contribute to a measure over
    its limit.

    Parameters
    ----------
    thresholds
        The limits to enforce.

    Returns
    -------
    pandera.DataFrameSchema
        Check ``i`` enforces ``GATES[i]``.
    """
    import pandera.pandas as pa  # imported when gates are evaluated, not by every command line start

    def check(gate: str) -> pa.Check:
        limit = getattr(thresholds, gate)

        def within_limit(df: pd.DataFrame) -> pd.Series:
            value, contributes = MEASURES[gate](df)
            return ~(contributes & (value > limit))

        return pa.Check(within_limit, name=gate, error=f"{gate}: {_DESCRIPTIONS[gate]} must be <= {limit}")

    return pa.DataFrameSchema(
        columns={"feature": pa.Column(str), "category": pa.Column(str), "collision": pa.Column(bool)},
        checks=[check(gate) for gate in GATES],
        strict=False,
    )


@dataclass(frozen=True)
class GateResult:
    """One gate evaluated on one study.

    Attributes
    ----------
    gate
        The gate's name (one of :data:`GATES`).
    passed
        Whether the measure is within the limit.
    value, limit
        The measure and its limit.
    offending
        The features that contribute to a failing measure (sorted; empty when the gate passes).
    """

    gate: str
    passed: bool
    value: float
    limit: float
    offending: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """One line: the gate, the measure and the limit, and the first offending features."""
        verdict = "≤" if self.passed else ">"
        value = f"{int(self.value)}" if self.gate == "max_collisions" else f"{self.value:.3f}"
        line = f"{_DESCRIPTIONS[self.gate]} {value} {verdict} {self.gate} {self.limit:g}"
        if self.offending:
            shown = ", ".join(self.offending[:5]) + (", …" if len(self.offending) > 5 else "")
            line += f" ({len(self.offending)} features: {shown})"
        return line


@dataclass(frozen=True)
class GateReport:
    """Every gate of one study.

    Attributes
    ----------
    study
        The study's name.
    thresholds
        The limits applied (with the study's own overrides).
    results
        One :class:`GateResult` per gate, in :data:`GATES` order.
    """

    study: str
    thresholds: Thresholds
    results: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        """True when every gate passes."""
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[GateResult, ...]:
        """The failing gates."""
        return tuple(r for r in self.results if not r.passed)

    def describe(self) -> str:
        """``study: gate message; …`` for the failing gates (empty when every gate passes)."""
        return "; ".join(f"{self.study}: {r.message}" for r in self.failures)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready record (limits, values, verdicts and offending-feature counts)."""
        return {
            "passed": self.passed,
            "gates": {
                r.gate: {"passed": r.passed, "value": r.value, "limit": r.limit, "offending": len(r.offending)}
                for r in self.results
            },
        }


def evaluate_gates(study: str, matching: pd.DataFrame, thresholds: Thresholds) -> GateReport:
    """Validate a study's matching against the gates with Pandera and report every gate.

    Parameters
    ----------
    study
        The study's name (used in messages).
    matching
        The study's matching table (as :func:`idtrack_core.harmonize.matchings.match_features` returns it).
    thresholds
        The limits for this study (defaults with the study's overrides applied).

    Returns
    -------
    GateReport
        One result per gate; a failing gate lists the offending features from Pandera's failure cases.
    """
    import pandera.pandas as pa

    matching = matching.reset_index(drop=True)
    offending: dict[str, set[str]] = {gate: set() for gate in GATES}
    try:
        gate_schema(thresholds).validate(matching, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["schema_context"] == "DataFrameSchema"].dropna(subset=["index", "check_number"])
        features = matching["feature"].astype(str).to_numpy()
        for number, rows in cases.groupby("check_number")["index"]:
            positions = np.unique(rows.to_numpy(dtype=np.int64))
            offending[GATES[int(number)]].update(features[positions])
    results = []
    for gate in GATES:
        value, _ = MEASURES[gate](matching)
        results.append(
            GateResult(
                gate, not offending[gate], value, float(getattr(thresholds, gate)), tuple(sorted(offending[gate]))
            )
        )
    return GateReport(study, thresholds, tuple(results))


def evaluate_studies(
    matchings: Mapping[str, pd.DataFrame], thresholds: Mapping[str, Thresholds] | Thresholds
) -> dict[str, GateReport]:
    """:func:`evaluate_gates` for every study (``thresholds``: one for all, or per study), by study name."""

    def limits(study: str) -> Thresholds:
        return thresholds if isinstance(thresholds, Thresholds) else thresholds[study]

    return {study: evaluate_gates(study, m, limits(study)) for study, m in sorted(matchings.items())}
