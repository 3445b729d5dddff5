"""One snapshot of two assemblies (the simulator's ``SIM0`` → ``SIM1`` switch, with the frozen ``grch37/`` tree):
IDs of an older-assembly release convert into the newest assembly's target and back, per the ground truth."""

from __future__ import annotations

import pytest

from idtrack_core.archive import ArchiveIndex
from idtrack_core.convert import convert
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.graph import build_snapshot
from idtrack_core.simulation import read_ground_truth, simulate_mirror
from idtrack_core.workspace import Workspace

SPECIES, FIRST, SWITCH, LAST = "idtrack_simulans", 1, 4, 7


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("assemblies") / "mirror"
    simulate_mirror(str(root), genes=400, releases=(FIRST, LAST), seed=5, assembly_switch=SWITCH)
    return str(root)


@pytest.fixture(scope="module")
def world(mirror):
    source = DumpSource(mirror)
    dbs = source.list_databases(SPECIES)
    assert sorted((d.release, d.assembly) for d in dbs if d.release >= SWITCH) == [
        (r, a) for r in range(SWITCH, LAST + 1) for a in ("0", "1")
    ]
    extracts = [extract_release(source, SPECIES, "SIM" + d.assembly, d.release) for d in dbs]
    return build_snapshot(extracts), read_ground_truth(mirror)


def test_a_workspace_of_every_assembly_keeps_each_assemblys_extracts_apart(mirror, tmp_path):
    ws = Workspace(str(tmp_path), SPECIES, None)  # no --assembly: both trees, same release numbers
    made = ws.extracts(DumpSource(mirror))
    slots = [h.slot for h in made]
    assert len(set(slots)) == len(made) == 2 * (LAST - FIRST + 1) - (SWITCH - FIRST)
    assert {s.split("/")[2] for s in slots} == {"0", "1"}  # the databases' assemblies
    assert ws.cached_extracts() == made  # offline, the same extracts in the same order


def true_genes(truth, a: int, b: int) -> dict[str, set[str]]:
    c = truth.correspondence(a, b)
    return {k: set(v.dropna()) for k, v in c.groupby("from_stable_id")["to_stable_id"]}


def unconfirmable(truth) -> set[str]:
    """Genes re-identified at the switch with no name but a clone-based one: no coordinates in a common assembly
    and no corroborated name can link the two IDs."""
    t = truth.transitions
    reid = t[(t["event"] == "reid") & (t["to_release"] == SWITCH)]
    names = truth.names[truth.names["kind"] != "clone_name"]
    strong = set(names["stable_id"])
    return {x for pair in zip(reid["old_stable_id"], reid["new_stable_id"], strict=True) for x in pair} - strong


def test_snapshot_orders_assemblies_and_knows_the_frozen_tree(world):
    snap, _ = world
    assert snap.assembly == "1" and snap.manifest["assemblies"] == ["0", "1"]  # as the database names say
    releases = snap.tables["releases"]
    frozen = releases[(releases["assembly_name"] == "SIM0") & (releases["release"] >= SWITCH)]
    assert frozen["history_release"].tolist() == [SWITCH - 1.0] * (LAST - SWITCH + 1)
    assert snap.position(LAST) == snap.position(LAST, "SIM1") == snap.position(LAST, "SIM0") + 1


@pytest.mark.parametrize("old_release", [SWITCH, LAST])
def test_older_assembly_ids_convert_into_the_newest_target(world, old_release):
    snap, truth = world
    frozen_as_of = truth.history_release(old_release, "SIM0")
    assert frozen_as_of == SWITCH - 1
    want = true_genes(truth, frozen_as_of, LAST)
    skip = unconfirmable(truth)
    got = convert(snap, sorted(want), LAST, from_release=old_release, from_assembly="SIM0", strategy="all")
    for q, genes, node in zip(got["query_id"], got["ensembl_genes"], got["matched_node"], strict=True):
        found = set(genes.split(";")) - {""}
        if q in skip or want[q] & skip:
            assert found <= want[q], q
        else:
            assert found == want[q], (q, node)
        assert node.endswith(("@SIM0", "@SIM0+SIM1")), node  # the evidence names the assemblies


def test_newest_ids_convert_back_into_the_older_assembly(world):
    snap, truth = world
    want = true_genes(truth, LAST, SWITCH - 1)
    skip = unconfirmable(truth)
    got = convert(snap, sorted(want), LAST, from_release=LAST, to_assembly="SIM0", strategy="all")
    for q, genes in zip(got["query_id"], got["ensembl_genes"], strict=True):
        found = set(genes.split(";")) - {""}
        assert found <= want[q] if (q in skip or want[q] & skip) else found == want[q], q


def test_the_archive_of_the_older_assembly(world):
    snap, truth = world
    t = truth.transitions
    retired = sorted(t.loc[(t["event"] == "retirement") & (t["to_release"] == SWITCH), "old_stable_id"])
    assert retired
    old = ArchiveIndex.build(snap, LAST, "SIM0").lookup(retired)
    assert old["is_current"].all() and set(old["assembly"]) == {"SIM0"} and set(old["release"]) == {str(LAST)}
    new = ArchiveIndex.build(snap, LAST).lookup(retired)
    assert not new["is_current"].any() and set(new["release"]) == {str(SWITCH - 1)} and set(new["assembly"]) == {"SIM0"}
