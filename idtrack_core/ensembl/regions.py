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
import pyarrow as pa
import pyarrow.compute as pc

from idtrack_core.ensembl.mysqldump import to_int64

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


def locate(objects: pa.Table, regions: SeqRegions) -> pa.Table:
    """``objects`` (with the source columns ``seq_region_id, seq_region_start, seq_region_end,
    seq_region_strand``) with ``seq_region`` (name), coordinates and ``region_class`` in their place, at the end;
    unknown or placeholder locations are NULL."""
    ids, start, end, strand = (to_int64(objects.column(c), errors="coerce") for c in SOURCE_COLUMNS)
    known_ids = pa.array(regions.regions["seq_region_id"], type=pa.int64())
    positions = pc.index_in(ids, value_set=known_ids)
    name = pa.array(regions.regions["seq_region"], type=pa.string()).take(positions)
    region_class = pa.array(regions.regions["region_class"], type=pa.string()).take(positions)
    known = pc.and_kleene(
        pc.and_kleene(pc.is_valid(name), pc.greater(start, 0)), pc.greater_equal(end, start)
    ).fill_null(False)
    strand_known = pc.and_(known, pc.is_in(strand, value_set=pa.array([-1, 1], pa.int64())))
    located = {
        "seq_region": _where(known, name),
        "seq_region_start": _where(known, start),
        "seq_region_end": _where(known, end),
        "seq_region_strand": _where(strand_known, strand),
        "region_class": _where(known, region_class),
    }
    out = objects.drop_columns(SOURCE_COLUMNS)
    for column, values in located.items():
        out = out.append_column(column, values)
    return out


def _where(mask: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``values`` where ``mask`` (no NULL) is true, NULL elsewhere."""
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def reciprocal_overlap(a_start: np.ndarray, a_end: np.ndarray, b_start: np.ndarray, b_end: np.ndarray) -> np.ndarray:
    """Overlap of two inclusive intervals as a share of the *longer* one (so both shares are at least this).

    Returns 0 for disjoint intervals and 1 for identical ones.
    """
    overlap = np.minimum(a_end, b_end) - np.maximum(a_start, b_start) + 1
    longer = np.maximum(a_end - a_start + 1, b_end - b_start + 1)
    return np.where(overlap > 0, overlap / np.maximum(longer, 1), 0.0)
