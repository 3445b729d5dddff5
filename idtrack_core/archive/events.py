"""The history a snapshot's archive knows at one release: Ensembl's ``stable_id_event`` rows with their mapping
sessions, and which objects are current.

Only ``stable_id_event`` rows count (the snapshot's derived version changes do not), and only sessions that end
at or before the release (the archive of release R cannot know later sessions). Each event carries its
session's ``created`` date (Ensembl orders archive rows by it), database names and assemblies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from idtrack_core.graph.intervals import holds_at
from idtrack_core.graph.model import Snapshot

ENSEMBL_TYPES = {"gene": "Gene", "transcript": "Transcript", "translation": "Translation"}


@dataclass(frozen=True)
class ArchiveEvents:
    """Events and current objects of a snapshot as its archive at ``release`` knows them.

    ``events`` columns: type, old_obj, old_version, new_obj, new_version, score, old_release, new_release,
    mapping_session_id, created, old_db_name, new_db_name, old_assembly, new_assembly, old_time, new_time
    (``-1`` objects are births and retirements). ``current_version`` is the version of each object at the
    release (``-1``: not in that release's extract; ``0``: present, version unknown).
    """

    snap: Snapshot
    position: int
    events: pd.DataFrame
    current_version: np.ndarray

    @classmethod
    def of(cls, snap: Snapshot, release: int | None = None, assembly: str | None = None) -> ArchiveEvents:
        """The archive of ``snap`` at ``release`` (default: its newest) and ``assembly`` (default: primary)."""
        pos = snap.position(snap.snapshot_release if release is None else release, assembly)
        e = snap.tables["events"]
        e = e[(e["source"] == "stable_id_event") & ~(e["new_time"] > snap.history_time(pos))]
        s = snap.tables["sessions"].drop(columns=["old_release", "new_release"])
        e = e.drop(columns=["source"]).merge(s, on="mapping_session_id", how="left")
        e["created"] = e["created"].fillna("")
        return cls(snap, pos, e.reset_index(drop=True), _current_versions(snap, pos))

    @property
    def ids(self) -> np.ndarray:
        return self.snap.tables["objects"]["stable_id"].to_numpy(dtype=object)

    @property
    def types(self) -> np.ndarray:
        return self.snap.tables["objects"]["type"].to_numpy(dtype=object)

    def release_info(self, pos: int) -> tuple[str, str, str]:
        """(release as Ensembl's API reports it, assembly name, database name) of an extract position.

        The release is the database's ``meta.schema_version`` (what Ensembl's ``get_current_release`` reads), else
        the extract's release number.
        """
        row = self.snap.tables["releases"].iloc[pos]
        schema = row["schema_version"]
        release = str(schema) if not pd.isna(schema) else str(row["release"])
        return release, str(row["assembly_name"]), str(row["database"])


def _current_versions(snap: Snapshot, pos: int) -> np.ndarray:
    v = snap.tables["versions"]
    v = v[holds_at(v["first"].to_numpy(), v["last"].to_numpy(), pos)]
    out = np.full(len(snap.tables["objects"]), -1, dtype=np.int64)
    out[v["obj"].to_numpy()] = v["version"].fillna(0).to_numpy(dtype=np.int64)
    return out
