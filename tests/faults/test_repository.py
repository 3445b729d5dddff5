"""The repository itself: the benchmarks find the shared fixtures relative to the repository (issue 9, last row)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmarks_use_no_absolute_fixture_path():
    for source in sorted((REPO / "benchmarks").glob("*.py")):
        text = source.read_text()
        assert not re.search(r"[\"']/work/", text), f"{source.name} hard-codes an absolute path"


def test_benchmarks_default_to_the_shared_fixtures():
    from benchmarks import bench_convert, bench_extract

    expected = str((REPO / ".." / "shared" / "data" / "human_releases").resolve())
    assert bench_convert.DEFAULT_ROOT == bench_extract.DEFAULT_ROOT == expected
