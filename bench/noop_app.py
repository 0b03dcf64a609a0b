"""A bare Celery app with a no-op task: the floor that a job's round trip is compared to."""

from __future__ import annotations

import os

from celery import Celery

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    worker_pool_start_method="spawn",
    task_default_queue="bench",
)


@app.task(name="bench.noop")
def noop() -> int:
    return 1
