"""The API key as the OpenAPI document declares it (X-API-Key or bearer, on the routes that
take it, and only when keys are configured) and as the served API enforces it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.stack import free_port
from tests.api.served import served
from worker.settings import Settings

KEY = "k-contract-test"
EITHER_KEY = [{"ApiKey": []}, {"Bearer": []}]
OPEN_ROUTES = {("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get")}
KEYED_ROUTES = {
    ("/v1/jobs", "post"),
    ("/v1/jobs", "get"),
    ("/v1/jobs/{job_id}", "get"),
    ("/v1/jobs/{job_id}", "delete"),
    ("/v1/jobs/{job_id}/result", "get"),
    ("/v1/jobs/{job_id}/events", "get"),
    ("/v1/jobs/{job_id}/plot.png", "get"),
    ("/v1/jobs/{job_id}/plot.svg", "get"),
    ("/v1/workers", "get"),
}


def settings(tmp_path: Path, keys: str) -> Settings:
    # nothing listens on the Redis port: documents need no Redis, requests then answer 503
    return Settings(data=tmp_path, redis_port=free_port(), api_keys=keys)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_keyed_routes_declare_both_schemes(tmp_path: Path) -> None:
    document = create_app(settings(tmp_path, KEY)).openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key",
    }
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    ops = operations(document)
    assert KEYED_ROUTES | OPEN_ROUTES <= set(ops)
    for route in KEYED_ROUTES:
        assert ops[route]["security"] == EITHER_KEY, route
        assert "401" in ops[route]["responses"], route
    for route in set(ops) - KEYED_ROUTES:
        assert "security" not in ops[route], route


def test_an_open_api_declares_no_key(tmp_path: Path) -> None:
    document = create_app(settings(tmp_path, "")).openapi()
    assert "securitySchemes" not in document.get("components", {})
    assert all("security" not in op for op in operations(document).values())


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(settings(tmp_path_factory.mktemp("keyed"), KEY))
    with served(app) as url:
        yield url


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"Authorization": f"Basic {KEY}"}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"X-API-Key": KEY}, 503),  # past the key check: Redis is not there
        ({"Authorization": f"Bearer {KEY}"}, 503),
        ({"Authorization": f"bearer {KEY}"}, 503),
    ],
)
def test_either_scheme_is_accepted(url: str, headers: dict[str, str], status: int) -> None:
    response = httpx.get(f"{url}/v1/jobs/abc", headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
