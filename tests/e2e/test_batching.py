"""Micro-batching on a real stack: 40 small jobs of one structure submitted at once run in
shared programs, each with its own result (equal to running it alone), status and owner;
a pool process killed mid-batch loses no job and ends none twice."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from optcore import dumps
from optcore import run as run_in_process

from .reliability import FAST_RECOVERY, end_events, running_pid
from .stack import assert_same_runs, long_job, start_stack, store_of, wait_for, wait_until

KEYS = {"alice": {"X-API-Key": "alice-key"}, "bob": {"X-API-Key": "bob-key"}}


def small_job(i: int, steps: int = 2000, runs: int = 1) -> dict:
    """One Adam run, or a sweep of ``runs`` (a batch of those lasts long enough to be
    interrupted however fast the runner gets)."""
    rate = 1e-3 * (1 + i)
    run: dict = {"optimizer": "adam", "hyperparameters": {"learning_rate": rate}}
    if runs > 1:
        run = {
            "optimizer": "adam",
            "sweep": {"learning_rate": [rate * (1 + k / runs) for k in range(runs)]},
        }
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "init": {"point": [-1.5 + 0.01 * i, 2.0 - 0.01 * i]},
        "seed": i,
        "runs": [run],
        "record": {"every": max(1, steps // 20)},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("batching"), api_keys="alice-key,bob-key", **FAST_RECOVERY
    )
    yield stack
    stack.stop_all()


def _submit_all(stack, jobs: list[tuple[str, dict]]) -> list[str]:
    """Every job POSTed at once, from threads: (owner, job) -> job id."""

    def post(item: tuple[str, dict]) -> str:
        owner, job = item
        with httpx.Client(base_url=stack.url, timeout=60, headers=KEYS[owner]) as c:
            response = c.post("/v1/jobs", json=job)
            assert response.status_code == 202, response.text
            return response.json()["id"]

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(post, jobs))


def _wait_all(stack, owners: list[str], ids: list[str], timeout: float = 120) -> list[dict]:
    out = []
    for owner, job_id in zip(owners, ids, strict=True):
        with httpx.Client(base_url=stack.url, timeout=60, headers=KEYS[owner]) as c:
            out.append(wait_for(c, job_id, timeout=timeout))
    return out


def test_forty_small_jobs_share_programs_and_keep_their_own_results_and_owners(stack):
    owners = ["alice" if i % 2 else "bob" for i in range(40)]
    specs = [small_job(i) for i in range(40)]
    ids = _submit_all(stack, list(zip(owners, specs, strict=True)))
    done = _wait_all(stack, owners, ids)
    assert [d["status"] for d in done] == ["succeeded"] * 40
    batched = [d for d in done if d.get("batched_with")]
    assert batched and max(d["batch_jobs"] for d in done if d.get("batch_jobs")) > 2
    mine = dict(zip(ids, owners, strict=True))
    for d in done:  # another owner's jobs are never named
        assert all(mine[other] == mine[d["id"]] for other in d.get("batched_with") or [])
    with httpx.Client(base_url=stack.url, timeout=60) as c:
        for job_id, owner, spec in zip(ids, owners, specs, strict=True):
            result = c.get(f"/v1/jobs/{job_id}/result", headers=KEYS[owner]).json()
            other = "bob" if owner == "alice" else "alice"
            assert c.get(f"/v1/jobs/{job_id}/result", headers=KEYS[other]).status_code == 404
            alone = json.loads(dumps(run_in_process(spec)))
            assert_same_runs(result["runs"], alone["runs"])  # its own run, as if alone
    stats = store_of(stack).stats()
    assert stats["batches"] >= 1
    # each batched job's own Celery message left the queue when the batch took it
    assert 1 <= stats["messages_dropped"] <= stats["batched_jobs"] - stats["batches"]


def test_a_pool_process_killed_mid_batch_loses_no_job_and_ends_none_twice(stack):
    store = store_of(stack)
    owners = ["alice"] * 40
    ids = _submit_all(stack, [("alice", small_job(i, 1_000_000, runs=8)) for i in range(40)])

    def a_batch_mid_way() -> int | None:
        for job_id in ids:
            running = running_pid(store, job_id)
            if running and _mid_way(store, job_id, batched=True):
                return running[0]
        return None

    os.kill(wait_until(a_batch_mid_way, 90, "a batch to make progress"), signal.SIGKILL)
    done = _wait_all(stack, owners, ids, timeout=240)
    assert [d["status"] for d in done] == ["succeeded"] * 40
    assert max(d["attempts"] for d in done) == 2  # the killed batch's jobs ran again
    for job_id in ids:
        assert end_events(store, job_id) == [{"status": "succeeded"}]
    assert store.stats().get("jobs:running", 0) == 0


def _mid_way(store, job_id: str, batched: bool = False) -> bool:
    job = store.get_job(job_id)
    progress = job["progress"] or {}
    return progress.get("steps_done", 0) > 0 and (not batched or bool(job["batch"]))


def test_a_cancel_before_the_batch_leaves_a_job_out_and_during_it_stops_only_that_job(stack):
    store = store_of(stack)
    blocker = _submit_all(stack, [("alice", long_job())])[0]  # the worker is busy
    wait_until(lambda: _mid_way(store, blocker), 90, "the first job to run")
    ids = _submit_all(stack, [("alice", small_job(i, 1_000_000, runs=64)) for i in range(8)])
    with httpx.Client(base_url=stack.url, timeout=60, headers=KEYS["alice"]) as c:
        assert c.delete(f"/v1/jobs/{ids[0]}").json()["status"] == "canceled"  # still queued
        c.delete(f"/v1/jobs/{blocker}")
        # the POSTs raced, so which jobs share the first batch is not known in advance (and
        # the power-of-two trim can leave one to run alone): cancel one seen in a batch
        running = wait_until(
            lambda: next((j for j in ids[1:] if _mid_way(store, j, batched=True)), None),
            90,
            "a batch to run",
        )
        assert ids[0] not in store.get_job(running)["batch"]
        c.delete(f"/v1/jobs/{running}")
        assert wait_for(c, running, timeout=10)["status"] == "canceled"
        assert c.get(f"/v1/jobs/{running}/result").status_code == 409
        done = [wait_for(c, job_id, timeout=120) for job_id in ids[1:] if job_id != running]
    assert [d["status"] for d in done] == ["succeeded"] * 6
    assert all(end_events(store, j) == [{"status": "canceled"}] for j in (ids[0], running))
