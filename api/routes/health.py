"""/healthz (the process answers), /readyz (Redis and a worker answer), /metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import SettingsDep, StoreDep, WorkersDep
from ..metrics import COLLECTOR, REGISTRY
from ..models import Health, Ready
from ..openapi import problems
from ..problems import REDIS_RETRY_AFTER, Problem
from .workers import queues_doc

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    responses=problems(503, s503="Redis or every worker is down"),
)
def readyz(store: StoreDep, directory: WorkersDep) -> Ready:
    retry = {"Retry-After": REDIS_RETRY_AFTER}
    if not store.ping():
        raise Problem(503, "Redis does not answer", kind="not-ready", headers=retry)
    workers = len(directory.live())  # live workers, from their heartbeats
    if workers == 0:
        raise Problem(503, "no worker answers", kind="not-ready", headers=retry)
    return Ready(status="ready", redis=True, workers=workers, queues=queues_doc(directory))


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
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus text. Per-key figures only with ``Authorization: Bearer <metrics token>``
    when OPTSERVE_METRICS_TOKEN is set."""
    token = settings.metrics_token
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    COLLECTOR.tenants.on = bool(token) and hmac.compare_digest(sent.encode(), token.encode())
    try:
        body = generate_latest(REGISTRY)
    finally:
        COLLECTOR.tenants.on = False
    return Response(body, media_type=CONTENT_TYPE_LATEST)
