"""Every error as RFC 9457 problem+json; one place maps our error types onto it."""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from optcore import SpecError

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
REDIS_RETRY_AFTER = "5"
log = logging.getLogger("optserve.api")


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        self.status, self.detail, self.kind = status, detail, kind
        self.headers, self.extra = headers or {}, extra


def problem_response(
    request: Request,
    status: int,
    detail: str,
    kind: str | None = None,
    headers: dict | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"/problems/{kind}" if kind else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


MAX_LISTED_ERRORS = 100  # a body of thousands of bad numbers is not answered item by item


def invalid(request: Request, errors: list[tuple[str, str]]) -> JSONResponse:
    shown = "; ".join(f"{f or 'body'}: {m}" for f, m in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    listed = errors[:MAX_LISTED_ERRORS]
    return problem_response(
        request,
        422,
        shown + more,
        "invalid-job",
        errors=[{"field": f, "message": m} for f, m in listed],
    )


def _loc(loc: tuple) -> str:
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "header", "path") else loc)
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else str(part))
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, exc.kind, exc.headers, **exc.extra)

    @app.exception_handler(SpecError)
    async def _spec(request: Request, exc: SpecError) -> JSONResponse:
        return invalid(request, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                errors.append(
                    ("body", f"malformed JSON: {e.get('ctx', {}).get('error', '')}".rstrip(": "))
                )
            else:
                errors.append((_loc(tuple(e.get("loc", ()))), e.get("msg", "invalid")))
        return invalid(request, errors)

    for error in REDIS_DOWN:  # BusyLoadingError (Redis restarting) is a ConnectionError too

        @app.exception_handler(error)
        async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
            log.warning("Redis unavailable on %s: %s", request.url.path, exc)
            return problem_response(
                request,
                503,
                "the job store (Redis) is unavailable; try again",
                "store-unavailable",
                headers={"Retry-After": REDIS_RETRY_AFTER},
            )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the exception after this answer; the connection is not reused.
        return problem_response(
            request,
            500,
            "an unexpected error; it has been logged",
            "internal",
            headers={"Connection": "close"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(app, request))}
        return problem_response(request, exc.status_code, str(exc.detail), headers=headers)


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first
    route's, while GET and POST /v1/jobs are two routes)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)
