"""The identifier graph snapshot: columnar tables (what is stored and computed on) and its networkx view.

Tables (release sets are runs ``first``..``last`` of positions into ``releases``):

- ``releases``: release, database, extract_sha256, assembly (the extract's), assembly_name (its meta
  ``assembly.default``, e.g. ``GRCh37``), schema_version (its meta ``schema_version``) — the extracts the snapshot
  was built from, ascending by release, then by assembly age (older first; see :mod:`.build`); history_release is
  where that extract stands in history (its release, or older for a frozen gene set republished later).
- ``objects``: obj, type (gene/transcript/translation), stable_id — one row per unversioned Ensembl ID.
- ``versions``: obj, version (nullable: unknown in that release), first, last — where each version existed.
- ``parents``: child, parent, first, last — transcript→gene and translation→transcript links.
- ``events``: history edges (``stable_id_event`` rows joined with ``mapping_session``, plus version changes
  between consecutive snapshot releases that no event records): type, old_obj, old_version, new_obj,
  new_version, score, old_release, new_release (labels as Ensembl writes them, e.g. ``18.1``),
  old_time/new_time (numeric), mapping_session_id, source. ``-1`` in old_obj/new_obj is a birth/retirement.
- ``xrefs``: obj, db_name, db_display_name, accession, label, first, last — external names; the database is
  part of the name's identity.
- ``synonyms``: db_name, accession, label, synonym, first, last — synonyms of an xref.
- ``locations``: obj, assembly, seq_region, start, end, strand, region_class, first, last — where genes and
  transcripts lie (coordinates compare only within one assembly; a run never spans two).
- ``sessions``: Ensembl's ``mapping_session`` rows (old/new release, database name and assembly, created).
- ``gene_archive``, ``peptide_archive``: Ensembl's archive of old gene versions' transcripts and translations
  and their peptide sequences (the newest archive of each assembly; empty when the databases have none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import networkx as nx

ARCHIVE_TABLES = ("gene_archive", "peptide_archive")
RELEASE_COLUMNS = (
    "release",
    "database",
    "extract_sha256",
    "assembly",
    "assembly_name",
    "schema_version",
    "history_release",
)
TABLES = (
    "releases",
    "objects",
    "versions",
    "parents",
    "events",
    "xrefs",
    "synonyms",
    "locations",
    "sessions",
    *ARCHIVE_TABLES,
)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """An identifier graph snapshot (see module docstring for the tables)."""

    tables: dict[str, pd.DataFrame] = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        m = self.manifest
        digest = m.get("content_sha256", "")[:12]
        return f"Snapshot({m.get('species')} {m.get('assembly')} releases {self.release_list}, {digest})"

    @property
    def species(self) -> str:
        return self.manifest["species"]

    @property
    def assembly(self) -> str:
        return self.manifest["assembly"]

    @cached_property
    def release_list(self) -> list[int]:
        return [int(r) for r in self.tables["releases"]["release"]]

    @property
    def snapshot_release(self) -> int:
        return self.release_list[-1]

    @property
    def content_hash(self) -> str:
        return self.manifest["content_sha256"]

    def history_time(self, pos: int) -> float:
        """Where the extract at position ``pos`` stands in history (see ``history_release``)."""
        return float(self.tables["releases"]["history_release"].iloc[pos])

    @cached_property
    def assembly_list(self) -> list[str]:
        """The assembly of each position (parallel to ``release_list``)."""
        return [str(a) for a in self.tables["releases"]["assembly"]]

    def position(self, release: int, assembly: str | None = None) -> int:
        """Position of an extract release in ``release_list``: of ``assembly`` when given, else of the primary
        assembly when it has that release, else of the only extract of that release.

        Raises
        ------
        ValueError
            The snapshot has no extract of that release (and assembly).
        """
        wanted = assembly_key(assembly) if assembly is not None else None
        found = [
            p
            for p, (r, a) in enumerate(zip(self.release_list, self.assembly_list, strict=True))
            if r == int(release) and (wanted is None or assembly_key(a) == wanted)
        ]
        if len(found) > 1:
            found = [p for p in found if self.assembly_list[p] == self.assembly] or found[-1:]
        if not found:
            what = f"release {release}" + (f" of assembly {assembly}" if assembly else "")
            raise ValueError(f"{what} is not in this snapshot (releases {self.release_list})")
        return found[0]

    @cached_property
    def database_names(self) -> dict[str, str]:
        """Every way to name an external database (display name or db_name) → its display name."""
        x = self.tables["xrefs"][["db_name", "db_display_name"]].drop_duplicates()
        names = dict(zip(x["db_display_name"], x["db_display_name"], strict=True))
        names.update(dict(zip(x["db_name"], x["db_display_name"], strict=True)))
        return names

    def to_networkx(self) -> nx.MultiDiGraph:
        """The graph model of DESIGN §4 as a networkx ``MultiDiGraph`` (built on demand; costly at human scale).

        Nodes: ``("id", type, stable_id)`` base IDs; ``("version", type, stable_id, version)`` with the releases
        it exists in; ``("external", db_display_name, name)``. Edges: base→version ``kind="version"``;
        version→version ``kind="history"`` (score, old/new release); child→parent ``kind="parent"``;
        base ID→external ``kind="xref"`` (``name_kind`` accession or label); external→external
        ``kind="synonym"``. Release sets are attribute ``releases`` (sorted lists).
        """
        import networkx as nx  # only this view needs it (costly to import, unused by conversion)

        g = nx.MultiDiGraph()
        rel = np.array(self.release_list)
        objs = self.tables["objects"]
        types = objs["type"].to_numpy()
        ids = objs["stable_id"].to_numpy()

        def releases(first: int, last: int) -> list[int]:
            return rel[first : last + 1].tolist()

        for typ, sid in zip(types, ids, strict=True):
            g.add_node(("id", typ, sid), type=typ)
        for r in self.tables["versions"].itertuples(index=False):
            v = None if pd.isna(r.version) else int(r.version)
            node = ("version", types[r.obj], ids[r.obj], v)
            known = g.nodes[node]["releases"] if node in g else []
            g.add_node(node, releases=sorted({*known, *releases(r.first, r.last)}))
            g.add_edge(("id", types[r.obj], ids[r.obj]), node, kind="version")
        for r in self.tables["parents"].itertuples(index=False):
            g.add_edge(
                ("id", types[r.child], ids[r.child]),
                ("id", types[r.parent], ids[r.parent]),
                kind="parent",
                releases=releases(r.first, r.last),
            )
        for r in self.tables["events"].itertuples(index=False):
            old = ("version", r.type, ids[r.old_obj], _opt(r.old_version)) if r.old_obj >= 0 else ("void",)
            new = ("version", r.type, ids[r.new_obj], _opt(r.new_version)) if r.new_obj >= 0 else ("void",)
            g.add_edge(
                old,
                new,
                kind="history",
                score=_opt_float(r.score),
                old_release=r.old_release,
                new_release=r.new_release,
                source=r.source,
            )
        for r in self.tables["xrefs"].itertuples(index=False):
            base = ("id", types[r.obj], ids[r.obj])
            for kind, name in (("accession", r.accession), ("label", r.label)):
                g.add_edge(
                    base,
                    ("external", r.db_display_name, name),
                    kind="xref",
                    name_kind=kind,
                    releases=releases(r.first, r.last),
                )
        display = self.database_names
        for r in self.tables["synonyms"].itertuples(index=False):
            db = display.get(r.db_name, r.db_name)
            g.add_edge(
                ("external", db, r.label),
                ("external", db, r.synonym),
                kind="synonym",
                releases=releases(r.first, r.last),
            )
        return g


def assembly_key(assembly: str) -> str:
    """A comparable form of an assembly name: ``GRCh38``, ``grch38`` and ``38`` are the same assembly."""
    m = re.search(r"(\d+)$", assembly.strip())
    return m.group(1) if m else assembly.strip().lower()


def _opt(v: Any) -> int | None:
    return None if pd.isna(v) else int(v)


def _opt_float(v: Any) -> float | None:
    return None if pd.isna(v) else float(v)
