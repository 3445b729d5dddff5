"""Immutable versions, pointers, leases and retention (idtrack_core.versions), on a folder and on moto's S3."""

from __future__ import annotations

import os

import pytest

from idtrack_core import storage
from idtrack_core.errors import SnapshotError
from idtrack_core.versions import VersionedStore, version_id


def files(text: str) -> dict[str, bytes]:
    return {"data.txt": text.encode(), storage.MANIFEST: storage.json_bytes({"text": text})}


def test_version_ids_follow_every_input_and_the_code_version():
    base = version_id("plan", "1", {"index": "abc", "studies": {"a": "h1"}})
    assert len(base) == 20 and base == version_id("plan", "1", {"studies": {"a": "h1"}, "index": "abc"})
    assert base != version_id("plan", "2", {"index": "abc", "studies": {"a": "h1"}})
    assert base != version_id("plan", "1", {"index": "abc", "studies": {"a": "h2"}})
    assert base != version_id("atlas", "1", {"index": "abc", "studies": {"a": "h1"}})


def test_publish_reuses_a_complete_version_without_rewriting_it(tmp_path):
    store = VersionedStore(str(tmp_path))
    v = version_id("thing", "1", {"x": 1})
    first = store.publish("things/a", v, files("one"))
    data = tmp_path / "versions" / "things" / "a" / v / "data.txt"
    before = os.stat(data)
    again = store.publish("things/a", v, files("something else"))  # same version id: the first build stands
    assert again == first and data.read_text() == "one" and os.stat(data).st_mtime_ns == before.st_mtime_ns
    assert first.manifest() == {"text": "one"}
    (tmp_path / "versions" / "things" / "a" / v / storage.MANIFEST).write_text("{}")
    with pytest.raises(SnapshotError, match="manifest changed"):
        first.manifest()


