"""The job state machine's Lua transitions, against a real Redis."""

from __future__ import annotations

import time

from worker.store import Attempt, JobStore

SPEC = {"objective": {"name": "rosenbrock"}, "steps": 10, "runs": [{"optimizer": "sgd"}]}


def attempt(lease: float = 5.0, max_attempts: int = 3, time_limit: float = 60.0) -> Attempt:
    return Attempt("w1", 123, "cpu", lease, max_attempts, time_limit)


def new_job(store: JobStore, job_id: str = "j1", owner: str = "alice") -> str:
    store.create_job(job_id, owner, SPEC, {"runs": 1})
    return job_id


def ends(store: JobStore, job_id: str) -> list[dict]:
    return [data for _, kind, data in store.read_events(job_id) if kind == "end"]


def counters(store: JobStore) -> dict[str, int]:
    return {k: v for k, v in store.stats().items() if v}


def test_a_job_runs_and_ends_exactly_once(store):
    job_id = new_job(store)
    assert store.start(job_id, "t1", attempt()) == ("started", "1")
    job = store.get_job(job_id)
    assert job["status"] == "running" and job["pid"] == "123" and job["queue"] == "cpu"
    assert counters(store) == {"jobs:running": 1, "submitted": 1, "attempts": 1}
    assert store.finish(job_id, "succeeded", token="t1")
    assert not store.finish(job_id, "failed", {"reason": "error"}, token="t1")
    assert not store.finish(job_id, "canceled")  # the API's path cannot end it again either
    assert store.get_job(job_id)["status"] == "succeeded"
    assert ends(store, job_id) == [{"status": "succeeded"}]
    assert counters(store) == {"finished:succeeded": 1, "submitted": 1, "attempts": 1}
    assert store.start(job_id, "t2", attempt()) == ("final", "succeeded")
    assert store.running_units() == []


def test_a_second_attempt_waits_for_a_live_lease(store):
    job_id = new_job(store)
    store.start(job_id, "t1", attempt(lease=5))
    outcome, ms = store.start(job_id, "t2", attempt())
    assert outcome == "leased" and 4000 < int(ms) <= 5000
    assert store.get_job(job_id)["attempts"] == 1


def test_heartbeat_keeps_the_lease_and_a_stale_attempt_cannot_renew_or_finish(store):
    job_id = new_job(store)
    store.start(job_id, "t1", attempt(lease=0.3))
    assert store.renew_lease(job_id, "t1", 0.3)
    time.sleep(0.4)  # the process died: no heartbeat, the lease lapses
    assert store.requeue_if_lost(job_id, 3) == ("requeued", "cpu")
    assert store.get_job(job_id)["status"] == "queued"
    assert not store.renew_lease(job_id, "t1", 5)  # the old attempt lost the job
    assert store.start(job_id, "t2", attempt()) == ("started", "2")
    assert not store.finish(job_id, "succeeded", token="t1")
    assert store.finish(job_id, "succeeded", token="t2")
    assert len(ends(store, job_id)) == 1
    assert counters(store)["requeued:worker_lost"] == 1


def test_the_reaper_leaves_live_jobs_alone(store):
    job_id = new_job(store)
    store.start(job_id, "t1", attempt(lease=5))
    assert store.requeue_if_lost(job_id, 3) == ("alive", "")
    assert store.get_job(job_id)["status"] == "running"


def test_a_job_lost_max_attempts_times_fails_with_worker_lost(store):
    job_id = new_job(store)
    for n in range(1, 4):
        assert store.start(job_id, f"t{n}", attempt(lease=0.05)) == ("started", str(n))
        time.sleep(0.1)
        expected = "requeued" if n < 3 else "failed"
        assert store.requeue_if_lost(job_id, 3)[0] == expected
    job = store.get_job(job_id)
    assert job["status"] == "failed" and job["error"]["reason"] == "worker_lost"
    assert ends(store, job_id)[0]["error"]["reason"] == "worker_lost"
    assert counters(store)["failed:worker_lost"] == 1
    assert "jobs:running" not in counters(store) and "jobs:queued" not in counters(store)


def test_a_redelivery_after_the_last_lost_attempt_fails_the_job_past_its_time_limit(store):
    job_id = new_job(store)
    store.start(job_id, "t1", attempt(lease=0.05, max_attempts=1, time_limit=0))
    time.sleep(0.1)
    assert store.start(job_id, "t2", attempt(max_attempts=1)) == ("final", "failed")
    assert store.get_job(job_id)["error"]["reason"] == "time_limit"


def test_cancel_queued_now_running_at_the_next_chunk_and_lost_running_by_the_reaper(store):
    queued = new_job(store, "q")
    assert store.request_cancel(queued) == "canceled"
    assert ends(store, queued) == [{"status": "canceled"}]
    running = new_job(store, "r")
    store.start(running, "t1", attempt(lease=0.05))
    assert store.request_cancel(running) == "running"
    assert store.set_progress(running, {"steps_done": 1})  # the worker sees the request
    time.sleep(0.1)
    assert store.requeue_if_lost(running, 3)[0] == "canceled"
    assert store.get_job(running)["status"] == "canceled" and len(ends(store, running)) == 1


def test_active_counts_come_from_job_states(store):
    for n in range(3):
        new_job(store, f"a{n}")
    assert store.admit("alice", 3, 0)[0] is not None  # three active: the limit
    store.r.hset(store.job_key("a0"), "status", "failed")  # ended without touching the set
    store.r.delete(store.job_key("a1"))  # expired
    assert store.admit("alice", 3, 0) == (None, 0)
    assert store.r.smembers(store.active_key("alice")) == {b"a2"}


def test_the_api_finishes_a_job_it_could_not_enqueue(store):
    job_id = new_job(store)
    assert store.finish(job_id, "failed", {"reason": "not_enqueued", "type": "not_enqueued"})
    assert store.get_job(job_id)["error"]["type"] == "not_enqueued"
    assert counters(store)["failed:not_enqueued"] == 1
