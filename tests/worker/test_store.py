"""worker.store against a real redis-server: idempotency races, cursor ties, event trimming,
TTLs and cancel transitions. (Leases are tested with the reliability work.)"""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from worker import store as store_module
from worker.store import CANCELED, QUEUED, RUNNING, SUCCEEDED, Attempt, JobStore

SPEC = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}]}
SUMMARY = {"objective": "rosenbrock", "runs": 1, "steps": 1000, "optimizers": ["adam"]}


@pytest.fixture
def store(redis_url: str) -> JobStore:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return JobStore(client, result_ttl=300, idempotency_ttl=60, compress_min_bytes=1024)


def new_job(store: JobStore, job_id: str, owner: str = "alice") -> dict:
    return store.create_job(job_id, owner, SPEC, SUMMARY)


# -- idempotency ------------------------------------------------------------------------------


def test_concurrent_claims_of_one_key_have_exactly_one_winner(store: JobStore) -> None:
    threads, outcomes = 16, []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def claim(i: int) -> None:
        barrier.wait()
        outcome = store.claim_idempotency("alice", "key-1", "fp", f"job-{i}")
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=claim, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    winners = [job for state, job in outcomes if state == "new"]
    assert len(winners) == 1
    assert {state for state, _ in outcomes} == {"new", "in_progress"}
    assert {job for _, job in outcomes} == set(winners)  # every loser names the winner's job


def test_idempotency_states_after_completion_release_and_mismatch(store: JobStore) -> None:
    assert store.claim_idempotency("alice", "k", "fp", "job-a") == ("new", "job-a")
    assert store.claim_idempotency("alice", "k", "other", "job-b") == ("mismatch", "job-a")
    store.complete_idempotency("alice", "k")
    assert store.claim_idempotency("alice", "k", "fp", "job-c") == ("replay", "job-a")
    assert store.claim_idempotency("bob", "k", "fp", "job-d") == ("new", "job-d")  # per owner
    store.release_idempotency("alice", "k")
    assert store.claim_idempotency("alice", "k", "fp", "job-e") == ("new", "job-e")
    ttl = store.r.ttl(f"{store_module.PREFIX}idem:alice:k")
    assert 0 < ttl <= 60


def test_completing_keeps_the_keys_ttl(store: JobStore) -> None:
    store.claim_idempotency("alice", "k", "fp", "job-a")
    key = f"{store_module.PREFIX}idem:alice:k"
    store.r.expire(key, 7)
    store.complete_idempotency("alice", "k")
    assert 0 < store.r.ttl(key) <= 7


# -- listing ----------------------------------------------------------------------------------


