"""Worker presence on a real redis-server: registration, heartbeats, expiry, devices."""

from __future__ import annotations

import json
import time

import pytest
import redis

from api.stack import Stack, free_port
from worker.presence import WORKERS, Heartbeat, WorkerDirectory, worker_key
from worker.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("presence")
    stack = Stack(Settings(data=data, redis_port=free_port()), logs=data / "logs")
    stack.start_redis()
    yield redis.Redis.from_url(stack.settings.broker_url)
    stack.stop_all()


def test_a_worker_is_listed_while_it_beats_and_gone_after_a_clean_stop(client):
    beat = Heartbeat(
        client, "cpu@a:1", "cpu@a", ["cpu"], ttl=30, jobs_in_flight=lambda: ["j1", "j2"]
    )
    beat.start()
    (seen,) = WorkerDirectory(client).live()
    assert (seen.id, seen.node, seen.queues, seen.jobs, seen.devices) == (
        "cpu@a:1",
        "cpu@a",
        ["cpu"],
        ["j1", "j2"],
        [],
    )
    assert 0 < client.ttl(worker_key("cpu@a:1")) <= 30
    client.hset(worker_key("cpu@a:1"), "devices", json.dumps([{"platform": "gpu", "id": 0}]))
    assert WorkerDirectory(client).live()[0].has_gpu
    beat.stop()
    assert WorkerDirectory(client).live() == [] and client.zcard(WORKERS) == 0


def test_a_worker_that_stops_beating_expires_after_its_ttl(client):
    Heartbeat(
        client, "gpu@b:2", "gpu@b", ["gpu", "cpu"], ttl=2, jobs_in_flight=list
    ).beat()  # never again
    directory = WorkerDirectory(client, max_age=0)
    assert set(directory.by_queue()) == {"gpu", "cpu"}
    time.sleep(2.2)
    assert directory.live() == [] and client.zcard(WORKERS) == 0


def test_the_directory_answers_from_memory_for_max_age(client):
    directory = WorkerDirectory(client, max_age=60)
    assert directory.live() == []
    beat = Heartbeat(client, "cpu@c:3", "cpu@c", ["cpu"], ttl=30, jobs_in_flight=list)
    beat.start()
    try:
        assert directory.live() == []  # cached
        assert [w.id for w in directory.live(fresh=True)] == ["cpu@c:3"]
    finally:
        beat.stop()
