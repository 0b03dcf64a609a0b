"""Bounded work: the soft time limit stops the computation, a job whose process is killed
every time fails after its attempts, cancel lands within 2 s, and a progress stream outlives
a long wait in the queue."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from .reliability import (
    FAST_RECOVERY,
    end_events,
    is_idle,
    next_job_succeeds,
    running_pid,
    started,
)
from .stack import long_job, start_stack, store_of, wait_for, wait_until

SOFT_LIMIT_S = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("rel"),
        task_soft_time_limit=SOFT_LIMIT_S,
        task_time_limit=40,
        visibility_timeout=45,
        chunk_seconds=0.5,
        **FAST_RECOVERY,
    )
    yield stack
    stack.stop_all()


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        yield c


def test_the_soft_time_limit_fails_the_job_and_stops_its_computation(stack, client):
    # minutes of compute on any machine (long_job() on 2-D Rosenbrock ended inside the 8 s
    # limit in a fresh-clone CI run on a quiet day; steps and runs are at their maximum)
    beyond_the_limit = {**long_job(), "objective": {"name": "rastrigin", "params": {"dim": 16}}}
    job_id = client.post("/v1/jobs", json=beyond_the_limit).json()["id"]
    pid, _ = started(stack, job_id)
    done = wait_for(client, job_id, timeout=SOFT_LIMIT_S + 30)
    assert done["status"] == "failed" and done["error"]["reason"] == "time_limit", done
    assert end_events(store_of(stack), job_id)[0]["error"]["reason"] == "time_limit"
    wait_until(lambda: is_idle(pid), 2, "the pool process to go idle")
    next_job_succeeds(client)


def test_cancel_lands_within_two_seconds_on_a_running_job(stack, client):
    job_id = client.post("/v1/jobs", json=long_job()).json()["id"]
    pid, _ = started(stack, job_id)

    def running() -> bool:  # past compiling (test_cancel_bounded cancels a compile)
        progress = client.get(f"/v1/jobs/{job_id}").json()["progress"] or {}
        return progress.get("phase") == "running"

    wait_until(running, 60, "the running phase")
    asked = time.monotonic()
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 202
    done = wait_for(client, job_id, timeout=10)
    took = time.monotonic() - asked
    assert done["status"] == "canceled" and took < 2.0, (done["status"], took)
    wait_until(lambda: is_idle(pid), 2, "the pool process to go idle")
    assert end_events(store_of(stack), job_id) == [{"status": "canceled"}]
    next_job_succeeds(client)


def test_a_job_whose_process_is_killed_every_time_fails_after_three_attempts(stack, client):
    store = store_of(stack)
    job_id = client.post("/v1/jobs", json=long_job()).json()["id"]
    killed: set[int] = set()

    def kill_each_attempt() -> bool:
        job = store.get_job(job_id)
        running = running_pid(store, job_id)
        if running and running[0] not in killed:
            os.kill(running[0], signal.SIGKILL)
            killed.add(running[0])
        return job["status"] in ("succeeded", "failed", "canceled")

    wait_until(kill_each_attempt, 120, "the poison job to end")
    job = store.get_job(job_id)
    assert job["status"] == "failed" and job["error"]["reason"] == "worker_lost", job
    assert job["attempts"] == 3 and len(killed) == 3
    assert len(end_events(store, job_id)) == 1
    next_job_succeeds(client)
