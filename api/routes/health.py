"""/healthz (the process answers), /readyz (Redis and a worker answer), /metrics."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import StoreDep
from ..metrics import COLLECTOR, REGISTRY
from ..problems import Problem

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
    if not store.ping():
        raise Problem(503, "Redis does not answer", kind="not-ready")
    workers = _workers(request)
    if workers == 0:
        raise Problem(503, "no worker answers", kind="not-ready")
    return {"status": "ready", "redis": True, "workers": workers}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text. Per-key figures only with ``Authorization: Bearer <metrics token>``
    when OPTSERVE_METRICS_TOKEN is set."""
    token = request.app.state.settings.metrics_token
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    COLLECTOR.tenants.on = bool(token) and hmac.compare_digest(sent.encode(), token.encode())
    try:
        body = generate_latest(REGISTRY)
    finally:
        COLLECTOR.tenants.on = False
    return Response(body, media_type=CONTENT_TYPE_LATEST)
