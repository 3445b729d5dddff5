"""Resources: where data lives, where Ensembl comes from, the study registry and the atlas settings.

Every environment-specific value is read here, from environment variables, in :func:`resources_from_env`:

| variable | meaning | default |
|---|---|---|
| ``IDTRACK_HOME`` | home folder (demo data, default storage) | ``.idtrack`` |
| ``IDTRACK_STORAGE`` | storage root of all assets: a folder or ``s3://bucket/prefix`` | ``{home}/storage`` |
| ``IDTRACK_S3_ENDPOINT_URL`` | S3 endpoint (MinIO, moto, …) | AWS |
| ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` | S3 credentials (secrets: read through ``EnvVar``) | ambient |
| ``IDTRACK_SOURCE`` | Ensembl dump root (path, http(s), s3) or ``mysql://user@host:port`` | the demo mirror |
| ``IDTRACK_MYSQL_PASSWORD`` | MySQL password (secret) | none |
| ``IDTRACK_SPECIES`` / ``IDTRACK_ASSEMBLY`` | species production name / assembly | demo species |
| ``IDTRACK_STUDIES`` | study registry (YAML/CSV) or folder/prefix of ``.h5ad`` | the demo studies |
| ``IDTRACK_TO_RELEASE`` / ``IDTRACK_FINAL_DATABASE`` | conversion target | ``latest`` / ``HGNC Symbol`` |
| ``IDTRACK_VAR_NAMES`` | atlas var names: ``ensembl`` or ``symbol`` (IDs in ``var["ensembl_id"]``) | ``ensembl`` |
| ``IDTRACK_ATLAS_FORMAT`` | ``h5ad`` (one file) or ``zarr`` (a store written one block per study) | ``h5ad`` |
| ``IDTRACK_ZARR_CHUNK_ENTRIES`` | chunk length of a Zarr atlas's ``X/data`` and ``X/indices`` | 1048576 |

The executor (where the steps run: in process, several processes, Celery workers) is chosen in
:mod:`idtrack_assets.executors` (``IDTRACK_EXECUTOR``).
"""

import os
from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg

from idtrack_core import storage
from idtrack_core.convert import ConversionTarget
from idtrack_core.demo_data import DEMO_ASSEMBLY, DEMO_SPECIES, ensure_demo
from idtrack_core.ensembl import EnsemblSource, open_source
from idtrack_core.harmonize.gates import Thresholds
from idtrack_core.harmonize.plan import HarmonizationPolicy
from idtrack_core.harmonize.registry import StudyEntry, load_registry
from idtrack_core.harmonize.zarr_atlas import CHUNK_ENTRIES
from idtrack_core.versions import VersionedStore
from idtrack_core.workspace import Workspace


class AtlasStorage(dg.ConfigurableResource):
    """Storage root of every asset: a local folder (default) or ``s3://bucket/prefix`` (through s3fs)."""

    root: str
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    @property
    def storage_options(self) -> dict[str, Any]:
        if not self.root.startswith("s3://"):
            return {}
        opts: dict[str, Any] = {}
        if self.s3_endpoint_url:
            opts["client_kwargs"] = {"endpoint_url": self.s3_endpoint_url}
        if self.aws_access_key_id:
            opts["key"] = self.aws_access_key_id
        if self.aws_secret_access_key:
            opts["secret"] = self.aws_secret_access_key
        return opts

    def url(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    @property
    def store(self) -> VersionedStore:
        """The versioned store (versions, pointers, leases) under the root."""
        return VersionedStore(self.root, self.storage_options)

    def workspace(self, species: str, assembly: str | None) -> Workspace:
        """The extracts, snapshots and indexes of one species/assembly under the root."""
        return Workspace(self.root, species, assembly, self.storage_options)


class EnsemblSourceResource(dg.ConfigurableResource):
    """Where Ensembl core tables come from; an empty ``url`` means the embedded simulated demo mirror."""

    url: str = ""
    species: str = DEMO_SPECIES
    assembly: str | None = DEMO_ASSEMBLY
    home: str = ".idtrack"
    mysql_password: str | None = None
    s3_endpoint_url: str | None = None

    def open(self) -> EnsemblSource:
        if not self.url:
            return open_source(ensure_demo(self.home).mirror)
        if self.url.startswith("mysql://"):
            return open_source(self.url, password=self.mysql_password)
        opts = {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} if self.s3_endpoint_url else {}
        return open_source(self.url, storage_options=opts) if opts else open_source(self.url)


class StudyRegistryResource(dg.ConfigurableResource):
    """The studies to harmonize: a registry file or a watched folder/prefix; empty → the demo studies."""

    location: str = ""
    home: str = ".idtrack"
    s3_endpoint_url: str | None = None

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} if self.s3_endpoint_url else {}

    def studies(self) -> dict[str, StudyEntry]:
        """Every registered study, by name."""
        location = self.location or ensure_demo(self.home).registry
        return load_registry(location, self.storage_options)

    def entry(self, study: str) -> StudyEntry:
        """One registered study (a clear failure when it left the registry)."""
        studies = self.studies()
        if study not in studies:
            raise dg.Failure(f"study {study!r} is not in the registry any more (known: {', '.join(sorted(studies))})")
        return studies[study]


