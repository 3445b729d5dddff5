"""The embedded default: a simulated mirror and three demo studies, generated into a home folder on first use.

``{home}/demo/mirror`` is a seeded simulated Ensembl mirror (species ``idtrack_simulans``); the studies are
``.h5ad`` files whose features name simulated genes in different styles, as real studies do:

- ``ids_r2``: unversioned gene IDs of release 2;
- ``symbols_r4``: HGNC symbols of release 4, some previous symbols and aliases, and a few junk names;
- ``versioned_r6``: versioned gene IDs of the latest release.

All three carry the same ERCC spike-ins (which fail conversion consistently). ``{home}/demo/studies.yaml``
registers them. Same seed → same files.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml
from anndata.io import write_elem

from idtrack_core.io_errors import h5_output, writing
from idtrack_core.simulation import read_ground_truth, simulate_mirror

log = logging.getLogger(__name__)
DEMO_SPECIES, DEMO_ASSEMBLY = "idtrack_simulans", "SIM1"
SPIKE_INS = [f"ERCC-{i:05d}" for i in (2, 3, 4, 9, 12)]


@dataclass(frozen=True)
class DemoData:
    """Where the embedded default data lives."""

    home: str
    mirror: str
    registry: str
    species: str = DEMO_SPECIES
    assembly: str = DEMO_ASSEMBLY


def ensure_demo(home: str, genes: int = 3000, releases: tuple[int, int] = (1, 6), seed: int = 0) -> DemoData:
    """Generate the demo mirror and studies under ``home`` unless they are already there."""
    root = Path(home) / "demo"
    mirror, registry = root / "mirror", root / "studies.yaml"
    if not (mirror / "ground_truth" / "truth.json").exists():
        log.info("generating the demo mirror (%d genes, releases %d-%d) in %s", genes, *releases, mirror)
        simulate_mirror(str(mirror), genes=genes, releases=releases, seed=seed, overwrite=True)
    if not registry.exists():
        _write_studies(root, str(mirror), releases, seed)
    return DemoData(str(Path(home)), str(mirror), str(registry))


def _write_studies(root: Path, mirror: str, releases: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = read_ground_truth(mirror)
    names, genes = truth.names, truth.genes
    first, last = releases
    early = min(first + 1, last)
    middle = min(first + 3, last)
    ids = genes.loc[genes["release"] == early, "stable_id"].astype(str).to_numpy()
    at_middle = names[names["release"] == middle]
    symbols = at_middle.loc[at_middle["kind"] == "symbol", "name"].astype(str).to_numpy()
    other = at_middle.loc[at_middle["kind"].isin(["previous_symbol", "alias"]), "name"].astype(str).unique()
    latest = genes[genes["release"] == last]
    versioned = (latest["stable_id"].astype(str) + "." + latest["version"].astype(str)).to_numpy()
    features = {
        "ids_r2": _sample(rng, ids, 1500),
        "symbols_r4": [*_sample(rng, symbols, 1400), *_sample(rng, np.asarray(sorted(other)), 30)]
        + [f"NOT_A_GENE_{i}" for i in range(20)],
        "versioned_r6": _sample(rng, versioned, 1600),
    }
    cells = {"ids_r2": 400, "symbols_r4": 300, "versioned_r6": 500}
    studies = {}
    for name, feats in features.items():
        feats = list(dict.fromkeys([*feats, *SPIKE_INS]))
        path = root / f"{name}.h5ad"
        _write_h5ad(path, _study(rng, name, feats, cells[name]))
        studies[name] = {"path": path.name}
    tmp = root / f".studies.yaml.tmp-{uuid.uuid4().hex}"
    tmp.write_text(yaml.safe_dump({"studies": studies}, sort_keys=True))
    os.replace(tmp, root / "studies.yaml")


def _sample(rng: np.random.Generator, values: np.ndarray, n: int) -> list[str]:
    values = np.asarray(sorted(set(values.tolist())), dtype=object)
    return [str(v) for v in rng.choice(values, size=min(n, len(values)), replace=False)]


def _study(rng: np.random.Generator, name: str, features: list[str], n_cells: int) -> ad.AnnData:
    x = sp.random(n_cells, len(features), density=0.08, format="csr", random_state=rng, dtype=np.float32)
    x.data = np.ceil(x.data * 20).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["T cell", "B cell", "myeloid", "epithelial"], n_cells)),
            "donor": pd.Categorical(rng.choice([f"{name}_d{i}" for i in range(3)], n_cells)),
        },
        index=pd.Index([f"cell{i:05d}" for i in range(n_cells)]),
    )
    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(features)))


def _write_h5ad(path: Path, adata: ad.AnnData) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        with writing(str(path)):
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5_output(str(tmp), str(path)) as (h5, _):  # a full disk gives an error, not a crash
                write_elem(h5, "/", adata)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
