"""Tests of the simulated Ensembl mirror (idtrack_core.simulation): real files, no mocks."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from idtrack_core import storage
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.ensembl.mysqldump import format_rows
from idtrack_core.simulation import (
    ASSEMBLY,
    SPECIES,
    TRANSITION_EVENTS,
    SimulationRates,
    SimulationSummary,
    database_name,
    read_ground_truth,
    simulate_mirror,
)
from idtrack_core.simulation.config import COUNT_KEYS
from idtrack_core.simulation.dumps import Const, Decimals, render_columns, strs
from idtrack_core.simulation.schema import CORE_TABLES

GENES, RELEASES, SEED = 300, (1, 6), 0
FIRST, LAST = RELEASES
HUMAN_114 = Path(__file__).resolve().parents[2] / "shared/data/human_releases/release-114/mysql"
STRUCTURAL = {"version_bump", "merge", "split", "retirement", "birth"}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("sim") / "mirror"
    summary = simulate_mirror(str(out), genes=GENES, releases=RELEASES, seed=SEED)
    return out, summary


@pytest.fixture(scope="module")
def truth(mirror: tuple[Path, SimulationSummary]) -> dict[str, pd.DataFrame]:
    gt = mirror[0] / "ground_truth"
    return {name: storage.read_parquet(str(gt / f"{name}.parquet")) for name in ("genes", "transitions", "names")}


@pytest.fixture(scope="module")
def extracts(mirror: tuple[Path, SimulationSummary]) -> dict[int, object]:
    source = DumpSource(str(mirror[0]))
    return {r: extract_release(source, SPECIES, ASSEMBLY, r) for r in (FIRST, LAST)}


# ------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_byte_identical_mirror(mirror: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    """A second run in another interpreter (different str hash seed) writes the same bytes."""
    out = tmp_path / "again"
    code = (
        "import sys; from idtrack_core.simulation import simulate_mirror; "
        f"simulate_mirror(sys.argv[1], genes={GENES}, releases={RELEASES}, seed={SEED})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=Path(__file__).parents[1])
    first, second = _hashes(mirror[0]), _hashes(out)
    assert len(first) == mirror[1].files
    assert first == second


def test_different_seed_gives_different_mirror(mirror: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    simulate_mirror(str(tmp_path / "other"), genes=GENES, releases=RELEASES, seed=SEED + 1)
    first, other = _hashes(mirror[0]), _hashes(tmp_path / "other")
    assert first.keys() == other.keys()
    gene_file = f"release-{LAST}/mysql/{database_name(LAST)}/gene.txt.gz"
    assert first[gene_file] != other[gene_file]
    assert first["ground_truth/transitions.parquet"] != other["ground_truth/transitions.parquet"]


def test_gzip_headers_carry_no_time_nor_name(mirror: tuple[Path, SimulationSummary]) -> None:
    for path in mirror[0].rglob("*.gz"):
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08", path
        assert head[3] == 0, f"{path}: header flags {head[3]} (file name or extra fields)"
        assert head[4:8] == b"\0\0\0\0", f"{path}: non-zero mtime"


# ------------------------------------------------------------------------------------ dump layout


def test_layout_and_summary(mirror: tuple[Path, SimulationSummary]) -> None:
    out, summary = mirror
    assert summary.species == SPECIES == "idtrack_simulans"
    assert summary.assembly == ASSEMBLY == "SIM1"
    assert summary.releases == tuple(range(FIRST, LAST + 1))
    assert set(summary.counts) == set(COUNT_KEYS)
    for release in summary.releases:
        db = database_name(release)
        assert db == f"idtrack_simulans_core_{release}_1"
        folder = out / f"release-{release}" / "mysql" / db
        expected = {f"{t}.txt.gz" for t in CORE_TABLES} | {f"{db}.sql.gz"}
        assert {p.name for p in folder.iterdir()} == expected
    files = [p for p in out.rglob("*") if p.is_file()]
    assert summary.files == len(files) == (LAST - FIRST + 1) * 13 + 4
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temp folder left behind"


def test_dump_source_lists_every_release(mirror: tuple[Path, SimulationSummary]) -> None:
    dbs = DumpSource(str(mirror[0])).list_databases(SPECIES, ASSEMBLY)
    assert [d.release for d in dbs] == list(range(FIRST, LAST + 1))
    assert [d.name for d in dbs] == [database_name(r) for r in range(FIRST, LAST + 1)]


def test_dump_files_are_format_rows_output(mirror: tuple[Path, SimulationSummary]) -> None:
    """Every table file equals format_rows of its own parsed rows (escaping, NULLs, numbers)."""
    source = DumpSource(str(mirror[0]))
    db = source.list_databases(SPECIES, ASSEMBLY)[-1]
    for table in CORE_TABLES:
        schema = source.table_schema(db, table)
        assert schema is not None, table
        df = source.read_table(db, table, schema.column_names)
        assert len(df) > 0, table
        rows = [
            tuple(None if v is pd.NA else v for v in row)
            for row in df.astype(object).itertuples(index=False, name=None)
        ]
        text = gzip.decompress((Path(db.location) / f"{table}.txt.gz").read_bytes()).decode()
        assert text == format_rows(rows), table


def test_render_columns_equals_format_rows() -> None:
    rng = random.Random(7)
    pool = ["a", "", "tab\there", "new\nline", "back\\slash", "nul\x00", "SIMX1", "Simx1", None]
    rows = [
        (i, rng.choice(pool), rng.choice([None, 3, 0]), rng.choice([0.0, 0.5, 0.873, 1.0]), "const") for i in range(200)
    ]
    num = Decimals()
    ints = [r[2] for r in rows]
    columns = [
        num(pd.Series([r[0] for r in rows]).to_numpy()),
        strs([r[1] for r in rows]),
        num(pd.Series([v or 0 for v in ints]).to_numpy(), pd.Series([v is None for v in ints]).to_numpy()),
        strs([None if r[3] is None else format_rows([(r[3],)])[:-1] for r in rows]),
        Const("const"),
    ]
    assert render_columns(columns, len(rows)) == format_rows(rows)
    assert render_columns([Const(None), Const(1.0), Const(0.25)], 2) == format_rows([(None, 1.0, 0.25)] * 2)
    assert render_columns([Const(1)], 0) == format_rows([]) == ""


# --------------------------------------------------------------------------------------- extracts


def test_extract_genes_equal_ground_truth(extracts: dict, truth: dict[str, pd.DataFrame]) -> None:
    for release, extract in extracts.items():
        genes = extract.tables["genes"]
        expected = truth["genes"][truth["genes"]["release"] == release]
        got = sorted(zip(genes["stable_id"], genes["version"].astype(int), genes["biotype"], strict=True))
        want = sorted(zip(expected["stable_id"], expected["version"].astype(int), expected["biotype"], strict=True))
        assert got == want
        assert len(extract.tables["transcripts"]) >= len(genes)
        assert len(extract.tables["translations"]) > 0
        assert extract.manifest["ensembl_schema_version"] == str(release)


def test_extract_names_equal_ground_truth(extracts: dict, truth: dict[str, pd.DataFrame]) -> None:
    extract = extracts[LAST]
    xrefs = extract.tables["xrefs"]
    names = truth["names"][truth["names"]["release"] == LAST]
    got = set(zip(xrefs["ensembl_id"], xrefs["db_display_name"], xrefs["primary_accession"], strict=True))
    by_kind = {k: names[names["kind"] == k] for k in ("hgnc_accession", "entrez_id", "clone_name")}
    want = set()
    for df in by_kind.values():
        want |= set(zip(df["stable_id"], df["database"], df["name"], strict=True))
    assert got == want
    labels = set(zip(xrefs["ensembl_id"], xrefs["display_label"], strict=True))
    symbols = names[names["kind"] == "symbol"]
    assert set(zip(symbols["stable_id"], symbols["name"], strict=True)) <= labels
    synonyms = extract.tables["synonyms"].merge(
        xrefs[["xref_id", "ensembl_id"]].drop_duplicates(), on="xref_id", how="inner"
    )
    syn_truth = names[names["kind"].isin(["previous_symbol", "alias"])]
    assert set(zip(synonyms["ensembl_id"], synonyms["synonym"], strict=True)) == set(
        zip(syn_truth["stable_id"], syn_truth["name"], strict=True)
    )


def _key(old_id, old_v, new_id, new_v, old_r, new_r) -> tuple:
    def clean(v):
        return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v

    return (clean(old_id), clean(old_v), clean(new_id), clean(new_v), str(old_r), str(new_r))


def test_history_matches_ground_truth(extracts: dict, truth: dict[str, pd.DataFrame]) -> None:
    history = extracts[LAST].tables["history"]
    genes = history[history["type"] == "gene"].astype(object)
    got = {
        _key(*row)
        for row in genes[
            ["old_stable_id", "old_version", "new_stable_id", "new_version", "old_release", "new_release"]
        ].itertuples(index=False, name=None)
    }
    assert len(got) == len(genes), "duplicate gene history rows"
    t = truth["transitions"].astype(object)
    want = set()
    for row in t.itertuples(index=False):
        if row.event in STRUCTURAL:
            want.add(
                _key(
                    row.old_stable_id,
                    row.old_version,
                    row.new_stable_id,
                    row.new_version,
                    row.from_release,
                    row.to_release,
                )
            )
        elif row.event == "reid":  # Ensembl only sees a retirement and a birth
            want.add(_key(row.old_stable_id, row.old_version, None, None, row.from_release, row.to_release))
            want.add(_key(None, None, row.new_stable_id, row.new_version, row.from_release, row.to_release))
    assert got == want
    unchanged = genes[
        (genes["old_stable_id"] == genes["new_stable_id"]) & (genes["old_version"] == genes["new_version"])
    ]
    assert unchanged.empty, "stable_id_event must record changes only"
    assert set(history["type"]) == {"gene", "transcript", "translation"}


def test_history_is_cumulative(mirror: tuple[Path, SimulationSummary]) -> None:
    source = DumpSource(str(mirror[0]))
    for db in source.list_databases(SPECIES, ASSEMBLY):
        sessions = source.read_table(db, "mapping_session", ["mapping_session_id", "old_release", "new_release"])
        assert list(sessions["new_release"]) == [str(r) for r in range(FIRST + 1, db.release + 1)]
        events = source.read_table(db, "stable_id_event", ["mapping_session_id"])
        assert set(events["mapping_session_id"].astype(int)) == set(range(1, db.release - FIRST + 1))


# ----------------------------------------------------------------------------------- ground truth


def test_every_event_type_occurs(mirror: tuple[Path, SimulationSummary], truth: dict[str, pd.DataFrame]) -> None:
    counts = mirror[1].counts
    for key in COUNT_KEYS:
        assert counts[key] >= 2, f"{key} occurred {counts[key]} times"
    assert set(truth["transitions"]["event"]) == set(TRANSITION_EVENTS)
    names = truth["names"]
    assert set(names["kind"]) == {
        "symbol",
        "previous_symbol",
        "alias",
        "hgnc_accession",
        "entrez_id",
        "clone_name",
    }
    doc = json.loads((mirror[0] / "ground_truth" / "truth.json").read_text())
    assert doc["counts"] == dict(counts)
    assert doc["seed"] == SEED and doc["releases"] == list(range(FIRST, LAST + 1))
    per_transition = {k: sum(t["counts"][k] for t in doc["transitions"]) for k in ("merge", "split", "reid")}
    assert per_transition == {k: counts[k] for k in per_transition}


def test_names_cover_all_naming_cases(truth: dict[str, pd.DataFrame]) -> None:
    names, genes = truth["names"], truth["genes"]
    symbols = names[names["kind"] == "symbol"]
    # one symbol per named gene and release; symbols unique (exactly) within a release
    assert not symbols.duplicated(["release", "stable_id"]).any()
    assert not symbols.duplicated(["release", "name"]).any()
    # names differing only in case, on two different genes of the same release
    folded = symbols.assign(folded=symbols["name"].str.upper())
    pairs = folded[folded.duplicated(["release", "folded"], keep=False)]
    assert pairs.groupby(["release", "folded"])["stable_id"].nunique().ge(2).any()
    # genes without any name exist
    named = set(zip(names["release"], names["stable_id"], strict=True))
    unnamed = [k for k in zip(genes["release"], genes["stable_id"], strict=True) if k not in named]
    assert len(unnamed) >= 2
    # aliases shared by two genes of one release
    aliases = names[names["kind"] == "alias"]
    assert aliases.groupby(["release", "name"])["stable_id"].nunique().ge(2).any()
    # formats
    assert symbols["name"].str.fullmatch(r"(SIM[XQZKV]|Sim[xqzkv])\d+[ABab]?").all()
    accessions = names[names["kind"] == "hgnc_accession"]["name"]
    assert accessions.str.fullmatch(r"HGNC:\d+").all()
    assert names[names["kind"] == "entrez_id"]["name"].str.fullmatch(r"\d+").all()
    assert names[names["kind"] == "clone_name"]["name"].str.fullmatch(r"A[CLP]\d{6}\.\d").all()


def test_transitions_are_consistent_with_genes(truth: dict[str, pd.DataFrame]) -> None:
    genes, t = truth["genes"], truth["transitions"]
    present = set(zip(genes["release"], genes["stable_id"], genes["version"].astype(int), strict=True))
    for row in t.itertuples(index=False):
        if row.old_stable_id is not pd.NA:
            assert (row.from_release, row.old_stable_id, int(row.old_version)) in present, row
        if row.new_stable_id is not pd.NA:
            assert (row.to_release, row.new_stable_id, int(row.new_version)) in present, row
        assert (row.old_stable_id is pd.NA) == (row.event == "birth"), row
        assert (row.new_stable_id is pd.NA) == (row.event == "retirement"), row
    for release in range(FIRST, LAST):
        pair = t[t["from_release"] == release]
        assert (pair["to_release"] == release + 1).all()
        old = set(genes.loc[genes["release"] == release, "stable_id"])
        new = set(genes.loc[genes["release"] == release + 1, "stable_id"])
        assert set(pair["old_stable_id"].dropna()) == old, "every gene of from_release has a row"
        assert set(pair["new_stable_id"].dropna()) == new, "every gene of to_release is reached"
        unchanged = pair[pair["event"] == "unchanged"]
        assert (unchanged["old_stable_id"] == unchanged["new_stable_id"]).all()
        assert (unchanged["old_version"] == unchanged["new_version"]).all()
        bumps = pair[pair["event"] == "version_bump"]
        assert (bumps["new_version"] == bumps["old_version"] + 1).all()
        reids = pair[pair["event"] == "reid"]
        assert (reids["old_stable_id"] != reids["new_stable_id"]).all() and (reids["new_version"] == 1).all()
        for event in ("merge", "split"):
            rows = pair[pair["event"] == event]
            side = "new_stable_id" if event == "merge" else "old_stable_id"
            assert rows.groupby(side).size().ge(2).all(), f"{event} rows come in groups"
    sort_cols = ["from_release", "old_stable_id", "new_stable_id", "event"]
    assert t.equals(t.sort_values(sort_cols, na_position="last", kind="stable").reset_index(drop=True))
    assert genes.equals(genes.sort_values(["release", "stable_id"]).reset_index(drop=True))


def test_hgnc_accessions_follow_gene_lineages(truth: dict[str, pd.DataFrame]) -> None:
    """An accession only moves between genes along reid or merge rows; a reused symbol gets a new one."""
    names, t = truth["names"], truth["transitions"]
    acc = names[names["kind"] == "hgnc_accession"][["release", "stable_id", "name"]]
    sym = names[names["kind"] == "symbol"][["release", "stable_id", "name"]]
    links = set(zip(t["from_release"], t["old_stable_id"], t["new_stable_id"], strict=True))
    holders = acc.sort_values(["name", "release"]).groupby("name")
    moved = 0
    for _, df in holders:
        rows = list(df.itertuples(index=False))
        for a, b in itertools.pairwise(rows):
            assert b.release == a.release + 1, "an accession never comes back after a gap"
            if a.stable_id != b.stable_id:
                assert (a.release, a.stable_id, b.stable_id) in links
                moved += 1
    assert moved >= 1  # re-identifications carry the record along
    # symbol reuse: one symbol, several accessions over time (never at the same time)
    merged = sym.merge(acc, on=["release", "stable_id"], suffixes=("_symbol", "_acc"))
    per_symbol = merged.groupby("name_symbol")["name_acc"].nunique()
    reused = per_symbol[per_symbol >= 2].index
    assert len(reused) >= 2
    same_time = merged[merged["name_symbol"].isin(reused)].groupby(["release", "name_symbol"])["name_acc"].nunique()
    assert (same_time == 1).all()


def test_reids_are_invisible_to_stable_id_event_but_share_hgnc(truth: dict[str, pd.DataFrame]) -> None:
    names, t = truth["names"], truth["transitions"]
    acc = names[names["kind"] == "hgnc_accession"].set_index(["release", "stable_id"])["name"]
    reids = t[t["event"] == "reid"]
    checked = 0
    for row in reids.itertuples(index=False):
        old_key, new_key = (row.from_release, row.old_stable_id), (row.to_release, row.new_stable_id)
        assert (old_key in acc.index) == (new_key in acc.index)
        if old_key in acc.index:
            assert acc[old_key] == acc[new_key]
            checked += 1
    assert checked >= 1


def test_symbols_are_not_real_human_symbols(truth: dict[str, pd.DataFrame]) -> None:
    dbs = list(HUMAN_114.glob("homo_sapiens_core_114_*")) if HUMAN_114.exists() else []
    if not dbs:
        pytest.skip("human_releases test data not available")
    real = set()
    for table, column in (("xref", 3), ("external_synonym", 1)):
        with gzip.open(dbs[0] / f"{table}.txt.gz", "rt") as f:
            real |= {line.rstrip("\n").split("\t")[column] for line in f}
    ours = set(truth["names"].loc[truth["names"]["kind"].isin(["symbol", "previous_symbol", "alias"]), "name"])
    assert not ours & real


def test_correspondence_composes_transitions(mirror: tuple[Path, SimulationSummary]) -> None:
    gt = read_ground_truth(str(mirror[0]))
    forward, backward = gt.correspondence(FIRST, LAST), gt.correspondence(LAST, FIRST)
    assert set(forward["from_stable_id"]) == set(gt.genes_at(FIRST))
    assert set(backward["from_stable_id"]) == set(gt.genes_at(LAST))
    pairs = set(forward.dropna().itertuples(index=False, name=None))
    assert pairs == {(b, a) for a, b in backward.dropna().itertuples(index=False, name=None)}
    assert set(forward["to_stable_id"].dropna()) <= set(gt.genes_at(LAST))
    t = gt.transitions
    step = gt.correspondence(2, 3)
    mapped = set(step.itertuples(index=False, name=None))
    pair = t[t["from_release"] == 2]
    for row in pair[pair["event"].isin(["reid", "merge", "split", "unchanged"])].itertuples(index=False):
        assert (row.old_stable_id, row.new_stable_id) in mapped
    retired = pair.loc[pair["event"] == "retirement", "old_stable_id"]
    assert len(retired) and step[step["from_stable_id"].isin(retired)]["to_stable_id"].isna().all()
    identity = gt.correspondence(4, 4)
    assert (identity["from_stable_id"] == identity["to_stable_id"]).all()
    with pytest.raises(ValueError):
        gt.correspondence(FIRST, LAST + 1)
    subset = read_ground_truth(str(mirror[0]), releases=[2, 3], names=False)
    assert set(subset.genes["release"]) == {2, 3} and subset.names.empty
    assert set(zip(subset.transitions["from_release"], subset.transitions["to_release"], strict=True)) == {(2, 3)}
    assert subset.correspondence(2, 3).equals(step)


def test_gene_count_stays_near_target(tmp_path: Path) -> None:
    summary = simulate_mirror(str(tmp_path / "m"), genes=1000, releases=(80, 95), seed=3)
    genes = storage.read_parquet(str(tmp_path / "m/ground_truth/genes.parquet"))
    sizes = genes.groupby("release").size()
    assert list(sizes.index) == list(range(80, 96))
    assert sizes.between(900, 1100).all(), sizes.to_dict()
    assert summary.counts["birth"] > 0 and summary.counts["retirement"] > 0


def test_tiny_and_single_release(tmp_path: Path) -> None:
    simulate_mirror(str(tmp_path / "one"), genes=1, releases=(1, 4), seed=0)
    source = DumpSource(str(tmp_path / "one"))
    for r in (1, 4):
        extract = extract_release(source, SPECIES, ASSEMBLY, r)
        assert len(extract.tables["genes"]) >= 1
    single = simulate_mirror(str(tmp_path / "single"), genes=5, releases=(114, 114), seed=0)
    assert single.releases == (114,)
    extract = extract_release(DumpSource(str(tmp_path / "single")), SPECIES, ASSEMBLY, 114)
    assert len(extract.tables["genes"]) == 5 and extract.tables["history"].empty


# ---------------------------------------------------------------------------- parameters and I/O


@pytest.mark.parametrize(
    "kwargs",
    [
        {"genes": 0},
        {"genes": -5},
        {"genes": 2.5},
        {"genes": True},
        {"releases": (5, 4)},
        {"releases": (0, 3)},
        {"releases": (1,)},
        {"releases": (1, "3")},
        {"releases": (1, 100_000)},
        {"seed": -1},
        {"seed": 1.5},
        {"rates": {"birth": 0.1}},
        {"compresslevel": 10},
    ],
)
def test_bad_parameters_raise_value_error(tmp_path: Path, kwargs: dict) -> None:
    out = tmp_path / "m"
    with pytest.raises(ValueError):
        simulate_mirror(str(out), **{"genes": 10, "releases": (1, 2), **kwargs})
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retirement": 1.5},
        {"merge": -0.1},
        {"retirement": 0.5, "version_bump": 0.4, "merge": 0.2},
        {"clone_name": 0.7, "no_symbol": 0.5},
        {"alias": "0.1"},
    ],
)
def test_bad_rates_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SimulationRates(**kwargs)


def test_failure_midway_leaves_no_mirror(tmp_path: Path) -> None:
    out = tmp_path / "m"

    def stop_at_3(release: int) -> None:
        if release == 3:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        simulate_mirror(str(out), genes=50, releases=(1, 6), on_release=stop_at_3)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "temporary folder not cleaned up"


def test_refuses_non_empty_out_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        simulate_mirror(str(out), genes=10, releases=(1, 2))
    assert (out / "keep.txt").read_text() == "precious"
    summary = simulate_mirror(str(out), genes=10, releases=(1, 2), overwrite=True)
    assert not (out / "keep.txt").exists()
    assert summary.files == len([p for p in out.rglob("*") if p.is_file()])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    empty = tmp_path / "empty"
    empty.mkdir()
    simulate_mirror(str(empty), genes=10, releases=(1, 2))  # an empty folder is fine
    assert (empty / "ground_truth" / "truth.json").exists()


def test_fsspec_target(tmp_path: Path) -> None:
    url = "memory://idtrack-sim-test/mirror"
    fs, path = storage.url_to_fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    try:
        summary = simulate_mirror(url, genes=20, releases=(1, 3), seed=1)
        assert [d.release for d in DumpSource(url).list_databases(SPECIES, ASSEMBLY)] == [1, 2, 3]
        assert storage.read_json(f"{url}/ground_truth/truth.json")["counts"] == dict(summary.counts)
        with pytest.raises(FileExistsError):
            simulate_mirror(url, genes=20, releases=(1, 3), seed=1)
    finally:
        fs.rm(path, recursive=True)