def walk(store: JobStore, owner: str, size: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = store.list_jobs(owner, size, after)
        pages.append([job["id"] for job in page.items])
        if page.next_after is None:
            return pages
        after = page.next_after


def test_cursor_walks_ties_on_the_score_once_each_in_member_order(store: JobStore) -> None:
    ids = [f"job-{i:02d}" for i in range(7)]
    for job_id in ids:
        new_job(store, job_id)
    owner_key = f"{store_module.PREFIX}owner:alice"
    store.r.zadd(owner_key, dict.fromkeys(ids, 1_000.0))  # all created in the same millisecond
    pages = walk(store, "alice", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [job for page in pages for job in page] == sorted(ids, reverse=True)


def test_list_is_newest_first_per_owner_and_drops_expired_jobs(store: JobStore) -> None:
    for i in range(4):
        new_job(store, f"a{i}")
        time.sleep(0.002)
    new_job(store, "b0", owner="bob")
    assert [j for p in walk(store, "alice", 10) for j in p] == ["a3", "a2", "a1", "a0"]
    store.r.delete(f"{store_module.PREFIX}job:a2")  # the record expired, the index kept it
    assert [j for p in walk(store, "alice", 2) for j in p] == ["a3", "a1", "a0"]
    assert store.r.zscore(f"{store_module.PREFIX}owner:alice", "a2") is None
    assert [j for p in walk(store, "bob", 10) for j in p] == ["b0"]


# -- events, results, TTLs --------------------------------------------------------------------


def test_progress_events_are_trimmed_near_the_cap(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "EVENTS_KEPT", 50)
    new_job(store, "j")
    for step in range(1_000):
        store.set_progress("j", {"steps_done": step})
    length = store.r.xlen(f"{store_module.PREFIX}events:j")
    assert 50 <= length < 1_000  # approximate trimming: whole radix-tree nodes go
    assert store.get_job("j")["progress"] == {"steps_done": 999}


def test_events_read_after_an_id_and_end_last(store: JobStore) -> None:
    new_job(store, "j")
    store.set_progress("j", {"steps_done": 1})
    first = store.read_events("j")
    store.set_progress("j", {"steps_done": 2})
    store.finish("j", SUCCEEDED)
    rest = store.read_events("j", after=first[-1][0])
    assert [(kind, data) for _, kind, data in rest] == [
        ("progress", {"steps_done": 2}),
        ("end", {"status": SUCCEEDED}),
    ]


def test_finished_jobs_and_results_expire_after_the_result_ttl(store: JobStore) -> None:
    job = new_job(store, "j")
    assert job["status"] == QUEUED and store.r.ttl(f"{store_module.PREFIX}job:j") == -1
    assert store.save_result("j", b'{"runs":[1.0,2.0]}')
    assert not store.save_result("j", b'{"runs":[]}')  # a second attempt never replaces it
    store.finish("j", SUCCEEDED)
    for key in ("job:j", "events:j", "result:j"):
        assert 290 <= store.r.ttl(f"{store_module.PREFIX}{key}") <= 300, key
    store.save_plot("j", "loss.png", b"png")
    assert 0 < store.r.ttl(f"{store_module.PREFIX}plot:j:loss.png") <= 300
    assert store.load_result("j") == {"runs": [1.0, 2.0]}
    assert store.r.sismember(f"{store_module.PREFIX}active:alice", "j") == 0


def test_large_results_are_stored_gzip_and_read_back(store: JobStore) -> None:
    new_job(store, "j")
    result = {"loss": [float(i) for i in range(2_000)]}
    store.save_result("j", json.dumps(result).encode())
    assert store.result_bytes("j")[:2] == store_module.GZIP_MAGIC
    assert store.load_result("j") == result


ATTEMPT = Attempt(worker="w1", pid=1, queue="cpu", lease_seconds=15, max_attempts=3, time_limit=60)


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_of_a_queued_job_is_final_and_it_never_starts(store: JobStore) -> None:
    new_job(store, "j")
    assert store.request_cancel("j") == CANCELED
    job = store.get_job("j")
    assert job["status"] == CANCELED and job["finished_at"] is not None
    assert store.read_events("j")[-1][1:] == ("end", {"status": CANCELED})
    assert store.start("j", "t1", ATTEMPT) == ("final", CANCELED)
    assert store.r.sismember(f"{store_module.PREFIX}active:alice", "j") == 0


def test_cancel_of_a_running_job_flags_it_and_of_a_finished_one_changes_nothing(
    store: JobStore,
) -> None:
    new_job(store, "j")
    assert store.start("j", "t1", ATTEMPT) == ("started", "1")
    assert store.request_cancel("j") == RUNNING
    assert store.cancel_requested("j") and store.get_job("j")["status"] == RUNNING
    assert store.finish("j", CANCELED, token="t1")
    assert store.request_cancel("j") == CANCELED
    assert store.request_cancel("unknown") is None
    new_job(store, "k")
    store.start("k", "t2", ATTEMPT)
    assert store.finish("k", SUCCEEDED, token="t2")
    assert store.request_cancel("k") == SUCCEEDED
    assert not store.cancel_requested("k")


def test_admit_counts_active_jobs_and_submissions_per_minute(store: JobStore) -> None:
    for i in range(2):
        new_job(store, f"j{i}")
    assert store.admit("alice", max_active=3, per_minute=0) == (None, 0)
    limit, wait = store.admit("alice", max_active=2, per_minute=0)
    assert limit is not None and "2 jobs" in limit and wait > 0
    store.finish("j0", SUCCEEDED)
    assert store.admit("alice", max_active=2, per_minute=0) == (None, 0)
    minute = int(time.time() // 60)
    outcomes = [store.admit("bob", max_active=0, per_minute=3) for _ in range(5)]
    if int(time.time() // 60) == minute:  # else the window rolled over and the count restarted
        assert [limit for limit, _ in outcomes] == [None] * 3 + [
            "at most 3 submissions a minute"
        ] * 2
        assert all(0 < wait <= 60 for _, wait in outcomes[3:])
