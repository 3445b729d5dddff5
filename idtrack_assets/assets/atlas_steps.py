"""The steps of an atlas asset: check the plan, size and write one block per study, finalize (DESIGN §6–7).

Each atlas (``atlas_union``, ``atlas_intersect``) is a graph-backed asset whose ops run as separate steps, so an
executor that spreads steps over workers (multiprocess, Celery, Kubernetes jobs) writes the studies' blocks in
parallel::

    start ─► size[study] … ─► layout ─► block[study] … ─► finalize

- ``start`` re-checks, before anything is written, that every study the plan includes still passes its gates with
  the matching (and file) it was planned from (:func:`~idtrack_core.harmonize.admission.check_plan_current`), and
  fixes the atlas version. For a Zarr atlas that does not exist yet it fans out one task per study.
- ``size`` / ``block``: :func:`~idtrack_core.harmonize.zarr_atlas.size_block` and
  :func:`~idtrack_core.harmonize.zarr_atlas.write_block` of one study.
- ``layout``: :func:`~idtrack_core.harmonize.zarr_atlas.start_store` inside the atlas's version folder.
- ``finalize`` builds the version: it completes and publishes the Zarr store, or merges the ``.h5ad`` (the default
  format, written study by study in this one step); the version's manifest is written last.

Values passed between the steps go through the default ``io_manager``
(:class:`~idtrack_assets.io_managers.StepIOManager`: pickles under the storage root), so the steps share nothing but
the storage.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from idtrack_assets.assets._common import refused_as_failure, versioned
from idtrack_assets.resources import AtlasSettings, AtlasStorage, StudyRegistryResource
from idtrack_core import storage
from idtrack_core.harmonize.admission import check_plan_current
from idtrack_core.harmonize.gates import Thresholds
from idtrack_core.harmonize.merge import StudyLayout, merge_studies
from idtrack_core.harmonize.pipeline import atlas_record
from idtrack_core.harmonize.plan import Mode, atlas_var, read_plan
from idtrack_core.harmonize.registry import study_file_identity
from idtrack_core.harmonize.zarr_atlas import (
    BlockSize,
    BlockWritten,
    ZarrLayout,
    finish_store,
    size_block,
    start_store,
    write_block,
)
from idtrack_core.provenance import PROVENANCE_KEY
from idtrack_core.versions import Handle


def study_thresholds(
    registry: StudyRegistryResource, settings: AtlasSettings, studies: Mapping[str, object]
) -> dict[str, Thresholds]:
    """Each study's gate limits: the settings', with the registry's per-study overrides."""
    entries = registry.studies()
    return {s: settings.thresholds(entries.get(s)) for s in studies}


@dataclass(frozen=True, eq=False)
class AtlasJob:
    """What every step of one atlas build needs: the checked plan's studies, the version and its provenance.

    Attributes
    ----------
    mode, atlas_format, chunk_entries, obs_columns
        What is built (the settings at ``start``).
    slot, version
        Where the version goes in the store; ``exists`` when it was already built (nothing to write).
    record
        The atlas's provenance record.
    layouts
        Every included study's layout, in atlas order.
    var
        The atlas ``var``.
    """

    mode: Mode
    atlas_format: str
    chunk_entries: int
    obs_columns: tuple[str, ...]
    slot: str
    version: str
    exists: bool
    record: dict[str, Any]
    layouts: tuple[StudyLayout, ...]
    var: pd.DataFrame

    @property
    def file_name(self) -> str:
        """The atlas inside its version folder: ``union.h5ad``, ``intersect.zarr``."""
        return f"{self.mode}.{self.atlas_format}"

    @property
    def blocks(self) -> bool:
        """Whether the atlas is written block by block (a Zarr atlas not built yet)."""
        return self.atlas_format == "zarr" and not self.exists


def start_job(
    mode: Mode,
    plan_handle: Handle,
    study_matchings: dict[str, pd.DataFrame],
    registry: StudyRegistryResource,
    atlas_storage: AtlasStorage,
    settings: AtlasSettings,
) -> AtlasJob:
    """Check that the plan still holds for every study (refused as a failure naming the study and the check), then
    fix the atlas version."""
    opts = atlas_storage.storage_options
    plan, _ = read_plan(plan_handle.url, **opts)
    planned = plan_handle.manifest(**opts)["provenance"]
    urls = {s: registry.entry(s).url for s in planned["studies"]}
    files = {s: study_file_identity(url, registry.storage_options) for s, url in urls.items()}
    with refused_as_failure():
        limits = study_thresholds(registry, settings, study_matchings)
        check_plan_current(planned["studies"], plan.excluded_studies, study_matchings, limits, files)
    version, record = atlas_record(
        planned, mode, settings.obs_columns, settings.var_names, settings.atlas_format, settings.zarr_chunk_entries
    )
    slot = f"atlases/{mode}"
    return AtlasJob(
        mode=mode,
        atlas_format=settings.atlas_format,
        chunk_entries=settings.zarr_chunk_entries,
        obs_columns=tuple(settings.obs_columns),
        slot=slot,
        version=version,
        exists=atlas_storage.store.find(slot, version) is not None,
        record=record,
        layouts=tuple(plan.layouts(mode, urls)),
        var=atlas_var(plan.var_for(mode), settings.var_names),
    )


def mapping_key(position: int, study: str) -> str:
    """A dynamic-output key for a study (Dagster allows letters, digits and ``_``; the position keeps it unique)."""
    return f"{position:03d}_{re.sub(r'[^A-Za-z0-9_]', '_', study)}"


