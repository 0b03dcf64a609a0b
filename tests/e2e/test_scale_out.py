"""More than one machine: Redis with a password (an ACL user), Redis over TLS, worker presence
and per-job placement, on real redis-server, Celery and uvicorn processes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import redis

from api.stack import free_port

from .stack import start_stack, store_of, wait_for, wait_until
from .tls_proxy import TlsProxy, self_signed_certificate

PASSWORD = 'a "quoted" pass\\word'
PROBLEM = "application/problem+json"


def small_job(**extra) -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "steps": 300,
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 1e-2}}],
        **extra,
    }


def end_event(client: httpx.Client, job_id: str) -> dict:
    """The final Server-Sent Event of a job (the API reads the stream from Redis)."""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "end":
                return json.loads(line[6:])
    raise AssertionError("the stream ended without an end event")


def raw_reply(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command)
        return s.recv(256)


def plain_text_answered(port: int) -> bool:
    try:
        return raw_reply(port, b"PING\r\n").startswith(b"+PONG")
    except OSError:  # the TLS server drops a client that does not speak TLS
        return False


def live_workers(client: httpx.Client) -> dict:
    """GET /v1/workers once the pool child has reported its devices."""
    return wait_until(
        lambda: (
            (doc := client.get("/v1/workers").json())["workers"]
            and all(w["devices"] for ws in doc["queues"].values() for w in ws)
            and doc
        ),
        90,
        "the worker's devices",
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A stack whose Redis requires a password; every client logs in as an ACL user."""
    stack = start_stack(
        tmp_path_factory.mktemp("secured"), redis_password=PASSWORD, redis_username="optserve"
    )
    yield stack
    stack.stop_all()


@pytest.fixture
def client(secured):
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        yield c


def test_a_password_protected_redis_runs_a_job_and_refuses_clients_without_it(secured, client):
    job_id = client.post("/v1/jobs", json=small_job()).json()["id"]
    assert end_event(client, job_id) == {"status": "succeeded"}  # SSE reads Redis too
    assert wait_for(client, job_id)["status"] == "succeeded"
    assert len(client.get(f"/v1/jobs/{job_id}/result").json()["runs"]) == 1
    port = secured.settings.redis_port
    assert raw_reply(port, b"PING\r\n").startswith(b"-NOAUTH")
    assert raw_reply(port, b"AUTH optserve wrong\r\n").startswith(b"-WRONGPASS")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, protocol=2).get("optserve:secret")
    assert store_of(secured).get_job(job_id)["status"] == "succeeded"  # with the password
    assert (secured.data / "redis-auth.conf").stat().st_mode & 0o077 == 0


def test_workers_lists_the_worker_with_its_cpu_device_and_readyz_reports_it(client):
    live_workers(client)
    # the count is written by a heartbeat every ttl/3 s: the previous test's job may still be in it
    doc = wait_until(
        lambda: (
            (d := client.get("/v1/workers").json())["queues"]["cpu"][0]["jobs_in_flight"] == 0 and d
        ),
        30,
        "the heartbeat after the last job",
    )
    assert doc["workers"] == 1 and list(doc["queues"]) == ["cpu"]
    (worker,) = doc["queues"]["cpu"]
    assert worker["devices"][0]["platform"] == "cpu"
    assert worker["node"].startswith("cpu@")
    ready = client.get("/readyz").json()
    assert ready["workers"] == 1 and ready["queues"]["cpu"][0]["node"] == worker["node"]


def test_the_celery_parent_never_loads_jax_its_pool_child_reports_the_devices(secured, client):
    live_workers(client)  # a child has written jax.devices(): JAX is up there
    parent = secured.procs["worker"].pid
    assert "jaxlib" not in Path(f"/proc/{parent}/maps").read_text()
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    assert any("jaxlib" in Path(f"/proc/{c}/maps").read_text() for c in children)


def test_gpu_without_a_gpu_worker_is_a_422_naming_device_and_nothing_is_queued(secured, client):
    live_workers(client)
    before = store_of(secured).r.llen("gpu")
    r = client.post("/v1/jobs", json=small_job(device="gpu"))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert [e["field"] for e in r.json()["errors"]] == ["device"]
    assert store_of(secured).r.llen("gpu") == before == 0
    bad = client.post("/v1/jobs", json=small_job(device="tpu"))
    assert bad.status_code == 422 and "device" in json.dumps(bad.json()["errors"])


def test_auto_and_cpu_jobs_go_to_the_cpu_queue_and_run_there(secured, client):
    live_workers(client)
    for job in (small_job(), small_job(device="cpu")):
        created = client.post("/v1/jobs", json=job).json()
        assert created["summary"]["queue"] == "cpu"
        done = wait_for(client, created["id"])
        assert done["status"] == "succeeded"
        assert store_of(secured).get_job(created["id"])["worker"].startswith("cpu@")


def test_redis_over_tls_serves_the_broker_the_store_and_the_event_stream(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    redis_port = free_port()
    proxy = TlsProxy(redis_port, cert, key).start()
    stack = None
    try:
        stack = start_stack(
            tmp_path / "stack",
            redis_port=redis_port,
            redis_url=f"rediss://localhost:{proxy.port}/0",
            redis_ssl_ca_certs=cert,
            redis_password=PASSWORD,
        )
        assert stack.settings.broker_url.startswith("rediss://")
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            job_id = client.post("/v1/jobs", json=small_job()).json()["id"]
            assert end_event(client, job_id) == {"status": "succeeded"}
            assert live_workers(client)["queues"]["cpu"][0]["devices"]
        # the certificate is checked: a client that does not trust it is refused
        untrusted = redis.Redis.from_url(
            f"rediss://localhost:{proxy.port}/0?ssl_cert_reqs=required", password=PASSWORD
        )
        with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.ping()
        assert not plain_text_answered(proxy.port)
    finally:
        if stack is not None:
            stack.stop_all()
        proxy.stop()
