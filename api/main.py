"""The FastAPI application: ``create_app()`` wires settings, store, queue and routers.

The API validates jobs with optcore's spec and catalog but never compiles JAX code: jobs run
on the workers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware

from optcore.version import VERSION
from worker.celery_app import make_app
from worker.settings import Settings, get_settings
from worker.store import EventReader, JobStore

from . import openapi, problems
from .deps import key_owner
from .metrics import COLLECTOR, MetricsMiddleware
from .routes import catalog, health, jobs, plots, web

DESCRIPTION = """Optimization as a service: POST a job (an objective, optimizers with their
hyperparameters, steps, what to record); a worker runs it as jitted JAX; fetch trajectories,
loss curves and landscape grids as JSON."""


class BodyLimit(BaseHTTPMiddleware):
    """Refuse request bodies over the limit before reading them (413 problem+json)."""

    def __init__(self, app, limit: int):
        super().__init__(app)
        self.limit = limit

    async def dispatch(self, request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return problems.problem_response(
                request,
                413,
                f"the body has {int(length):,} bytes; at most {self.limit:,}",
                "too-large",
            )
        return await call_next(request)


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
        result_ttl=settings.result_ttl,
        idempotency_ttl=settings.idempotency_ttl,
        compress_min_bytes=settings.compress_min_bytes,
    )
    app.state.events = EventReader(settings.broker_url)
    app.state.owners = {key_owner(k) for k in settings.keys}
    app.state.celery = make_app(settings, include=())  # sends tasks by name only
    COLLECTOR.app = app
    problems.install(app)
    openapi.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    for module in (jobs, plots, catalog, health, web):
        app.include_router(module.router)
    return app
