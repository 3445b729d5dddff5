"""Reading a simulated mirror's ground truth and composing it into true answers for any release pair."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from idtrack_core import storage

GROUND_TRUTH_DIR = "ground_truth"


@dataclass(frozen=True)
class GroundTruth:
    """The ground-truth tables of a simulated mirror (see :mod:`idtrack_core.simulation`)."""

    genes: pd.DataFrame
    transitions: pd.DataFrame
    names: pd.DataFrame
    info: dict[str, Any] = field(repr=False)

    def genes_at(self, release: int) -> list[str]:
        """Stable IDs of the genes alive at ``release``, sorted."""
        ids = self.genes.loc[self.genes["release"] == release, "stable_id"]
        if ids.empty and release not in self.info.get("releases", []):
            raise ValueError(f"release {release} is not part of this simulation")
        return sorted(ids.astype(str))

    def history_release(self, release: int, assembly: str | None = None) -> int:
        """The release whose gene set a database of ``release`` (and ``assembly``) holds: itself, or the frozen
        release for the older assembly's databases after an assembly switch."""
        frozen = self.info.get("assemblies", {}).get(assembly or "", {}).get("frozen")
        if frozen and release in frozen["releases"]:
            return int(frozen["as_of"])
        return release

    def correspondence(self, from_release: int, to_release: int) -> pd.DataFrame:
        """The true gene correspondence between two releases, in either direction.

        Composes the consecutive transitions. Returns ``from_stable_id, to_stable_id`` with one row per
        (gene at ``from_release``, true counterpart at ``to_release``); a gene without counterpart (retired
        on the way, or born after ``to_release`` when going backwards) has one row with a null
        ``to_stable_id``. Sorted by both columns.
        """
        start = self.genes_at(from_release)
        self.genes_at(to_release)
        t = self.transitions
        current = pd.DataFrame({"from_stable_id": start, "current": start}, dtype="string")
        dead: list[pd.DataFrame] = []
        step = 1 if to_release >= from_release else -1
        for release in range(from_release, to_release, step):
            lo, hi = (release, release + 1) if step == 1 else (release - 1, release)
            rows = t[(t["from_release"] == lo) & (t["to_release"] == hi)]
            src, dst = ("old_stable_id", "new_stable_id") if step == 1 else ("new_stable_id", "old_stable_id")
            links = rows.loc[rows[src].notna(), [src, dst]].rename(columns={src: "current", dst: "next"})
            merged = current.merge(links, on="current", how="left")
            ended = merged.loc[merged["next"].isna(), ["from_stable_id"]]
            if len(ended):
                dead.append(ended.assign(to_stable_id=pd.Series(pd.NA, index=ended.index, dtype="string")))
            current = (
                merged[merged["next"].notna()][["from_stable_id", "next"]]
                .rename(columns={"next": "current"})
                .drop_duplicates()
            )
        parts = [current.rename(columns={"current": "to_stable_id"}).astype("string"), *dead]
        result = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True).astype("string")
        alive_somewhere = set(result.loc[result["to_stable_id"].notna(), "from_stable_id"])
        result = result[result["to_stable_id"].notna() | ~result["from_stable_id"].isin(alive_somewhere)]
        result = result.drop_duplicates()
        return result.sort_values(["from_stable_id", "to_stable_id"], na_position="last").reset_index(drop=True)


def read_ground_truth(
    out: str, releases: Iterable[int] | None = None, names: bool = True, **storage_options: Any
) -> GroundTruth:
    """Load ``{out}/ground_truth``; ``releases`` restricts every table to those releases (for big mirrors)."""
    root = storage.join(out, GROUND_TRUTH_DIR)
    info = storage.read_json(storage.join(root, "truth.json"), **storage_options)
    wanted = None if releases is None else sorted(set(releases))

    def load(name: str, *columns: str) -> pd.DataFrame:
        fs, path = storage.url_to_fs(storage.join(root, f"{name}.parquet"), **storage_options)
        filters = None if wanted is None else [(c, "in", wanted) for c in columns]
        with fs.open(path, "rb") as f:
            table = pq.read_table(f, filters=filters)
        return table.to_pandas(types_mapper=_nullable)

    genes = load("genes", "release")
    transitions = load("transitions", "from_release", "to_release")
    name_table = load("names", "release") if names else pd.DataFrame()
    return GroundTruth(genes, transitions, name_table, info)


def _nullable(dtype: pa.DataType) -> Any:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    return None
