"""Shards of a sharded job as units of the state machine, against a real Redis: their own
attempts and leases, progress summed over the shards, one merge, one end."""

from __future__ import annotations

import json
import time
import zlib
from types import SimpleNamespace

import pytest

from optcore.layout import bucket
from worker import gzjoin
from worker.settings import Settings
from worker.shards import Shards, _bucket, merged, plan, unit_of
from worker.store import Attempt, JobStore

SPEC = {"objective": {"name": "rosenbrock"}, "steps": 100, "runs": [{"optimizer": "sgd"}]}
RANGES = [(0, 8), (8, 16), (16, 20)]


def attempt(lease: float = 5.0, max_attempts: int = 3) -> Attempt:
    return Attempt("w1", 123, "cpu", lease, max_attempts, 60.0)


def new_sharded_job(store: JobStore, job_id: str = "j") -> str:
    store.create_job(job_id, "alice", SPEC, {"runs": 20}, RANGES)
    return job_id


def ends(store: JobStore, job_id: str) -> list[dict]:
    return [data for _, kind, data in store.read_events(job_id) if kind == "end"]


def progress(steps_done: int, running: int) -> SimpleNamespace:
    return SimpleNamespace(
        steps_done=steps_done, steps_total=100, chunk=1, chunks=2, running=running
    )


def test_plan_splits_big_jobs_into_bucket_sized_run_ranges():
    settings = Settings(shard_run_steps=1_000_000, max_shards=8)
    assert plan(4096, 100, None, settings, 4096) is None  # 409,600 run-steps: whole
    assert plan(65_536, 10_000, "grid", settings, 4096) == [
        (k * 8192, (k + 1) * 8192) for k in range(8)
    ]
    ranges = plan(1000, 10_000, None, settings, 4096)
    assert ranges[0] == (0, 128) and ranges[-1][1] == 1000 and len(ranges) == 8
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert plan(65_536, 10_000, "random", settings, 4096) is None  # needs every run's path
    assert plan(1, 10**9, None, settings, 4096) is None
    few_steps = Settings()  # by default, only more runs than one program takes are split
    assert plan(2000, 1_000_000, None, few_steps, 4096) is None  # at the admission limit
    assert plan(10_000, 10, None, few_steps, 4096) == [(0, 4096), (4096, 8192), (8192, 10_000)]


def test_shard_sizes_are_the_runners_run_buckets():
    assert all(_bucket(n) == bucket(n) for n in range(9, 20_000))


def test_shards_start_alone_and_the_job_runs_from_the_first_one(store):
    job_id = new_sharded_job(store)
    assert store.get_job(job_id)["status"] == "queued"
    assert store.start(unit_of(job_id, 0), "t0", attempt()) == ("started", "1")
    assert store.start(unit_of(job_id, 1), "t1", attempt()) == ("started", "1")
    assert store.start(unit_of(job_id, 1), "t9", attempt())[0] == "leased"
    assert store.get_job(job_id)["status"] == "running"
    assert set(store.running_units()) == {f"{job_id}/0", f"{job_id}/1"}
    assert store.stats()["jobs:running"] == 1 and store.stats()["attempts"] == 2


def test_progress_is_summed_over_the_shards_and_reports_a_cancel(store):
    job_id = new_sharded_job(store)
    shards = Shards(store)
    store.start(unit_of(job_id, 0), "t0", attempt())
    store.start(unit_of(job_id, 2), "t2", attempt())
    assert shards.progress(unit_of(job_id, 0), "t0", progress(50, 8), 8, 100, 3) == (
        False,
        "running",
    )
    shards.progress(unit_of(job_id, 2), "t2", progress(100, 0), 4, 100, 3)
    job = store.get_job(job_id)["progress"]
    assert job["fraction"] == pytest.approx((50 * 8 + 100 * 4) / (20 * 100))
    assert job["runs_running"] == 8 + 8 + 0 and job["shards"] == 3
    assert shards.progress(unit_of(job_id, 0), "stale", progress(60, 8), 8, 100, 3) == (
        False,
        "lost",
    )
    store.request_cancel(job_id)
    assert shards.progress(unit_of(job_id, 0), "t0", progress(60, 8), 8, 100, 3)[0]


def test_the_shard_that_completes_the_set_merges_once_and_ends_the_job(store):
    job_id = new_sharded_job(store)
    shards = Shards(store)
    for k in range(3):
        store.start(unit_of(job_id, k), f"t{k}", attempt())
    assert shards.done(unit_of(job_id, 1), "t1", 3) == "done"
    assert shards.done(unit_of(job_id, 1), "t1", 3) == "lost"  # its attempt ended
    assert store.start(unit_of(job_id, 1), "t5", attempt()) == ("final", "done")  # never rerun
    assert shards.done(unit_of(job_id, 0), "t0", 3) == "done"
    assert shards.done(unit_of(job_id, 2), "t2", 3) == "merge"
    assert store.get_job(job_id)["status"] == "running"  # until the merger finishes it
    assert store.finish(unit_of(job_id, 2), "succeeded", token="t2")
    assert not store.finish(unit_of(job_id, 0), "canceled", token="t0")
    assert ends(store, job_id) == [{"status": "succeeded"}]
    assert store.running_units() == [] and store.stats()["finished:succeeded"] == 1


