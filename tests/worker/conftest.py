from __future__ import annotations

import subprocess
import time

import pytest
import redis

from api.stack import free_port, redis_server_binary
from worker.store import JobStore


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def store(redis_url):
    s = JobStore.from_url(redis_url, result_ttl=3600)
    s.r.flushdb()
    return s
