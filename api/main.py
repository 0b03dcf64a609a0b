"""The FastAPI application: ``create_app()`` wires settings, store, queue and routers.

The API validates jobs with optcore's spec and catalog but never compiles JAX code: jobs run
on the workers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optcore.version import VERSION
from worker.celery_app import make_app
from worker.events import EventReader
from worker.presence import WorkerDirectory
from worker.settings import Settings, get_settings
from worker.store import JobStore

from . import openapi, problems
from .deps import key_owner
from .metrics import COLLECTOR, MetricsMiddleware
from .routes import catalog, health, jobs, plots, web, workers

DESCRIPTION = """Optimization as a service: POST a job (an objective, optimizers with their
hyperparameters, steps, what to record); a worker runs it as jitted JAX; fetch trajectories,
loss curves and landscape grids as JSON."""


class BodyLimit:
    """Refuse request bodies over the limit, counting the bytes actually received (413
    problem+json). A pure ASGI middleware: a declared Content-Length over the limit is refused
    unread; any other body, chunked or not, is read here up to the limit and handed on whole,
    so a chunked upload can never make the application buffer more than the limit."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send, f"the body has {int(declared):,} bytes")
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.limit:
                await self._refuse(scope, send, f"the body has more than {self.limit:,} bytes")
                return
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # later: http.disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, detail: str) -> None:
        response = problems.problem_response(
            Request(scope),
            413,
            f"{detail}; at most {self.limit:,}",
            "too-large",
            headers={"Connection": "close"},  # the rest of the body is never read
        )
        await response(scope, _no_receive, send)


def _has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="optserve",
        version=VERSION,
        description=DESCRIPTION,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    app.state.store = JobStore.from_url(
        settings.broker_url,
        retries=2,  # with Redis away, answer 503 within a second rather than hang
        result_ttl=settings.result_ttl,
        idempotency_ttl=settings.idempotency_ttl,
        compress_min_bytes=settings.compress_min_bytes,
    )
    app.state.events = EventReader(settings.broker_url)
    app.state.workers = WorkerDirectory.from_url(settings.broker_url)
    app.state.owners = {key_owner(k) for k in settings.keys}
    app.state.celery = make_app(settings, include=())  # sends tasks by name only
    COLLECTOR.app = app
    problems.install(app)
    # innermost, so that it sees whole responses: bodies under 1 KB stay uncompressed
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    openapi.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    for module in (jobs, plots, catalog, health, web, workers):
        app.include_router(module.router)
    return app
