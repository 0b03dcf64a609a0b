"""Prometheus metrics of the API process, exposed at /metrics."""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "optserve_http_requests_total",
    "HTTP requests",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "optserve_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    registry=REGISTRY,
)
JOBS_SUBMITTED = Counter("optserve_jobs_submitted_total", "Jobs accepted", registry=REGISTRY)


class StoreCollector:
    """Read at scrape time: jobs by status and queue depth, from Redis."""

    app: FastAPI | None = None  # the application being served (set by create_app)

    def collect(self):
        if self.app is None:
            return
        store, queue = self.app.state.store, self.app.state.settings.queue
        jobs = GaugeMetricFamily("optserve_jobs", "Jobs in the store by status", labels=["status"])
        depth = GaugeMetricFamily(
            "optserve_queue_depth", "Messages waiting in the queue", labels=["queue"]
        )
        try:
            for status, n in store.count_by_status().items():
                jobs.add_metric([status], n)
            depth.add_metric([queue], store.queue_length(queue))
        except Exception:  # noqa: BLE001 - Redis down: /readyz says so, metrics stay up
            return
        yield jobs
        yield depth


class MetricsMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        LATENCY.labels(request.method, path).observe(time.perf_counter() - start)
        return response


COLLECTOR = StoreCollector()
REGISTRY.register(COLLECTOR)
