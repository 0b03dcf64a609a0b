"""The one task: run a stored job by id. Idempotent on the id (see worker.jobs.execute).

The worker's main process also runs the reaper (worker.reaper), started when the worker is
ready, which requeues jobs whose process died.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis
from celery.signals import worker_ready, worker_shutdown

from . import jobs, presence
from .celery_app import app, settings
from .reaper import Reaper
from .store import JobStore

presence.connect(settings.broker_url, settings.presence_ttl)
TASK = "optserve.run_job"
REDIS_RETRIES = 10  # a task whose Redis stays away longer is left to the reaper


@lru_cache
def store() -> JobStore:
    return JobStore.from_url(
        settings.broker_url,
        result_ttl=settings.result_ttl,
        compress_min_bytes=settings.compress_min_bytes,
    )


@app.task(name=TASK, bind=True, max_retries=None)
def run_job(self: Any, job_id: str) -> str:
    queue = (self.request.delivery_info or {}).get("routing_key") or settings.queue
    worker = self.request.hostname or "worker"
    try:
        return jobs.execute(store(), job_id, settings, worker=worker, queue=queue)
    except jobs.JobLeased as leased:  # a redelivery while an attempt lives: wait for its lease
        raise self.retry(countdown=leased.seconds + 0.5) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if self.request.retries >= REDIS_RETRIES:
            raise
        raise self.retry(countdown=min(30, 2**self.request.retries)) from exc


_reaper: Reaper | None = None


def _send(job_id: str, queue: str) -> None:
    app.send_task(TASK, args=[job_id], queue=queue)


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    global _reaper
    _reaper = Reaper(store(), settings, _send)
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _reaper is not None:
        _reaper.stop()
