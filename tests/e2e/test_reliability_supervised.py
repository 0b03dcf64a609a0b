"""No accepted job lost, under `optserve up`: a pool child SIGKILLed mid-job, Redis SIGKILLed
mid-job (the supervisor restarts it)."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
import redis

from .reliability import end_events, running_pid, small_job, supervised_stack
from .stack import long_job, wait_for, wait_until


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    with supervised_stack(tmp_path_factory.mktemp("up")) as stack:
        yield stack


@pytest.fixture
def client(up):
    with httpx.Client(base_url=up.url, timeout=30) as c:
        yield c


def _progress(client: httpx.Client, job_id: str):
    return client.get(f"/v1/jobs/{job_id}").json()["progress"]


def test_a_job_whose_pool_child_is_killed_succeeds_exactly_once(up, client):
    job_id = client.post("/v1/jobs", json=long_job(steps=200_000)).json()["id"]
    wait_until(lambda: _progress(client, job_id), 90, "the job to report progress")
    pid, attempt = running_pid(up.store, job_id)
    assert attempt == 1
    os.kill(pid, signal.SIGKILL)  # the pool child only: the worker's main process lives on
    killed_at = time.monotonic()
    done = wait_for(client, job_id, timeout=60)
    assert done["status"] == "succeeded", done
    assert time.monotonic() - killed_at < 60
    assert done["attempts"] == 2
    assert end_events(up.store, job_id) == [{"status": "succeeded"}]
    assert len(client.get(f"/v1/jobs/{job_id}/result").json()["runs"]) == 1500
    following = client.post("/v1/jobs", json=small_job()).json()["id"]
    assert wait_for(client, following, timeout=60)["status"] == "succeeded"


def test_a_job_running_when_redis_is_killed_succeeds_after_the_supervisor_restarts_it(up, client):
    job_id = client.post("/v1/jobs", json=long_job(steps=200_000)).json()["id"]
    wait_until(lambda: _progress(client, job_id), 90, "the job to report progress")
    time.sleep(1.5)  # appendfsync everysec: the job's `running` state is on disk
    redis_pid = up.store.r.info("server")["process_id"]
    os.kill(redis_pid, signal.SIGKILL)

    def restarted() -> bool:
        try:
            return up.store.r.info("server")["process_id"] != redis_pid
        except redis.RedisError:
            return False

    wait_until(restarted, 30, "the supervisor to restart Redis")
    assert "redis exited" in up.log.read_text()
    done = wait_for(client, job_id, timeout=120)
    assert done["status"] == "succeeded", done
    assert end_events(up.store, job_id) == [{"status": "succeeded"}]
    following = client.post("/v1/jobs", json=small_job()).json()["id"]
    assert wait_for(client, following, timeout=60)["status"] == "succeeded"