def test_build_writes_the_manifest_last_and_a_failed_build_is_incomplete(tmp_path):
    store = VersionedStore(str(tmp_path))
    v = version_id("thing", "1", {"x": 2})

    def failing(url: str) -> dict:
        storage.atomic_write_bytes(storage.join(url, "part.bin"), b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.build("things/b", v, failing)
    assert store.find("things/b", v) is None
    [info] = store.versions()
    assert not info.complete and info.version == v
    handle = store.build("things/b", v, lambda url: {"ok": True})
    assert handle.manifest() == {"ok": True} and store.versions()[0].complete


def test_pointers_and_leases_round_trip(tmp_path):
    store = VersionedStore(str(tmp_path))
    a = store.publish("s", version_id("t", "1", {"n": 1}), files("a"))
    b = store.publish("s", version_id("t", "1", {"n": 2}), files("b"))
    assert store.pointer("atlas_union") is None
    store.point("atlas_union", a)
    store.point("study_matchings/heart", b)
    store.point("atlas_union", b)
    assert store.pointer("atlas_union") == b and store.pointers() == {"atlas_union": b, "study_matchings/heart": b}
    store.lease("run-1", "atlas_union", a, "read")
    assert store.leased("run-1", "atlas_union") == a and store.leased("run-1", "atlas_union", "wrote") is None
    assert [lease.handle for lease in store.leases()] == [a]
    with pytest.raises(ValueError, match="invalid pointer name"):
        store.point("../escape", a)


def make_versions(store: VersionedStore, n: int, slot: str = "s") -> list:
    handles = []
    for i in range(n):
        handles.append(store.publish(slot, version_id("t", "1", {"n": i, "slot": slot}), files(str(i))))
        for path in (store.version_url(slot, handles[-1].version), storage.join(handles[-1].url, storage.MANIFEST)):
            os.utime(path, (1000 + i, 1000 + i))  # distinct ages, oldest first
    return handles


def test_retention_never_removes_a_pointer_a_live_lease_or_the_newest(tmp_path):
    store = VersionedStore(str(tmp_path))
    h = make_versions(store, 6)
    store.point("asset", h[0])  # the current version is the oldest one
    store.lease("running", "asset", h[1], "read")
    store.lease("finished", "asset", h[2], "read")
    plan = store.plan_retention(keep=2, min_age_s=0, active_holders={"running"})
    assert [v.version for v in plan.remove] == [h[2].version, h[3].version]
    reasons = {v.version: why for v, why in plan.kept}
    assert reasons == {h[0].version: "pointer", h[1].version: "lease", h[4].version: "newest", h[5].version: "newest"}
    assert plan.stale_leases == ("finished",)
    store.apply_retention(plan)
    assert [v.version for v in store.versions()] == [h[0].version, h[1].version, h[4].version, h[5].version]
    assert store.pointer("asset").manifest() == {"text": "0"}  # still readable
    assert [lease.holder for lease in store.leases()] == ["running"]


def test_retention_spares_young_versions_and_unknown_runs_by_lease_age(tmp_path):
    store = VersionedStore(str(tmp_path))
    h = make_versions(store, 3)
    temp = tmp_path / "versions" / "s" / f".{h[0].version}.tmp-0123"  # what a killed write leaves
    (temp / "sub").mkdir(parents=True)
    (temp / "sub" / "part.parquet").write_bytes(b"half")
    assert [v.version for v in store.versions()] == [x.version for x in h]  # never taken for a version
    assert store.plan_retention(keep=3, min_age_s=10**12).temporaries == ()  # a live write's temporaries are young
    assert store.plan_retention(keep=0, min_age_s=10**12).remove == ()  # all young
    store.lease("maybe-running", "asset", h[0], "read")
    plan = store.plan_retention(keep=0, min_age_s=0)  # no run list: a fresh lease protects its version
    assert [v.version for v in plan.remove] == [h[1].version, h[2].version]
    plan = store.plan_retention(keep=0, min_age_s=0, lease_ttl_s=0)
    assert len(plan.remove) == 3 and plan.stale_leases == ("maybe-running",)
    assert plan.temporaries == (str(temp),)
    store.apply_retention(plan)
    assert not temp.exists() and store.versions() == []


def test_retention_removes_the_scratch_of_runs_that_ended_only(tmp_path):
    store = VersionedStore(str(tmp_path))
    for run_id in ("running", "finished", "fresh"):
        url = store.run_url(run_id, "atlas_union_steps.layout", "result.pkl")
        storage.atomic_write_bytes(url, b"x")
    for run_id in ("running", "finished"):
        os.utime(store.run_url(run_id, "atlas_union_steps.layout", "result.pkl"), (1000, 1000))
    plan = store.plan_retention(keep=0, min_age_s=3600, active_holders={"running"})
    assert plan.run_scratch == (store.run_url("finished"),)  # "fresh" is young, "running" in progress
    store.apply_retention(plan)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["fresh", "running"]
    assert store.plan_retention(keep=0, min_age_s=0, lease_ttl_s=10**12).run_scratch == ()  # no run list: by age
    assert store.plan_retention(keep=0, min_age_s=0, lease_ttl_s=0).run_scratch == tuple(
        store.run_url(r) for r in ("fresh", "running")
    )


@pytest.mark.server
def test_versions_pointers_and_retention_on_s3(s3):
    import s3fs

    s3fs.S3FileSystem(**s3.storage_options).mkdir("versions-bucket")
    store = VersionedStore("s3://versions-bucket/root", s3.storage_options)
    first = store.publish("s", version_id("t", "1", {"n": 0}), files("a"))
    second = store.build("s", version_id("t", "1", {"n": 1}), lambda url: {"n": 1})
    store.point("asset", second)
    assert store.pointer("asset") == second and first.manifest(**s3.storage_options) == {"text": "a"}
    assert [v.complete for v in store.versions()] == [True, True]
    plan = store.plan_retention(keep=0, min_age_s=0)
    assert [v.version for v in plan.remove] == [first.version]
    store.apply_retention(plan)
    assert store.find("s", first.version) is None and store.find("s", second.version) == second