def write_version(
    job: AtlasJob, layout: ZarrLayout | None, written: list[BlockWritten], atlas_storage: AtlasStorage
) -> Handle:
    """Build (or reuse) the atlas version: publish the Zarr store laid out and written by the blocks, or merge the
    ``.h5ad``; the manifest is written last."""
    opts = atlas_storage.storage_options
    uns = {PROVENANCE_KEY: job.record}

    def write(url: str) -> dict:
        out = storage.join(url, job.file_name)
        if job.atlas_format == "zarr":
            if layout is None:
                raise dg.Failure(f"atlas {job.slot} version {job.version} has no layout: its blocks were not written")
            stored = finish_store(layout, written, uns, opts)
            result, file = stored.merge, {"name": job.file_name, "format": "zarr", "sha256": stored.sha256}
            file["objects"] = dict(sorted(stored.objects.items()))
        else:
            result = merge_studies(list(job.layouts), job.var, out, job.obs_columns, storage_options=opts, uns=uns)
            file = {"name": job.file_name, "sha256": storage.file_sha256(out, **opts)}
        shape = {"n_obs": result.n_obs, "n_vars": result.n_vars, "nnz": result.nnz, "dtype": str(result.dtype)}
        cells = dict(result.cells_per_study)
        return {"format_version": 1, "file": file, **shape, "cells_per_study": cells, "provenance": job.record}

    return atlas_storage.store.build(job.slot, job.version, write)


def atlas_metadata(handle: Handle, atlas_storage: AtlasStorage) -> dict:
    """What the UI shows of an atlas version."""
    m = handle.manifest(**atlas_storage.storage_options)
    return {
        "atlas": dg.MetadataValue.path(handle.file(m["file"]["name"])),
        **{k: m[k] for k in ("n_obs", "n_vars", "nnz", "dtype")},
        "cells_per_study": dg.MetadataValue.json(m["cells_per_study"]),
        "provenance": dg.MetadataValue.json(m["provenance"]),
    }


def atlas_graph(mode: Mode, description: str, **asset_args: Any) -> dg.AssetsDefinition:
    """The graph-backed asset ``atlas_{mode}`` (its handle stored by the ``handle_io_manager``): its ops, named after
    it, composed as in the module docstring; ``asset_args`` are the asset's (group, kinds, code version, …)."""

    @dg.op(name=f"atlas_{mode}_start", out={"job": dg.Out(), "studies": dg.DynamicOut()})
    def start(
        harmonization_plan: Handle,
        study_matchings: dict[str, pd.DataFrame],
        study_registry: StudyRegistryResource,
        atlas_storage: AtlasStorage,
        atlas_settings: AtlasSettings,
    ):
        """Re-check the plan against every study's current matching and file; one task per study to write."""
        job = start_job(mode, harmonization_plan, study_matchings, study_registry, atlas_storage, atlas_settings)
        yield dg.Output(job, "job")
        for i, layout in enumerate(job.layouts if job.blocks else ()):
            yield dg.DynamicOutput(layout, mapping_key=mapping_key(i, layout.name), output_name="studies")

    @dg.op(name=f"atlas_{mode}_size")
    def size(job: AtlasJob, study: StudyLayout, atlas_storage: AtlasStorage) -> BlockSize:
        """Check one study's file and count the values its rows hold in the atlas."""
        return size_block(study, len(job.var), job.obs_columns, atlas_storage.storage_options)

    @dg.op(name=f"atlas_{mode}_layout", out={"layout": dg.Out(), "blocks": dg.DynamicOut()})
    def layout(context: dg.OpExecutionContext, job: AtlasJob, sizes: list[BlockSize], atlas_storage: AtlasStorage):
        """Lay the atlas out and create its empty store in the version folder; one block per study."""
        if not job.blocks:
            yield dg.Output(None, "layout")
            return
        out = storage.join(atlas_storage.store.version_url(job.slot, job.version), job.file_name)
        opts = atlas_storage.storage_options
        laid = start_store(out, job.layouts, sizes, job.var, job.obs_columns, opts, job.chunk_entries, context.run_id)
        yield dg.Output(laid, "layout", metadata={"n_obs": laid.n_obs, "n_vars": laid.n_vars, "nnz": laid.nnz})
        for i, b in enumerate(laid.blocks):
            yield dg.DynamicOutput(b.name, mapping_key=mapping_key(i, b.name), output_name="blocks")

    @dg.op(name=f"atlas_{mode}_block")
    def block(laid: ZarrLayout, study: str, atlas_storage: AtlasStorage) -> BlockWritten:
        """Write one study's rows into the store."""
        return write_block(laid, study, atlas_storage.storage_options)

    @dg.op(name=f"atlas_{mode}_finalize", out=dg.Out(io_manager_key="handle_io_manager"))
    def finalize(
        job: AtlasJob, laid: ZarrLayout | None, written: list[BlockWritten], atlas_storage: AtlasStorage
    ) -> dg.Output[Handle]:
        """Publish the atlas version (Zarr: shared chunks, row pointers, uns; h5ad: the merge), manifest last."""
        handle = write_version(job, laid, written, atlas_storage)
        return versioned(handle, atlas_metadata(handle, atlas_storage))

    args = dict(asset_args)
    group_name = args.pop("group_name", None)
    out = dg.AssetOut(io_manager_key="handle_io_manager", description=description, **args)

    @dg.graph_multi_asset(name=f"atlas_{mode}_steps", outs={f"atlas_{mode}": out}, group_name=group_name)
    def atlas(harmonization_plan: Handle, study_matchings: dict[str, pd.DataFrame]) -> Handle:
        job, studies = start(harmonization_plan, study_matchings)
        sizes = studies.map(lambda study: size(job, study)).collect()
        laid, blocks = layout(job, sizes)
        written = blocks.map(lambda study: block(laid, study)).collect()
        return finalize(job, laid, written)

    return atlas