def test_a_lost_shard_is_requeued_alone_and_the_merger_lost_mid_merge_merges_again(store):
    job_id = new_sharded_job(store)
    shards = Shards(store)
    store.start(unit_of(job_id, 0), "t0", attempt(lease=5))
    store.start(unit_of(job_id, 1), "t1", attempt(lease=0.05))
    time.sleep(0.1)
    assert store.requeue_if_lost(unit_of(job_id, 0), 3) == ("alive", "")
    assert store.requeue_if_lost(unit_of(job_id, 1), 3) == ("requeued", "cpu")
    assert store.get_job(job_id)["status"] == "running"  # the other shards go on
    assert shards.info(unit_of(job_id, 1))["status"] == "queued"
    assert store.start(unit_of(job_id, 1), "t1b", attempt()) == ("started", "2")
    store.start(unit_of(job_id, 2), "t2", attempt())
    shards.done(unit_of(job_id, 1), "t1b", 3)
    shards.done(unit_of(job_id, 2), "t2", 3)
    store.renew_lease(unit_of(job_id, 0), "t0", 0.05)
    assert shards.done(unit_of(job_id, 0), "t0", 3) == "merge"
    time.sleep(0.1)  # the merger died
    assert store.requeue_if_lost(unit_of(job_id, 0), 3)[0] == "requeued"
    assert store.start(unit_of(job_id, 0), "t0b", attempt()) == ("started", "2")
    assert shards.done(unit_of(job_id, 0), "t0b", 3) == "merge"
    assert store.finish(unit_of(job_id, 0), "succeeded", token="t0b")
    assert len(ends(store, job_id)) == 1
    assert store.stats().get("jobs:running", 0) == 0 and store.stats()["requeued:worker_lost"] == 2


def test_a_shard_lost_too_often_fails_the_whole_job_and_stops_the_others(store):
    job_id = new_sharded_job(store)
    store.start(unit_of(job_id, 0), "t0", attempt())
    store.start(unit_of(job_id, 1), "t1", attempt(lease=0.05, max_attempts=1))
    time.sleep(0.1)
    assert store.requeue_if_lost(unit_of(job_id, 1), 1)[0] == "failed"
    job = store.get_job(job_id)
    assert job["status"] == "failed" and job["error"]["reason"] == "worker_lost"
    assert not store.renew_lease(unit_of(job_id, 0), "t0", 5)  # shard 0 stops at its beat
    assert store.start(unit_of(job_id, 2), "t2", attempt()) == ("final", "failed")
    assert store.running_units() == []


def test_merged_splices_the_runs_in_order_into_shard_zeros_document():
    def part(k: int, runs: list) -> tuple[bytes, bytes]:
        doc = {"id": None, "status": "succeeded", "objective": {"name": "f"}, "runs": None}
        doc |= {"landscape": {"z": [1]} if k == 0 else None, "timing": {"run_ms": 1.5}}
        return json.dumps(doc).encode(), gzjoin.piece(json.dumps(runs).encode()[1:-1])

    job = {"id": "j", "created_at": 10.0, "started_at": 10.5}
    parts = [part(0, [{"a": 0}, {"a": 1}]), part(1, []), part(2, [{"a": 2}]), part(3, [{"a": 3}])]
    data = merged(job, parts)
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)  # one gzip member, as HTTP clients read
    doc = json.loads(inflate.decompress(data))
    assert inflate.eof and not inflate.unused_data
    assert list(doc) == ["id", "status", "objective", "runs", "landscape", "timing"]
    assert doc["id"] == "j" and [r["a"] for r in doc["runs"]] == [0, 1, 2, 3]
    assert doc["landscape"] == {"z": [1]}
    assert doc["timing"] == {"run_ms": 6.0, "queued_ms": 500.0, "shards": 4}


def test_a_shard_taken_from_the_queue_after_a_cancel_never_starts_and_the_job_ends_once(store):
    job_id = new_sharded_job(store)
    shards = Shards(store)
    store.start(unit_of(job_id, 0), "t0", attempt())
    store.start(unit_of(job_id, 1), "t1", attempt())
    assert store.request_cancel(job_id) == "running"  # shards 0 and 1 stop at their next chunk
    # a pool process freed by another job takes shard 2 before they do
    assert store.start(unit_of(job_id, 2), "t2", attempt()) == ("final", "canceled")
    assert int(shards.info(unit_of(job_id, 2)).get("attempts", 0)) == 0
    assert store.get_job(job_id)["status"] == "canceled"
    assert shards.progress(unit_of(job_id, 0), "t0", progress(60, 8), 8, 100, 3)[1] == "lost"
    assert not store.finish(unit_of(job_id, 1), "canceled", token="t1")
    assert ends(store, job_id) == [{"status": "canceled"}]
    assert store.running_units() == [] and store.stats()["attempts"] == 2
