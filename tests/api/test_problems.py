"""Failures mapped to problem documents, on the real application served by uvicorn: an
unexpected error is a 500 problem that closes the connection; Redis unreachable is a 503 with
Retry-After; a body over the limit is a 413 whether its length is declared or not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.main import create_app
from api.stack import free_port
from tests.api.served import served
from worker.settings import Settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    """The API with no Redis listening at its URL, plus a route that fails unexpectedly."""
    settings = Settings(
        data=tmp_path_factory.mktemp("api"), redis_port=free_port(), max_body_bytes=1000
    )
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("a bug")

    with served(app) as url:
        yield url


def test_an_unexpected_error_is_a_500_problem_that_closes_the_connection(url):
    with httpx.Client(base_url=url) as client:
        r = client.get("/boom")
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert r.headers["connection"] == "close"
    assert r.json()["status"] == 500 and "a bug" not in r.text  # nothing internal leaks


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/v1/jobs"), ("GET", "/v1/jobs/abc"), ("DELETE", "/v1/jobs/abc"), ("GET", "/readyz")],
)
def test_redis_unreachable_is_a_503_problem_with_retry_after(url, method, path):
    r = httpx.request(method, f"{url}{path}", timeout=30)
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) > 0


def test_healthz_answers_without_redis(url):
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}


def test_bodies_over_the_limit_are_413_declared_or_chunked(url):
    declared = httpx.post(f"{url}/v1/jobs", content=b"x" * 1001)
    chunked = httpx.post(f"{url}/v1/jobs", content=iter([b"x" * 600, b"x" * 600]))
    for r in (declared, chunked):
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
        assert "at most 1,000" in r.json()["detail"]


def test_a_body_within_the_limit_reaches_the_application(url):
    r = httpx.post(
        f"{url}/v1/jobs",
        content=iter([b"{", b'"steps": true}']),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422  # read whole and validated: not refused for its size
    assert {"steps", "objective", "runs"} <= {e["field"] for e in r.json()["errors"]}
