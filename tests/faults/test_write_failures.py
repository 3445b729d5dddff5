"""Write failures are clean: no space, read-only file system, permission denied give one line (exit 2) naming the
path, nothing half-written is left, and the previous good output survives. No crash on a full disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idtrack_core.io_errors import _Overlay

from .helpers import SIM, TARGET, error_line, leftovers, run_cli, tree


def harmonize(source: Path, home: Path, study: Path, out: Path, *more: object, prefix: list[str] | None = None):
    return run_cli(
        "harmonize", "--source", source, "--home", home, *SIM, *TARGET, "--study", f"s={study}", "--out", out, *more,
        prefix=prefix,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- no space left


def test_harmonize_on_a_full_tmpfs_fails_cleanly(tmpfs, sim_mirror, home_copy, studies):
    """The issue's case: ``--out`` on a 200 KB tmpfs used to end in a segmentation fault (rc 139)."""
    disk = tmpfs("200k")
    previous = disk / "atlas.h5ad"
    shutil.copyfile(studies["small"], previous)  # whatever was at --out before must survive
    before = previous.read_bytes()
    line = error_line(harmonize(sim_mirror, home_copy, studies["big"], previous))
    assert f"cannot write {previous}: no space left on device" in line
    assert "written before the failure" in line and "free there" in line
    assert previous.read_bytes() == before
    assert sorted(p.name for p in disk.iterdir()) == ["atlas.h5ad"]  # no temporary file left


def test_a_failed_atlas_keeps_the_previous_atlas(tmpfs, sim_mirror, home_copy, studies, tmp_path):
    """A tmpfs that holds one atlas but not two: the second harmonize fails and the first atlas is intact."""
    first = tmp_path / "first.h5ad"
    assert harmonize(sim_mirror, home_copy, studies["small"], first).returncode == 0
    disk = tmpfs(str(first.stat().st_size * 3 // 2))
    out = disk / "atlas.h5ad"
    assert harmonize(sim_mirror, home_copy, studies["small"], out).returncode == 0
    good = out.read_bytes()
    line = error_line(harmonize(sim_mirror, home_copy, studies["big"], out))
    assert "no space left on device" in line
    assert out.read_bytes() == good and ad.read_h5ad(out).n_obs == 20
    assert not leftovers(disk)


def test_extract_on_a_full_tmpfs_keeps_the_previous_extract(tmpfs, sim_mirror):
    disk = tmpfs("80k")
    out = disk / "extract"
    assert run_cli("extract", "--source", sim_mirror, *SIM, "--release", "1", "--out", out).returncode == 0
    before = tree(out)
    line = error_line(run_cli("extract", "--source", sim_mirror, *SIM, "--release", "3", "--out", out))
    assert f"cannot write {out}: no space left on device (needs " in line and "free there" in line
    assert tree(out) == before
    assert not leftovers(disk)


@pytest.mark.parametrize("size", ["16k", "64k", "200k", "1m"])
def test_the_merge_never_crashes_on_a_full_disk(size, tmpfs, studies):
    """Whenever the disk fills up (metadata, obs, X), the library raises OutputWriteError; HDF5 stays sane."""
    disk = tmpfs(size)
    script = (
        "from idtrack_core.harmonize.merge import layouts_by_var_names, merge_studies\n"
        "from idtrack_core.errors import OutputWriteError\n"
        f"layouts, var = layouts_by_var_names({{'a': {str(studies['big'])!r}, 'b': {str(studies['small'])!r}}})\n"
        "try:\n"
        f"    merge_studies(layouts, var, {str(disk / 'atlas.h5ad')!r}, chunk_cells=200)\n"
        "except OutputWriteError as exc:\n"
        "    print('refused:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # not 139 (SIGSEGV)
    assert "refused: cannot write" in proc.stdout and "no space left on device" in proc.stdout
    assert list(disk.iterdir()) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 64), st.binary(min_size=1, max_size=24)), max_size=30))