class AtlasSettings(dg.ConfigurableResource):
    """Conversion target, harmonization policies and the quality gates (per-study overrides in the registry)."""

    to_release: str = "latest"
    final_database: str = "HGNC Symbol"
    from_release: int | None = None
    strategy: str = "best"
    one_to_many: str = "collapse"
    many_to_one: str = "sum"
    keep_consistent_failures: bool = True
    max_failure_rate: float = 0.2
    max_ambiguity_rate: float = 0.05
    max_collisions: int = 50
    obs_columns: list[str] = ["cell_type", "donor"]
    var_names: str = "ensembl"
    """The atlases' var names: ``ensembl`` (gene IDs) or ``symbol`` (final-database names, made unique)."""
    atlas_format: Literal["h5ad", "zarr"] = "h5ad"
    zarr_chunk_entries: int = CHUNK_ENTRIES

    def target(self) -> ConversionTarget:
        """The conversion target as configured (``"latest"`` is resolved by the resolution index, against its
        snapshot's releases)."""
        to_release = "latest" if self.to_release == "latest" else int(self.to_release)
        return ConversionTarget(to_release, self.final_database, self.from_release, self.strategy)  # type: ignore[arg-type]

    def policy(self) -> HarmonizationPolicy:
        """The 1→n / n→1 policies."""
        return HarmonizationPolicy(self.one_to_many, self.many_to_one, self.keep_consistent_failures)  # type: ignore[arg-type]

    def thresholds(self, entry: StudyEntry | None = None) -> Thresholds:
        """The gate limits for all studies, or for one registered study (its overrides applied)."""
        defaults = Thresholds(self.max_failure_rate, self.max_ambiguity_rate, self.max_collisions)
        return entry.gates(defaults) if entry else defaults


def _secret(env: Mapping[str, str], name: str) -> Any:
    """An ``EnvVar`` (resolved at run time, never shown) when the variable is set, else None."""
    return dg.EnvVar(name) if env.get(name) else None


def resources_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resources of this deployment, from environment variables (see module docstring)."""
    env = os.environ if env is None else env
    home = os.path.abspath(env.get("IDTRACK_HOME", ".idtrack"))
    endpoint = env.get("IDTRACK_S3_ENDPOINT_URL") or None
    source_url = env.get("IDTRACK_SOURCE", "")
    return {
        "atlas_storage": AtlasStorage(
            root=env.get("IDTRACK_STORAGE", os.path.join(home, "storage")),
            s3_endpoint_url=endpoint,
            aws_access_key_id=_secret(env, "AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_secret(env, "AWS_SECRET_ACCESS_KEY"),
        ),
        "ensembl_source": EnsemblSourceResource(
            url=source_url,
            species=env.get("IDTRACK_SPECIES", DEMO_SPECIES if not source_url else "homo_sapiens"),
            assembly=env.get("IDTRACK_ASSEMBLY", DEMO_ASSEMBLY if not source_url else "") or None,
            home=home,
            mysql_password=_secret(env, "IDTRACK_MYSQL_PASSWORD"),
            s3_endpoint_url=endpoint,
        ),
        "study_registry": StudyRegistryResource(
            location=env.get("IDTRACK_STUDIES", ""), home=home, s3_endpoint_url=endpoint
        ),
        "atlas_settings": AtlasSettings(
            to_release=env.get("IDTRACK_TO_RELEASE", "latest"),
            final_database=env.get("IDTRACK_FINAL_DATABASE", "HGNC Symbol"),
            var_names=env.get("IDTRACK_VAR_NAMES", "ensembl"),
            atlas_format=env.get("IDTRACK_ATLAS_FORMAT", "h5ad"),
            zarr_chunk_entries=int(env.get("IDTRACK_ZARR_CHUNK_ENTRIES", CHUNK_ENTRIES)),
        ),
    }
