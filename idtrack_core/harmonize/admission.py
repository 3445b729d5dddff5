"""Which studies may enter an atlas: the gates at planning time, and the check an atlas makes before writing.

A study enters a plan only when its matching passes its quality gates (:mod:`idtrack_core.harmonize.gates`); the
plan records, per study, the identity of its file, the hash of the matching it was planned from and the gate
results (:func:`study_records`). Before an atlas is written from a plan, :func:`check_plan_current` re-evaluates the
gates on each study's *current* matching and compares it, and the study file, with what the plan recorded: a study
that now fails a gate, whose matching or file changed, or that is new is refused with an error naming the study and
the check. So a failing study never reaches an atlas, whatever was (re)built in which order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from idtrack_core import storage
from idtrack_core.errors import QualityGateError, StalePlanError
from idtrack_core.harmonize.gates import GateReport, Thresholds, evaluate_gates, evaluate_studies
from idtrack_core.harmonize.matchings import diagnose

MATCHING_CURRENT, FILE_UNCHANGED, PLANNED, SAME_INDEX = "matching_current", "file_unchanged", "planned", "same_index"
"""The names of the checks :func:`check_plan_current` makes besides the gates."""


def admit(
    matchings: Mapping[str, pd.DataFrame], thresholds: Mapping[str, Thresholds], exclude_failing: bool = False
) -> dict[str, GateReport]:
    """Evaluate every study's gates; refuse the lot when one fails (unless ``exclude_failing``).

    Parameters
    ----------
    matchings
        Study → its matching table.
    thresholds
        Study → its gate limits (defaults with the study's overrides).
    exclude_failing
        Leave failing studies out (the caller drops the studies whose report failed) instead of refusing.

    Returns
    -------
    dict[str, GateReport]
        Every study's gate report, by name.

    Raises
    ------
    QualityGateError
        A study fails a gate and ``exclude_failing`` is False; the message names each study and gate.
    """
    reports = evaluate_studies(matchings, {s: thresholds[s] for s in matchings})
    failing = [r.describe() for r in reports.values() if not r.passed]
    if failing and not exclude_failing:
        raise QualityGateError("studies failing their quality gates cannot enter an atlas: " + "; ".join(failing))
    return reports


def check_matched_with(matchings: Mapping[str, pd.DataFrame], index_version: str) -> None:
    """Refuse matchings made with another resolution index than the one a plan is made with (a matching records
    the version of its index in ``attrs["index_version"]``).

    Raises
    ------
    StalePlanError
        Naming the studies and the check ``same_index``.
    """
    stale = sorted(s for s, m in matchings.items() if m.attrs.get("index_version", index_version) != index_version)
    if stale:
        raise StalePlanError(
            f"check {SAME_INDEX} failed: studies {stale} were matched with another resolution index than "
            f"{index_version}: re-match them first"
        )


def study_records(
    matchings: Mapping[str, pd.DataFrame],
    reports: Mapping[str, GateReport],
    files: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """What a plan records of each study: file identity, matching hash, limits, diagnostics and gate results."""
    records = {}
    for study, matching in sorted(matchings.items()):
        diagnostics = diagnose(study, matching).as_row()
        diagnostics.pop("study")
        records[study] = {
            "file": dict(files[study]),
            "matching_sha256": storage.frame_sha256(matching),
            "thresholds": reports[study].thresholds.as_dict(),
            "diagnostics": diagnostics,
            "gates": reports[study].as_record(),
        }
    return records


def check_plan_current(
    planned: Mapping[str, Mapping[str, Any]],
    left_out: Mapping[str, str],
    matchings: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, Thresholds],
    files: Mapping[str, Mapping[str, Any]],
) -> None:
    """Refuse to build an atlas from a plan that no longer holds.

    Parameters
    ----------
    planned
        The plan's records of the studies it includes (:func:`study_records`).
    left_out
        The studies the plan left out, with the reason.
    matchings
        Every study's current matching table.
    thresholds
        Every study's current gate limits.
    files
        The current identity of each planned study's file.

    Raises
    ------
    StalePlanError
        Naming the study and the check: a gate (``max_failure_rate``, …) its current matching fails,
        ``matching_current`` (its matching changed since planning), ``file_unchanged`` (its file changed) or
        ``planned`` (a study with a matching that the plan does not know).
    """
    for study, record in sorted(planned.items()):
        if study not in matchings:
            raise StalePlanError(f"study {study!r} is in the plan but has no matching any more: re-plan")
        report = evaluate_gates(study, matchings[study], thresholds[study])
        if not report.passed:
            raise StalePlanError(f"{report.describe()}: a study failing its quality gates cannot enter an atlas")
        current = storage.frame_sha256(matchings[study])
        if current != record["matching_sha256"]:
            raise StalePlanError(
                f"study {study!r}: check {MATCHING_CURRENT} failed: planned from matching "
                f"{record['matching_sha256'][:12]}, current matching is {current[:12]}: re-materialize the plan"
            )
        fingerprint = files[study]["fingerprint"]
        if fingerprint != record["file"]["fingerprint"]:
            raise StalePlanError(
                f"study {study!r}: check {FILE_UNCHANGED} failed: {record['file']['url']} changed since it was "
                f"matched (fingerprint {record['file']['fingerprint']} → {fingerprint}): re-match the study, re-plan"
            )
    unknown = sorted(set(matchings) - set(planned) - set(left_out))
    if unknown:
        raise StalePlanError(
            f"check {PLANNED} failed: studies {unknown} have matchings but are not in the plan: re-plan"
        )
