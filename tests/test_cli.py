"""The idtrack-atlas command line as a user runs it (a real subprocess where start-up matters)."""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import idtrack_core
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
    shutil.copytree(ws.home, home, ignore=shutil.ignore_patterns("indexes"))  # other tests may have built one
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
    # not a terminal: the index build (tens of seconds) shows as log lines, while it runs and when done
    building = [line for line in cold.stderr.splitlines() if "progress: building the resolution index" in line]
    assert len(building) >= 2 and " done in " in building[-1], cold.stderr
    index_dirs = list((home / "versions" / "indexes").glob("*/*/*"))
    assert len(index_dirs) == 1
    stamp = (index_dirs[0] / "manifest.json").stat().st_mtime_ns
    warm = run_cli("--quiet", *args, "--output", str(tmp_path / "warm.parquet"), cwd=tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert "idtrack_core.progress" not in warm.stderr
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
    assert (tmp_path / "cold.csv").read_bytes() == b.to_csv(index=False).encode()  # CSV as pandas writes it


HEAVY = ("pandera", "networkx", "dagster", "fsspec")
REPORT_MODULES = f"""
import json, sys
from idtrack_assets.console import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print("MODULES " + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def test_warm_convert_imports_no_pandera_networkx_dagster_or_fsspec(human_home, tmp_path):
    """With the home filled, ``convert`` only opens the index: the validation, graph and platform libraries stay
    unimported (they cost 1–2 s of start-up), and so does fsspec (≈0.1 s) when the home and source are local."""
    home = tmp_path / "home"
    shutil.copytree(human_home[0].home, home)
    args = ["convert", "--source", str(HUMAN), "--home", str(home), "--species", "homo_sapiens"]
    args += ["--assembly", "GRCh38", "--to-release", "114", "--final-database", "HGNC Symbol", "TP53", "tp53"]
    cold = run_cli(*args, cwd=tmp_path)
    assert cold.returncode == 0, cold.stderr
    warm = subprocess.run(
        [sys.executable, "-c", REPORT_MODULES, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout and "TP53" in warm.stdout
    [line] = [x for x in warm.stderr.splitlines() if x.startswith("MODULES ")]
    assert line == "MODULES []", line


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
        "extracts/idtrack_simulans/1/1",
        "extracts/idtrack_simulans/1/2",
        "extracts/idtrack_simulans/1/3",
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
        "extracts/idtrack_simulans/1/1": 0,
        "extracts/idtrack_simulans/1/2": 1,  # the changed release
        "extracts/idtrack_simulans/1/3": 0,
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


# ------------------------------------------------------------------------------------------- the curator's view
@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory):
    """A small embedded default: simulated mirror (300 genes, releases 1-3) and its three demo studies."""
    from idtrack_core.demo_data import ensure_demo

    return ensure_demo(str(tmp_path_factory.mktemp("demo")), genes=300, releases=(1, 3))


def harmonize_args(demo, home: Path, out: Path, *extra: str) -> list[str]:
    return [
        "harmonize",
        "--source",
        demo.mirror,
        "--home",
        str(home),
        *SIM,
        "--to-release",
        "latest",
        "--final-database",
        "HGNC Symbol",
        "--registry",
        demo.registry,
        "--out",
        str(out),
        *extra,
    ]


def test_harmonize_report_dir_lists_every_failed_ambiguous_and_colliding_feature(small_demo, tmp_path, capsys, caplog):
    """--report DIR writes the report with one drill-down per study and kind; the command prints the counts and
    where they are; --var-names symbol gives unique names with the Ensembl ID in a column; n→1 sums are named."""
    import anndata as ad

    from idtrack_core.harmonize.drilldown import drilldowns
    from idtrack_core.harmonize.pipeline import match_studies
    from idtrack_core.harmonize.registry import load_registry
    from idtrack_core.workspace import Workspace, index_with_home

    report, atlas = tmp_path / "report", tmp_path / "atlas.h5ad"
    args = harmonize_args(small_demo, tmp_path / "home", atlas, "--report", str(report), "--var-names", "symbol")
    with caplog.at_level("WARNING", logger="idtrack_core"):
        assert cli.main(args) == 0
    err = capsys.readouterr().err
    studies = {n: e.url for n, e in load_registry(small_demo.registry).items()}
    index = index_with_home(Workspace(str(tmp_path / "home"), "idtrack_simulans", "SIM1"), None, _latest())
    _, matchings, _ = match_studies(studies, index.lookup)
    expected = drilldowns(matchings)
    assert "drill-downs (features): failed · ambiguous · collisions" in err
    assert f"listed in {report}/studies/<study>/{{failed,ambiguous,collisions}}.csv" in err
    for study in studies:
        counts = [int((expected[k]["study"] == study).sum()) for k in ("failed", "ambiguous", "collisions")]
        assert f"  {study}: {counts[0]:,} · {counts[1]:,} · {counts[2]:,}" in err
        for kind, table in expected.items():
            on_disk = pd.read_csv(report / "studies" / study / f"{kind}.csv", keep_default_na=False)
            assert list(on_disk["feature"]) == list(table.loc[table["study"] == study, "feature"])
            assert list(on_disk.columns) == ["feature", "reason", "candidates", "targets", "evidence"]
    assert (expected["failed"]["study"] == "symbols_r4").sum() > 0 and (expected["collisions"]["study"] != "").any()
    summary = (report / "summary.md").read_text()
    assert "](studies/symbols_r4/failed.csv)" in summary and (report / "rates.png").exists()
    assert not (report / "data_docs").exists()  # Data Docs are the platform's

    var = ad.read_h5ad(atlas, backed="r").var
    assert var.index.is_unique and var.index.name == "symbol"
    genes = var["ensembl_id"].dropna()
    assert genes.str.startswith("SIMG").all() and len(genes) == len(var) - 5  # the five ERCC spike-ins have none
    warned = [r.getMessage() for r in caplog.records if "reached by several features" in r.getMessage()]
    assert {w.split(":")[0] for w in warned} == {f"study {s}" for s in set(expected["collisions"]["study"])}
    (ids_r2,) = [w for w in warned if w.startswith("study ids_r2:")]
    pair = expected["collisions"].loc[expected["collisions"]["study"] == "ids_r2", "feature"]
    assert len(pair) == 2 and all(f in ids_r2 for f in pair) and "summed" in ids_r2


def _latest():
    from idtrack_core.convert import ConversionTarget

    return ConversionTarget("latest", "HGNC Symbol")


def test_harmonize_report_dir_is_written_when_a_gate_fails_and_never_over_other_files(small_demo, tmp_path, capsys):
    report = tmp_path / "report"
    args = harmonize_args(small_demo, tmp_path / "home", tmp_path / "a.h5ad", "--report", str(report))
    assert cli.main([*args, "--max-failure-rate", "0.05"]) == 2
    err = capsys.readouterr().err
    assert "symbols_r4: failure rate" in err and "listed in" in err
    failed = pd.read_csv(report / "studies" / "symbols_r4" / "failed.csv", keep_default_na=False)
    assert len(failed) > 0 and set(failed["reason"]) <= {"no_corresponding", "no_conversion"}
    assert not (tmp_path / "a.h5ad").exists()

    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    args = harmonize_args(small_demo, tmp_path / "home", tmp_path / "a.h5ad", "--report", str(precious))
    assert cli.main(args) == 2
    assert "not an idtrack-atlas report" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me" and not (tmp_path / "a.h5ad").exists()


def test_every_command_and_option_has_help_and_an_example_and_typos_are_refused(capsys):
    parser = cli.core_cli.build_parser(cli.add_platform_commands)
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) >= {"convert", "harmonize", "provenance", "demo", "retain", "simulate", "extract"}
    for name, sub in commands.choices.items():
        assert sub.description and "examples:\n  idtrack-atlas " + name in sub.epilog, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            takes_value = action.nargs != 0 and not action.choices
            assert not takes_value or "e.g." in action.help, (name, action.dest)
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"idtrack-atlas {idtrack_core.__version__}"
    with pytest.raises(SystemExit) as exc:
        # with abbreviations allowed, --mod would silently mean --mode
        cli.main(["harmonize", "--home", "h", "--species", "x", "--to-release", "1", "--out", "o.h5ad", "--mod", "u"])
    assert exc.value.code == 2 and "unrecognized arguments: --mod u" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["convert", "--help"])
    shown = capsys.readouterr().out
    assert "examples:" in shown and "(default: best)" in shown and "(default: None)" not in shown
