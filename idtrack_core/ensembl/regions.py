"""Where genes and transcripts lie: seq_region names, coordinates and the kind of region.

Every ``seq_region`` gets a *region class*:

- ``lrg``: the region is in the ``lrg`` coordinate system (Locus Reference Genomic records);
- ``patch``: an ``assembly_exception`` of type ``PATCH_FIX`` or ``PATCH_NOVEL`` starts on it;
- ``haplotype``: an ``assembly_exception`` of type ``HAP`` starts on it;
- ``non_reference``: it carries the ``non_ref`` attribute (``seq_region_attrib`` / ``attrib_type``);
- ``primary``: anything else (chromosomes, unlocalised and unplaced scaffolds, ``PAR`` regions).

When neither ``assembly_exception`` nor ``seq_region_attrib`` exists (trimmed or test databases), the class comes
from Ensembl's region names instead: a name containing ``PATCH`` is a patch, a name starting ``CHR_``, ``HSCHR``
or ``HG<digits>`` another non-reference region. How the classes were found is reported (``classified_by``).

Coordinates are Ensembl's (1-based, inclusive, strand ±1). A feature whose region is unknown, or whose start is
not positive or end before start (placeholders such as ``unknown:0-0``), has no location and no region class
(unknown, which conversions treat like ``primary``: only a known non-primary class is ever held against a gene).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

REGION_CLASSES = ("primary", "patch", "haplotype", "lrg", "non_reference")
LOCATION_COLUMNS = ["seq_region", "seq_region_start", "seq_region_end", "seq_region_strand"]
SOURCE_COLUMNS = ["seq_region_id", "seq_region_start", "seq_region_end", "seq_region_strand"]
_PATCH_EXCEPTIONS = {"PATCH_FIX", "PATCH_NOVEL"}
_NON_REFERENCE_NAME = re.compile(r"^(CHR_|HSCHR|HG\d)")


@dataclass(frozen=True)
class SeqRegions:
    """``seq_region_id`` → name and region class; ``classified_by`` is ``tables``, ``names`` or None (no
    ``seq_region`` table)."""

    regions: pd.DataFrame
    classified_by: str | None


def classify_regions(
    seq_region: pd.DataFrame | None,
    coord_system: pd.DataFrame | None,
    assembly_exception: pd.DataFrame | None,
    seq_region_attrib: pd.DataFrame | None,
    attrib_type: pd.DataFrame | None,
) -> SeqRegions:
    """Name and class of every seq_region (see module docstring); absent tables are None.

    Parameters
    ----------
    seq_region
        ``seq_region_id, name, coord_system_id``.
    coord_system
        ``coord_system_id, name``.
    assembly_exception
        ``seq_region_id, exc_type``.
    seq_region_attrib, attrib_type
        ``seq_region_id, attrib_type_id`` and ``attrib_type_id, code``.

    Returns
    -------
    SeqRegions
        ``regions`` has ``seq_region_id`` (Int64), ``seq_region`` and ``region_class`` (strings).
    """
    if seq_region is None:
        return SeqRegions(_empty_regions(), None)
    sr = seq_region.assign(seq_region_id=pd.to_numeric(seq_region["seq_region_id"]).astype("Int64"))
    region_class = pd.Series("primary", index=sr.index, dtype="string")
    names = sr["name"].astype("string").fillna("")
    by_tables = assembly_exception is not None or seq_region_attrib is not None
    if by_tables:
        if seq_region_attrib is not None and attrib_type is not None:
            codes = dict(zip(pd.to_numeric(attrib_type["attrib_type_id"]), attrib_type["code"], strict=True))
            attrib_codes = pd.to_numeric(seq_region_attrib["attrib_type_id"]).map(codes)
            non_ref = pd.to_numeric(seq_region_attrib.loc[attrib_codes == "non_ref", "seq_region_id"])
            region_class[sr["seq_region_id"].isin(non_ref).to_numpy()] = "non_reference"
        if assembly_exception is not None:
            exc = assembly_exception.assign(seq_region_id=pd.to_numeric(assembly_exception["seq_region_id"]))
            for kind, types in (("haplotype", {"HAP"}), ("patch", _PATCH_EXCEPTIONS)):
                ids = exc.loc[exc["exc_type"].isin(types), "seq_region_id"]
                region_class[sr["seq_region_id"].isin(ids).to_numpy()] = kind
    else:
        upper = names.str.upper()
        region_class[upper.str.match(_NON_REFERENCE_NAME.pattern).fillna(False).to_numpy()] = "non_reference"
        region_class[upper.str.contains("PATCH", regex=False).fillna(False).to_numpy()] = "patch"
    if coord_system is not None:
        cs = dict(zip(pd.to_numeric(coord_system["coord_system_id"]), coord_system["name"], strict=True))
        cs_name = pd.to_numeric(sr["coord_system_id"]).map(cs).astype("string").str.lower()
        region_class[(cs_name == "lrg").fillna(False).to_numpy()] = "lrg"
    regions = pd.DataFrame(
        {"seq_region_id": sr["seq_region_id"].to_numpy(), "seq_region": names.to_numpy(), "region_class": region_class}
    ).astype({"seq_region_id": "Int64", "seq_region": "string", "region_class": "string"})
    return SeqRegions(regions.drop_duplicates("seq_region_id"), "tables" if by_tables else "names")


def _empty_regions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq_region_id": pd.Series(dtype="Int64"),
            "seq_region": pd.Series(dtype="string"),
            "region_class": pd.Series(dtype="string"),
        }
    )


def locate(objects: pd.DataFrame, regions: SeqRegions) -> pd.DataFrame:
    """``objects`` (with the source columns ``seq_region_id, seq_region_start, seq_region_end,
    seq_region_strand``) with ``seq_region`` (name), coordinates and ``region_class``; unknown or placeholder
    locations are NULL."""
    ids = pd.to_numeric(objects["seq_region_id"], errors="coerce").astype("Int64")
    start = pd.to_numeric(objects["seq_region_start"], errors="coerce").astype("Int64")
    end = pd.to_numeric(objects["seq_region_end"], errors="coerce").astype("Int64")
    strand = pd.to_numeric(objects["seq_region_strand"], errors="coerce").astype("Int64")
    info = regions.regions.set_index("seq_region_id")
    name = ids.map(info["seq_region"]).astype("string")
    region_class = ids.map(info["region_class"]).astype("string")
    known = (name.notna() & start.notna() & end.notna() & (start > 0) & (end >= start)).fillna(False)
    known = known.to_numpy(dtype=bool)
    out = objects.drop(columns=SOURCE_COLUMNS)
    out["seq_region"] = name.where(known)
    out["seq_region_start"] = start.where(known)
    out["seq_region_end"] = end.where(known)
    out["seq_region_strand"] = strand.where(known & strand.isin([-1, 1]).fillna(False).to_numpy())
    out["region_class"] = region_class.where(known)
    return out


def reciprocal_overlap(a_start: np.ndarray, a_end: np.ndarray, b_start: np.ndarray, b_end: np.ndarray) -> np.ndarray:
    """Overlap of two inclusive intervals as a share of the *longer* one (so both shares are at least this).

    Returns 0 for disjoint intervals and 1 for identical ones.
    """
    overlap = np.minimum(a_end, b_end) - np.maximum(a_start, b_start) + 1
    longer = np.maximum(a_end - a_start + 1, b_end - b_start + 1)
    return np.where(overlap > 0, overlap / np.maximum(longer, 1), 0.0)
