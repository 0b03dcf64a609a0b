"""Prometheus metrics of the API process, exposed at /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    """Read at scrape time from the counters the job transitions keep in Redis (one HGETALL
    and one LLEN: the cost does not grow with the number of jobs). Per-key figures only when
    ``tenants`` is set by an authorised scrape."""

    app: FastAPI | None = None  # the application being served (set by create_app)

    def __init__(self) -> None:
        self.tenants = threading.local()

    def collect(self) -> Iterator[Metric]:
        if self.app is None:
            return
        store, queue = self.app.state.store, self.app.state.settings.queue
        try:
            stats = store.stats()
            depth = store.queue_length(queue)
            owners = store.owner_stats() if getattr(self.tenants, "on", False) else {}
        except Exception:  # noqa: BLE001 - Redis down: /readyz says so, metrics stay up
            return
        current = GaugeMetricFamily(
            "optserve_jobs", "Jobs queued or running now", labels=["status"]
        )
        finished = CounterMetricFamily(
            "optserve_jobs_finished", "Jobs that ended, by final status", labels=["status"]
        )
        failed = CounterMetricFamily(
            "optserve_jobs_failed", "Failed jobs by reason", labels=["reason"]
        )
        requeued = CounterMetricFamily(
            "optserve_jobs_requeued", "Attempts lost and handed out again", labels=["reason"]
        )
        by_kind: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "jobs": current,
            "finished": finished,
            "failed": failed,
            "requeued": requeued,
        }
        for name, value in sorted(stats.items()):
            kind, _, label = name.partition(":")
            family = by_kind.get(kind)
            if family is not None:
                family.add_metric([label], value)
        yield current
        yield finished
        yield failed
        yield requeued
        yield CounterMetricFamily(
            "optserve_job_attempts", "Attempts started", value=stats.get("attempts", 0)
        )
        gauge = GaugeMetricFamily(
            "optserve_queue_depth", "Messages waiting in the queue", labels=["queue"]
        )
        gauge.add_metric([queue], depth)
        yield gauge
        if owners:
            per_key = CounterMetricFamily(
                "optserve_key_jobs_submitted", "Jobs submitted per API key", labels=["owner"]
            )
            for owner, n in sorted(owners.items()):
                per_key.add_metric([owner], n)
            yield per_key


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status. A pure ASGI
    middleware: starlette's BaseHTTPMiddleware costs a task group and memory streams per
    request, more CPU than a small request's handler."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        answered = False

        def observe(status: int) -> None:
            # the route is known once the router ran; latency is to the response's start
            path = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], path, str(status)).inc()
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)

        async def send_observed(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except BaseException:
            if not answered:  # raised before it answered: the server answers 500
                observe(500)
            raise


COLLECTOR = StoreCollector()
REGISTRY.register(COLLECTOR)
