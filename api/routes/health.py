"""/healthz (the process answers), /readyz (Redis and a worker answer), /metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import StoreDep
from ..metrics import REGISTRY
from ..models import Health, Ready
from ..openapi import problems
from ..problems import Problem

router = APIRouter(tags=["health"])
WORKER_PING_CACHE_S = 5.0


@router.get("/healthz", response_model=Health)
def healthz() -> dict:
    return {"status": "ok"}


def _workers(request: Request) -> int:
    state = request.app.state
    cached = getattr(state, "workers_seen", None)
    if cached and time.monotonic() - cached[0] < WORKER_PING_CACHE_S and cached[1]:
        return cached[1]
    replies = state.celery.control.ping(timeout=1.0) or []
    state.workers_seen = (time.monotonic(), len(replies))
    return len(replies)


@router.get(
    "/readyz",
    response_model=Ready,
    responses=problems(503, s503="Redis or every worker is down"),
)
def readyz(request: Request, store: StoreDep) -> dict:
    if not store.ping():
        raise Problem(503, "Redis does not answer", kind="not-ready")
    workers = _workers(request)
    if workers == 0:
        raise Problem(503, "no worker answers", kind="not-ready")
    return {"status": "ready", "redis": True, "workers": workers}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
