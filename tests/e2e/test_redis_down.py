"""Redis killed under a running stack: every endpoint that needs it answers 503 problem+json
with Retry-After, /healthz stays 200; once Redis is back, the API serves again."""

from __future__ import annotations

import httpx
import pytest

from .stack import start_stack, wait_for, wait_until

PROBLEM = "application/problem+json"
JOB = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}], "steps": 50}


@pytest.fixture
def own_stack(tmp_path):
    stack = start_stack(tmp_path)
    yield stack
    stack.stop_all()


def endpoints(job_id: str) -> list[tuple[str, str, dict]]:
    base = f"/v1/jobs/{job_id}"
    return [
        ("GET", "/readyz", {}),
        ("GET", "/v1/jobs", {}),
        ("POST", "/v1/jobs", {"json": JOB}),
        ("POST", "/v1/jobs", {"json": JOB, "headers": {"Idempotency-Key": "k1"}}),
        ("GET", base, {}),
        ("GET", f"{base}/result", {}),
        ("GET", f"{base}/events", {}),
        ("GET", f"{base}/plot.png", {"params": {"kind": "loss"}}),
        ("GET", f"{base}/plot.svg", {"params": {"kind": "loss"}}),
        ("DELETE", base, {}),
    ]


def test_redis_down_is_503_with_retry_after_everywhere_and_the_api_recovers(own_stack):
    with httpx.Client(base_url=own_stack.url, timeout=30) as client:
        job_id = client.post("/v1/jobs", json=JOB).json()["id"]
        assert wait_for(client, job_id)["status"] == "succeeded"

        own_stack.kill("redis")  # SIGKILL of the redis-server this test started

        for method, path, kwargs in endpoints(job_id):
            r = client.request(method, path, **kwargs)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert r.headers["content-type"] == PROBLEM, (method, path)
            assert int(r.headers["retry-after"]) > 0, (method, path)
            assert r.json()["status"] == 503
        assert client.get("/healthz").status_code == 200

        own_stack.start_redis()  # same port, same append-only file

        def serves() -> bool:
            return client.get(f"/v1/jobs/{job_id}").status_code == 200

        wait_until(serves, timeout=30, what="the API to serve again")
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200
        assert client.get(f"/v1/jobs/{job_id}/plot.png", params={"kind": "loss"}).status_code == 200
        assert client.get("/v1/jobs").status_code == 200
        again = client.post("/v1/jobs", json=JOB)
        assert again.status_code == 202, again.text
