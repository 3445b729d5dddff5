"""The archived structure of old versions: which transcripts and translations an archived gene version had, as
Ensembl's ``gene_archive`` records them (``ArchiveStableIdAdaptor::fetch_associated_archived``)."""

from __future__ import annotations

import pandas as pd

from idtrack_core.archive.lookup import split_version
from idtrack_core.graph.model import Snapshot

STRUCTURE_COLUMNS = [
    "gene_id",
    "gene_version",
    "transcript_id",
    "transcript_version",
    "translation_id",
    "translation_version",
    "peptide",
    "release",
    "assembly",
    "db_name",
]
SIDES = ("gene", "transcript", "translation")


def archived_structure(snap: Snapshot, query: str, kind: str | None = None) -> pd.DataFrame:
    """The ``gene_archive`` rows of ``query`` (``ID`` or ``ID.version`` of a gene, transcript or translation).

    Parameters
    ----------
    snap
        An identifier graph snapshot (its ``gene_archive`` and ``peptide_archive`` tables).
    query
        A stable ID, optionally with a version (then only that version's rows).
    kind
        ``gene``, ``transcript`` or ``translation``; default: every column the ID appears in.

    Returns
    -------
    pandas.DataFrame
        :data:`STRUCTURE_COLUMNS`, one row per archived (gene, transcript, translation) triple, with the release,
        assembly and database of the session's old side (the release the structure was archived from) and the
        peptide sequence when ``peptide_archive`` has it; sorted by release. Empty when the archive does not know
        the ID (or the databases had no ``gene_archive``: see the extract manifests' ``archive``).
    """
    ga = snap.tables["gene_archive"]
    stable_id, version = split_version(query)
    sides = [kind] if kind else list(SIDES)
    hit = pd.Series(False, index=ga.index)
    for side in sides:
        match = ga[f"{side}_stable_id"] == query
        if version is not None:
            match |= (ga[f"{side}_stable_id"] == stable_id) & (ga[f"{side}_version"] == version)
        hit |= match.fillna(False)
    rows = ga[hit.to_numpy(dtype=bool)]
    peptides = snap.tables["peptide_archive"][["peptide_archive_id", "peptide_seq"]]
    rows = rows.merge(peptides, on="peptide_archive_id", how="left")
    sessions = snap.tables["sessions"][["mapping_session_id", "old_release", "old_assembly", "old_db_name"]]
    rows = rows.merge(sessions, on="mapping_session_id", how="left")
    out = pd.DataFrame(
        {
            "gene_id": rows["gene_stable_id"],
            "gene_version": rows["gene_version"],
            "transcript_id": rows["transcript_stable_id"],
            "transcript_version": rows["transcript_version"],
            "translation_id": rows["translation_stable_id"],
            "translation_version": rows["translation_version"],
            "peptide": rows["peptide_seq"],
            "release": rows["old_release"],
            "assembly": rows["old_assembly"],
            "db_name": rows["old_db_name"],
        }
    )
    order = pd.to_numeric(out["release"], errors="coerce")
    out = out.assign(_t=order).sort_values(["_t", "gene_id", "transcript_id"], kind="stable").drop(columns="_t")
    return out[STRUCTURE_COLUMNS].reset_index(drop=True)
