"""The idtrack-atlas command line as a user runs it (a real subprocess where start-up matters)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from idtrack_assets import console as cli
from idtrack_core.ensembl import read_extract

from conftest import HUMAN

SIM = ["--species", "idtrack_simulans", "--assembly", "SIM1"]


def test_simulate_releases_extract(tmp_path, capsys):
    mirror = tmp_path / "sim"
    assert cli.main(["simulate", "--out", str(mirror), "--genes", "200", "--releases", "3-5", "--seed", "4"]) == 0
    assert cli.main(["releases", "--source", str(mirror), *SIM]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out if line[:1].isdigit()] == ["3", "4", "5"]
    assert (
        cli.main(["extract", "--source", str(mirror), *SIM, "--release", "latest", "--out", str(tmp_path / "x")]) == 0
    )
    assert read_extract(str(tmp_path / "x"), verify=True).release == 5


def test_simulate_refuses_to_overwrite_and_bad_ranges(tmp_path, capsys):
    mirror = tmp_path / "sim"
    assert cli.main(["simulate", "--out", str(mirror), "--genes", "20", "--releases", "1-2"]) == 0
    capsys.readouterr()
    assert cli.main(["simulate", "--out", str(mirror), "--genes", "20", "--releases", "1-2"]) == 2
    assert "folder is not empty" in capsys.readouterr().err.strip()
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--out", str(tmp_path / "y"), "--releases", "a-b"])


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idtrack_assets.console", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def test_convert_cold_then_warm_home_30000_ids(human_home, tmp_path):
    """The first call fills --home (here already holding the extracts); later calls reuse everything."""
    ws = human_home[0]
    home = tmp_path / "home"
    shutil.copytree(ws.home, home)
    with gzip.open(HUMAN / "release-114/mysql/homo_sapiens_core_114_38/gene.txt.gz", "rt") as f:
        genes = [line.split("\t")[12] for line in f]
    ids = [*genes[:25_000], *(f"{g}.99" for g in genes[25_000:29_000]), *(f"junk{i}" for i in range(1000))]
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    args = [
        "convert",
        "--source",
        str(HUMAN),
        "--home",
        str(home),
        "--species",
        "homo_sapiens",
        "--assembly",
        "GRCh38",
        "--to-release",
        "114",
        "--final-database",
        "HGNC Symbol",
        "--input",
        str(tmp_path / "ids.txt"),
    ]
    cold = run_cli(*args, "--output", str(tmp_path / "cold.csv"), cwd=tmp_path)
    assert cold.returncode == 0, cold.stderr
    index_dirs = list((home / "versions" / "indexes").glob("*/*/*"))
    assert len(index_dirs) == 1
    stamp = (index_dirs[0] / "manifest.json").stat().st_mtime_ns
    warm = run_cli(*args, "--output", str(tmp_path / "warm.parquet"), cwd=tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert (index_dirs[0] / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    a = pd.read_csv(tmp_path / "cold.csv", keep_default_na=False)
    b = pd.read_parquet(tmp_path / "warm.parquet")
    assert len(a) == len(b) == 30_000
    assert list(a.columns[:7]) == [
        "query_id",
        "category",
        "target_ids",
        "ensembl_genes",
        "reason",
        "fallback",
        "matched_node",
    ]
    assert list(a["category"]) == list(b["category"].astype(str))
    assert (a.loc[a["query_id"].str.startswith("junk"), "reason"] == "no_corresponding").all()
    assert (a.loc[25_000:28_999, "match"] == "version_stripped").all()
    summary = warm.stderr.strip().splitlines()[-1]
    assert summary.startswith("30,000 ids: 1:1 ") and "no_corresponding 1,000" in summary


def test_convert_rebuilds_only_what_changed(tmp_path):
    """A changed release's files → that extract, the snapshot and the index are rebuilt; the others reused."""
    mirror = tmp_path / "sim"
    assert cli.main(["simulate", "--out", str(mirror), "--genes", "150", "--releases", "1-3"]) == 0
    home = tmp_path / "home"
    args = ["convert", "--source", str(mirror), "--home", str(home), *SIM, "--to-release", "3", "SIMG00000000001"]
    assert cli.main(args) == 0
    versions = home / "versions"

    def manifests() -> dict[str, dict[str, int]]:
        """Every version's manifest (by slot, then version) and its modification time."""
        out: dict[str, dict[str, int]] = {}
        for m in sorted(versions.glob("**/manifest.json")):
            slot = str(m.parent.parent.relative_to(versions))
            out.setdefault(slot, {})[m.parent.name] = m.stat().st_mtime_ns
        return out

    before = manifests()
    assert sorted(before) == [
        "extracts/idtrack_simulans/SIM1/1",
        "extracts/idtrack_simulans/SIM1/2",
        "extracts/idtrack_simulans/SIM1/3",
        "indexes/idtrack_simulans/SIM1",
        "snapshots/idtrack_simulans/SIM1",
    ]
    assert all(len(v) == 1 for v in before.values())
    assert cli.main(args) == 0
    assert manifests() == before  # nothing rebuilt, nothing rewritten

    meta = mirror / "release-2/mysql/idtrack_simulans_core_2_1/meta.txt.gz"
    data = gzip.decompress(meta.read_bytes()) + b"99\t1\tsample.note\tchanged\n"
    meta.write_bytes(gzip.compress(data))
    assert cli.main(args) == 0
    after = manifests()
    for slot, old in before.items():  # every old version is still there, untouched
        assert {v: after[slot][v] for v in old} == old, slot
    new = {slot: sorted(set(after[slot]) - set(old)) for slot, old in before.items()}
    assert {slot: len(v) for slot, v in new.items()} == {
        "extracts/idtrack_simulans/SIM1/1": 0,
        "extracts/idtrack_simulans/SIM1/2": 1,  # the changed release
        "extracts/idtrack_simulans/SIM1/3": 0,
        "indexes/idtrack_simulans/SIM1": 1,
        "snapshots/idtrack_simulans/SIM1": 1,
    }


def test_convert_errors_are_clear(human_home, tmp_path, capsys):
    assert cli.main(["convert", "--home", str(tmp_path / "empty"), *SIM, "--to-release", "latest", "X"]) == 2
    assert "no cached extracts" in capsys.readouterr().err
    home = human_home[0].home
    base = ["convert", "--source", str(HUMAN), "--home", home, "--species", "homo_sapiens", "--assembly", "GRCh38"]
    assert cli.main([*base, "--to-release", "114", "--final-database", "Nope DB", "TP53"]) == 2
    assert "unknown final database 'Nope DB'" in capsys.readouterr().err
    assert cli.main([*base, "--to-release", "113", "TP53"]) == 2
    assert "release 113 is not available for homo_sapiens GRCh38" in capsys.readouterr().err
