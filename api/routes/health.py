"""/healthz (the process answers), /readyz (Redis and a worker answer), /metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import StoreDep
from ..metrics import REGISTRY
from ..problems import REDIS_RETRY_AFTER, Problem

router = APIRouter(tags=["health"])
WORKER_PING_CACHE_S = 5.0


@router.get("/healthz")
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


@router.get("/readyz", responses={503: {"description": "Redis or every worker is down"}})
def readyz(request: Request, store: StoreDep) -> dict:
    retry = {"Retry-After": REDIS_RETRY_AFTER}
    if not store.ping():
        raise Problem(503, "Redis does not answer", kind="not-ready", headers=retry)
    workers = _workers(request)
    if workers == 0:
        raise Problem(503, "no worker answers", kind="not-ready", headers=retry)
    return {"status": "ready", "redis": True, "workers": workers}


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
