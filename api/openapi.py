"""What the OpenAPI document declares for each route beyond its success: problem responses
with their media type and headers, and the binary and streaming success types.

FastAPI puts a response ``model`` under the route's own media type (application/json), while
every error goes out as application/problem+json; ``install`` moves the error schemas under
the media type actually sent, so that a client generated from the document parses them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from .models import Problem
from .problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE

Responses = dict[int | str, dict[str, Any]]

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
LOCATION = {
    "Location": {
        "description": "the job's URL",
        "required": True,
        "schema": {"type": "string"},
    }
}
IDEMPOTENT_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true when an earlier request with this Idempotency-Key made the job",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

DEFAULT_DETAIL = {
    400: "The body could not be read (not UTF-8 JSON)",
    401: "A valid API key is required (X-API-Key or Authorization: Bearer)",
    404: "No such job for this API key",
    409: "Conflict with the job's state",
    410: "The result expired",
    413: "The body is over the size limit",
    422: "Invalid request: `errors` names each bad field",
    429: "A per-key rate or concurrency limit (Retry-After)",
    503: "A dependency (Redis, the queue, the workers) is down",
}


def problems(*statuses: int, retry_after: tuple[int, ...] = (), **details: str) -> Responses:
    """Problem responses for ``statuses``; ``details`` overrides a description (``s409=...``)."""
    out: Responses = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": Problem,
            "description": details.get(f"s{status}", DEFAULT_DETAIL[status]),
        }
        if status in retry_after:
            entry["headers"] = RETRY_AFTER_HEADER
        out[status] = entry
    return out


def binary(media_type: str, description: str) -> Responses:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def event_stream(description: str) -> Responses:
    return {200: {"description": description, "content": {"text/event-stream": {"schema": {}}}}}


def operation_id(route: APIRoute) -> str:
    """The route function's name (submit_job, get_result): what generated clients call."""
    return route.name


FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"


def _problems_as_sent(document: dict[str, Any]) -> None:
    """Error schemas under problem+json; FastAPI's own 422 (HTTPValidationError), which it adds
    to every route with parameters, dropped: a route that can answer 422 declares it."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            schema = responses.get("422", {}).get("content", {}).get("application/json", {})
            if schema.get("schema", {}).get("$ref") == FASTAPI_VALIDATION_ERROR:
                del responses["422"]
            for status, response in responses.items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _security_as_enforced(document: dict[str, Any], enforced: bool) -> None:
    """Routes that take the caller's key declare X-API-Key or bearer; an API started without
    keys (OPTSERVE_API_KEYS empty) asks for none, and its document says so: no requirement, no
    scheme."""
    if enforced:
        return
    for path in document.get("paths", {}).values():
        for operation in path.values():
            operation.pop("security", None)
    document.get("components", {}).pop("securitySchemes", None)


def install(app: FastAPI) -> None:
    """Serve the document with problem+json error bodies, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _problems_as_sent(document)
            _security_as_enforced(document, enforced=bool(app.state.owners))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
