"""A seeded, simulated multi-release Ensembl mirror with ground truth.

:func:`simulate_mirror` writes a synthetic species, ``idtrack_simulans`` (assembly ``SIM1``), in the
Ensembl FTP dump layout read by :class:`idtrack_core.ensembl.DumpSource`, plus the true history of every
gene. It is the product's embedded default data and the ground truth of the conversion tests. The same
seed and parameters give byte-identical files.

Layout
------
``{out}/release-{R}/mysql/idtrack_simulans_core_{R}_1/`` for every release ``R`` of the range holds
``{table}.txt.gz`` for gene, transcript, translation, xref, object_xref, external_db, external_synonym,
stable_id_event, mapping_session and meta, and ``idtrack_simulans_core_{R}_1.sql.gz`` (the schema-115
CREATE TABLE statements). Stable IDs are ``SIMG``/``SIMT``/``SIMP`` + 11 digits, versions start at 1;
internal ids are 1..n per release in stable-ID order. Names: ``HGNC`` xrefs (accession ``HGNC:<n>``,
label = symbol; previous symbols and aliases as ``external_synonym``), ``EntrezGene`` xrefs (numeric
accession, label = symbol) and ``Clone_based_ensembl_gene`` xrefs (``AC900123.2``). ``stable_id_event``
records changes only and is cumulative: release R's database holds every session up to R.

What is simulated (rates: :class:`SimulationRates`)
-------------------------------------------------
births, retirements, version bumps, merges (``B.v → A.v+1`` and ``A.v → A.v+1``), splits (``A.v → A.v+1``
and ``A.v → C.1``), re-identifications (``A.v → NULL`` + ``NULL → N.1`` in ``stable_id_event``; the HGNC
record moves to N), symbol renames (the old symbol becomes a previous symbol), reuse of freed symbols by
another gene under a new HGNC accession, aliases (some shared by two genes), symbols differing only in case
between two genes (``SIMX5A`` / ``Simx5a``), clone-named genes, genes without any name, Entrez IDs,
1–3 transcripts per gene and translations of protein-coding transcripts (with their own events).

Ground truth (``{out}/ground_truth/``)
--------------------------------------
``genes.parquet``
    ``release, stable_id, version, biotype``: every gene of every release; sorted by release, stable_id.
``transitions.parquet``
    ``from_release, to_release, old_stable_id, old_version, new_stable_id, new_version, event`` for every
    consecutive pair: one row per gene alive at ``from_release`` (two for merges and splits, see above)
    plus one per birth (old side null). ``event`` ∈ {unchanged, version_bump, retirement, birth, merge,
    split, reid}; retirements have a null new side. Re-identification rows map the old ID to the new one
    although ``stable_id_event`` does not. Sorted by from_release, old_stable_id, new_stable_id (nulls
    last), event. Composing rows along releases gives the true answer for any pair of releases.
``names.parquet``
    ``release, stable_id, database, name, kind`` with ``kind`` ∈ {symbol, previous_symbol, alias,
    hgnc_accession, entrez_id, clone_name} and ``database`` the external_db display name (``HGNC Symbol``,
    ``NCBI gene (formerly Entrezgene)``, ``Clone-based (Ensembl)``); every name of every living gene
    (unnamed genes have no rows). Sorted by release, stable_id, kind, name.
``truth.json``
    seed, parameters, rates, species, assembly, releases, counts per event type (total and per transition).

:func:`read_ground_truth` loads these tables (optionally a subset of releases) and
:meth:`GroundTruth.correspondence` composes the transitions into the true mapping between any two releases.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from idtrack_core import __version__, storage
from idtrack_core.simulation.config import (
    ASSEMBLY,
    COUNT_KEYS,
    OLD_ASSEMBLY,
    OLD_ASSEMBLY_TREE,
    SCIENTIFIC_NAME,
    SPECIES,
    TRANSITION_EVENTS,
    SimulationRates,
    SimulationSummary,
)
from idtrack_core.simulation.dumps import DumpWriter, database_name
from idtrack_core.simulation.groundtruth import GROUND_TRUTH_DIR
from idtrack_core.simulation.model import GenomeModel
from idtrack_core.simulation.truth import TruthWriter

log = logging.getLogger(__name__)

TRUTH_FORMAT_VERSION = 1
_MAX_RELEASE = 99_999  # mapping_session.old_release is varchar(5)


def simulate_mirror(
    out: str,
    genes: int = 2000,
    releases: tuple[int, int] = (1, 10),
    seed: int = 0,
    rates: SimulationRates | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
    compresslevel: int = 6,
    on_release: Callable[[int], None] | None = None,
    assembly_switch: int | None = None,
) -> SimulationSummary:
    """Write a simulated multi-release Ensembl mirror with its ground truth to ``out``.

    Parameters
    ----------
    out
        Target folder: a local path (or any fsspec URL; non-local targets are generated locally, then
        uploaded with ``ground_truth/truth.json`` last).
    genes
        Number of genes alive in the first release; births keep the count near it afterwards.
    releases
        Inclusive range ``(first, last)`` of Ensembl release numbers; each gets one core database.
    seed
        Seed of the random generator (non-negative). Same seed and parameters → byte-identical files.
    rates
        Event probabilities; defaults to ``SimulationRates()``.
    overwrite
        Replace a non-empty ``out``; otherwise it is refused with ``FileExistsError``.
    progress
        Show a tqdm progress bar over releases (progress is always logged at INFO).
    compresslevel
        gzip level of the dump files (0–9).
    on_release
        Called with each release number once that release is generated (progress hooks; an exception
        aborts the run and leaves ``out`` untouched).
    assembly_switch
        A release at which the species moves from the older assembly ``SIM0`` to ``SIM1`` (like GRCh37 → GRCh38
        at Ensembl 76): earlier releases are ``idtrack_simulans_core_{R}_0`` databases on ``SIM0`` (coordinates
        shifted), and the gene set of the release before the switch is republished, frozen, for every later
        release in the older assembly's tree ``grch37/release-{R}/mysql/idtrack_simulans_core_{R}_0/`` (its
        history stops at the frozen release). ``truth.json`` describes it under ``assemblies``.

    Returns
    -------
    SimulationSummary
        What was written: species, assembly, releases, counts per event type, number of files.

    Raises
    ------
    ValueError
        Invalid parameters (``genes < 1``, empty or invalid release range, negative seed, …).
    FileExistsError
        ``out`` exists, is not empty and ``overwrite`` is false.
    """
    rates = SimulationRates() if rates is None else rates
    first, last = _validate(out, genes, releases, seed, rates, compresslevel)
    if assembly_switch is not None and not first < assembly_switch <= last:
        raise ValueError(f"assembly_switch must lie in {first + 1}..{last}, got {assembly_switch!r}")
    fs, path = storage.url_to_fs(str(out))
    local = storage.is_local(fs)
    if local:
        path = os.path.abspath(path)
        _check_local_target(path, overwrite)
        parent = os.path.dirname(path.rstrip(os.sep)) or "."
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(path.rstrip(os.sep))}.tmp-{uuid.uuid4().hex}")
        os.makedirs(tmp)
    else:
        _check_remote_target(fs, path, overwrite)
        tmp = tempfile.mkdtemp(prefix="idtrack-simulate-")
    try:
        counts = _generate(tmp, genes, first, last, seed, rates, compresslevel, progress, on_release, assembly_switch)
        files = sum(len(names) for _, _, names in os.walk(tmp))
        if local:
            _publish_local(tmp, path, overwrite)
        else:
            _publish_remote(fs, tmp, path, overwrite)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return SimulationSummary(
        out=str(out),
        species=SPECIES,
        assembly=ASSEMBLY,
        releases=tuple(range(first, last + 1)),
        counts=counts,
        files=files,
    )


# ------------------------------------------------------------------------------------- validation


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(
    out: object,
    genes: object,
    releases: object,
    seed: object,
    rates: object,
    compresslevel: object,
) -> tuple[int, int]:
    if not isinstance(out, str | os.PathLike) or not str(out).strip():
        raise ValueError(f"out must be a non-empty path or URL, got {out!r}")
    if not _is_int(genes) or genes < 1:  # type: ignore[operator]
        raise ValueError(f"genes must be an integer >= 1, got {genes!r}")
    if not isinstance(releases, tuple | list) or len(releases) != 2 or not all(_is_int(r) for r in releases):
        raise ValueError(f"releases must be a (first, last) pair of integers, got {releases!r}")
    first, last = releases
    if first < 1:
        raise ValueError(f"release numbers start at 1, got first release {first}")
    if last < first:
        raise ValueError(f"empty release range {first}..{last} (last < first)")
    if last > _MAX_RELEASE:
        raise ValueError(f"release numbers must be <= {_MAX_RELEASE}, got {last}")
    if not _is_int(seed) or seed < 0:  # type: ignore[operator]
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(rates, SimulationRates):
        raise ValueError(f"rates must be a SimulationRates, got {type(rates).__name__}")
    if not _is_int(compresslevel) or not 0 <= compresslevel <= 9:  # type: ignore[operator]
        raise ValueError(f"compresslevel must be an integer in 0..9, got {compresslevel!r}")
    return first, last


def _check_local_target(path: str, overwrite: bool) -> None:
    if os.path.isdir(path):
        if os.listdir(path) and not overwrite:
            raise FileExistsError(f"{path}: folder is not empty (pass overwrite=True to replace it)")
    elif os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path}: exists and is not a folder (pass overwrite=True to replace it)")


def _check_remote_target(fs: Any, path: str, overwrite: bool) -> None:
    if fs.exists(path) and fs.ls(path, detail=False) and not overwrite:
        raise FileExistsError(f"{path}: not empty (pass overwrite=True to replace it)")


# ------------------------------------------------------------------------------------- generation


def _generate(
    root: str,
    genes: int,
    first: int,
    last: int,
    seed: int,
    rates: SimulationRates,
    compresslevel: int,
    progress: bool,
    on_release: Callable[[int], None] | None,
    switch: int | None = None,
) -> dict[str, int]:
    started = time.perf_counter()
    model = GenomeModel(rates, seed, genes)
    model.populate(genes)
    dumps = DumpWriter(root, compresslevel)
    truth = TruthWriter(os.path.join(root, GROUND_TRUTH_DIR))
    per_transition: list[dict[str, Any]] = []
    per_release: list[dict[str, int]] = []
    bar = tqdm(total=last - first + 1, desc="simulating releases", unit="release", disable=not progress)
    try:
        for release in range(first, last + 1):
            assembly = assembly_of(release, switch)
            if release > first:
                transition = model.advance()
                dumps.add_session(release - 1, release, transition.events, assembly_of(release - 1, switch), assembly)
                truth.add_transition(release - 1, release, transition)
                per_transition.append({"from_release": release - 1, "to_release": release, "counts": transition.counts})
            view = model.view()
            dumps.write_release(release, view, assembly)
            if switch is not None and release == switch - 1:
                dumps.freeze(view, OLD_ASSEMBLY)
            truth.add_release(release, view)
            sizes = {
                "release": release,
                "genes": len(view.gene_ids),
                "transcripts": len(view.tx_ids),
                "translations": len(view.tl_ids),
            }
            per_release.append(sizes)
            log.info(
                "simulated %s: %d genes, %d transcripts, %d translations (%.1fs elapsed)",
                database_name(release, assembly),
                sizes["genes"],
                sizes["transcripts"],
                sizes["translations"],
                time.perf_counter() - started,
            )
            bar.update(1)
            if on_release is not None:
                on_release(release)
        for release in range(switch or last + 1, last + 1):
            dumps.write_frozen_release(release)
        dumps.close()
        truth.close()
    except BaseException:
        dumps.close_quietly()
        truth.close()
        raise
    finally:
        bar.close()
    counts = {k: model.counts[k] for k in COUNT_KEYS}
    document = {
        "format_version": TRUTH_FORMAT_VERSION,
        "producer": f"idtrack-atlas {__version__}",
        "generator": "idtrack_core.simulation.simulate_mirror",
        "seed": seed,
        "parameters": {
            "genes": genes,
            "releases": [first, last],
            "seed": seed,
            "compresslevel": compresslevel,
        },
        "rates": rates.as_dict(),
        "species": SPECIES,
        "scientific_name": SCIENTIFIC_NAME,
        "assembly": ASSEMBLY,
        "releases": list(range(first, last + 1)),
        "databases": [database_name(r, assembly_of(r, switch)) for r in range(first, last + 1)],
        "assemblies": _assemblies_document(first, last, switch),
        "transition_events": list(TRANSITION_EVENTS),
        "counts": counts,
        "transitions": per_transition,
        "objects_per_release": per_release,
    }
    with open(os.path.join(root, GROUND_TRUTH_DIR, "truth.json"), "wb") as f:
        f.write(storage.json_bytes(document))
    log.info("simulated %d releases of %s in %.1fs", last - first + 1, SPECIES, time.perf_counter() - started)
    return counts


def assembly_of(release: int, switch: int | None) -> str:
    """The assembly of a release of the main tree."""
    return OLD_ASSEMBLY if switch is not None and release < switch else ASSEMBLY


def _assemblies_document(first: int, last: int, switch: int | None) -> dict[str, Any]:
    """truth.json's ``assemblies``: which releases each assembly has, and the frozen older tree."""
    if switch is None:
        return {ASSEMBLY: {"releases": list(range(first, last + 1))}}
    return {
        OLD_ASSEMBLY: {
            "releases": list(range(first, switch)),
            "frozen": {"tree": OLD_ASSEMBLY_TREE, "releases": list(range(switch, last + 1)), "as_of": switch - 1},
        },
        ASSEMBLY: {"releases": list(range(switch, last + 1))},
    }


# ------------------------------------------------------------------------------------ publication


def _publish_local(tmp: str, path: str, overwrite: bool) -> None:
    """Rename the finished mirror into place (moving a replaced ``out`` aside first)."""
    _check_local_target(path, overwrite)
    if not os.path.lexists(path):
        os.replace(tmp, path)
        return
    old = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.old-{uuid.uuid4().hex}")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.remove(old)


def _publish_remote(fs: Any, tmp: str, path: str, overwrite: bool) -> None:
    """Upload to an fsspec target; ``ground_truth/truth.json`` goes last and marks completion."""
    _check_remote_target(fs, path, overwrite)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    marker = os.path.join(tmp, GROUND_TRUTH_DIR, "truth.json")
    files = sorted(os.path.join(d, n) for d, _, names in os.walk(tmp) for n in names)
    files.remove(marker)
    for local in [*files, marker]:
        rel = os.path.relpath(local, tmp).replace(os.sep, "/")
        target = f"{path.rstrip('/')}/{rel}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(local, target)
