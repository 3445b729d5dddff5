"""The resolution index build's shortcuts change nothing: the coordinate window keeps every gene that overlaps
enough, packed sort codes order like a lexicographic sort, and walks split between two processes give the same index
files byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from idtrack_core import parallel
from idtrack_core.convert import ConversionTarget, ResolutionIndex, answers, resolve
from idtrack_core.convert.bridge import COORDINATE_OVERLAP, _Region, _scalar_overlap
from idtrack_core.convert.names import _packed, _stable_order
from idtrack_core.ensembl import DumpSource, extract_release
from idtrack_core.ensembl.regions import reciprocal_overlap
from idtrack_core.graph import build_snapshot
from idtrack_core.simulation import SimulationRates, simulate_mirror


def test_the_coordinate_window_keeps_every_gene_that_overlaps_enough():
    rng = np.random.default_rng(3)
    start = rng.integers(1, 1_000_000, 4000)
    length = np.where(rng.random(4000) < 0.2, rng.integers(5_000, 60_000, 4000), rng.integers(1, 3_000, 4000))
    end = start + length - 1
    region = _Region(np.arange(4000), start, end, np.zeros(4000), np.zeros(4000))
    sizes = []
    for a, b in zip(start[:300].tolist(), end[:300].tolist(), strict=True):
        every = np.flatnonzero(reciprocal_overlap(np.int64(a), np.int64(b), start, end) >= COORDINATE_OVERLAP)
        near = region.around(a, b)
        assert np.all(np.diff(near) > 0)  # row order
        assert set(every.tolist()) <= set(near.tolist())
        sizes.append(len(near))
    assert np.mean(sizes) < 400  # a window, not the region


def test_packed_codes_sort_like_a_lexicographic_sort():
    rng = np.random.default_rng(5)
    codes = [rng.integers(0, n, 50_000) for n in (2**20, 3, 2**19, 40, 2**21, 7)]  # more than one int64 word
    words = _packed(codes)
    assert len(words) > 1
    rows = np.arange(50_000)
    assert np.array_equal(_stable_order(words), np.lexsort((rows, *codes[::-1])))
    one = _packed(codes[:3])
    assert len(one) == 1 and np.array_equal(_stable_order(one), np.lexsort((rows, *codes[:3][::-1])))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("index_build") / "mirror"
    rates = SimulationRates(retirement=0.06, reid=0.05, clone_name=0.3, clone_reuse=0.9, shared_synonym=0.6)
    simulate_mirror(str(root), genes=400, releases=(1, 6), seed=4, rates=rates)
    source = DumpSource(str(root))
    return build_snapshot([extract_release(source, "idtrack_simulans", "SIM1", r) for r in range(1, 7)])


def test_walks_split_between_processes_give_the_same_index(snapshot, monkeypatch):
    target = ConversionTarget(6, "ensembl_gene")
    monkeypatch.setattr(parallel, "idle_cpu", lambda: False)
    alone = ResolutionIndex.build(snapshot, target).files()
    monkeypatch.setattr(parallel, "idle_cpu", lambda: True)
    monkeypatch.setattr(resolve, "_PARALLEL_WALKS", 2)
    started = []

    def counted(fn, *args):
        started.append(fn.__name__)
        return parallel.in_background(fn, *args)

    monkeypatch.setattr(resolve, "in_background", counted)
    monkeypatch.setattr(answers, "in_background", counted)
    split = ResolutionIndex.build(snapshot, target).files()
    assert "_answers_of" in started and "_answers_table" in started
    for name in ("keys.arrow", "answers.arrow"):
        assert bytes(alone[name]) == bytes(split[name])


def test_scalar_overlap_is_the_vectorized_one():
    rng = np.random.default_rng(2)
    starts = rng.integers(1, 3_000_000_000, size=(2, 20_000))
    ends = starts + rng.integers(-5, 200_000, size=(2, 20_000))  # some empty intervals, some disjoint
    ends[1, :50] = ends[0, :50]  # some identical ends
    expected = reciprocal_overlap(starts[0], ends[0], starts[1], ends[1])
    got = [_scalar_overlap(*map(int, row)) for row in zip(starts[0], ends[0], starts[1], ends[1], strict=True)]
    assert np.array_equal(np.array(got), expected)