def test_the_overlay_reads_back_the_latest_writes(writes):
    """What HDF5 wrote after a failed write (kept in memory) reads back exactly, newest bytes winning."""
    overlay, model, written = _Overlay(), bytearray(96), bytearray(96)
    for start, data in writes:
        overlay.put(start, data)
        model[start : start + len(data)] = data
        written[start : start + len(data)] = b"\x01" * len(data)
    view = memoryview(bytearray(96))
    overlay.patch(0, view)
    assert bytes(b for b, w in zip(view, written, strict=True) if w) == bytes(
        b for b, w in zip(model, written, strict=True) if w
    )
    part = memoryview(bytearray(20))
    overlay.patch(30, part)
    assert all(part[i] == model[30 + i] for i in range(20) if written[30 + i])


# --------------------------------------------------------------------------------- read-only, no permission


def test_out_in_a_read_only_folder_fails_before_any_build(read_only, sim_mirror, studies, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "atlas.h5ad").write_bytes(b"previous atlas")
    view = read_only(folder)
    home = tmp_path / "home"
    line = error_line(harmonize(sim_mirror, home, studies["small"], view / "atlas.h5ad"))
    assert f"cannot write {view}: read-only file system" in line
    assert not home.exists()  # failed fast: nothing was built
    assert (folder / "atlas.h5ad").read_bytes() == b"previous atlas"


def test_out_without_permission_fails_before_any_build(no_permission, sim_mirror, studies, tmp_path):
    prefix, reason = no_permission
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "atlas.h5ad").write_bytes(b"previous atlas")
    folder.chmod(0o555)
    home = tmp_path / "home"
    try:
        line = error_line(harmonize(sim_mirror, home, studies["small"], folder / "atlas.h5ad", prefix=prefix))
    finally:
        folder.chmod(0o755)
    assert f"cannot write {folder}: {reason}" in line
    assert not home.exists()
    assert (folder / "atlas.h5ad").read_bytes() == b"previous atlas"


def test_empty_home_in_a_read_only_folder_fails_before_any_build(read_only, sim_mirror, tmp_path):
    folder = tmp_path / "homes"
    folder.mkdir()
    view = read_only(folder)
    line = error_line(run_cli("convert", "--source", sim_mirror, "--home", view / "home", *SIM, *TARGET, "SIMX1"))
    assert f"cannot write {view / 'home'} (to be created in {view}): read-only file system" in line
    assert list(folder.iterdir()) == []


def test_a_read_only_warm_home_is_used_and_kept(read_only, sim_mirror, home_copy, tmp_path):
    """A home holding what a command needs may be read-only (a shared cache); a command that must add to it fails
    with one line, and the home is unchanged."""
    before = tree(home_copy)
    view = read_only(home_copy)
    out = tmp_path / "ids.csv"
    ok = run_cli("convert", "--source", sim_mirror, "--home", view, *SIM, *TARGET, "SIMX1", "--output", out)
    assert ok.returncode == 0, ok.stderr
    assert out.read_text().splitlines()[1].startswith("SIMX1,1:1,")
    new_target = ["--to-release", "2", "--final-database", "ensembl_gene"]  # a new index must be built
    line = error_line(run_cli("convert", "--source", sim_mirror, "--home", view, *SIM, *new_target, "SIMX1"))
    assert f"cannot write {view}/versions/indexes" in line and "read-only file system" in line
    assert tree(home_copy) == before


def test_extract_out_in_a_read_only_folder(read_only, sim_mirror, tmp_path):
    folder = tmp_path / "extracts"
    folder.mkdir()
    view = read_only(folder)
    line = error_line(run_cli("extract", "--source", sim_mirror, *SIM, "--release", "3", "--out", view / "r3"))
    assert f"cannot write {view}: read-only file system" in line
    assert not os.listdir(folder)
