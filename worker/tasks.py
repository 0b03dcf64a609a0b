"""The tasks: run a stored job by id, or one shard of a sharded job (worker.shards).
Idempotent on the id and shard (see worker.jobs.execute).

The worker's main process also runs the reaper (worker.reaper), started when the worker is
ready, which requeues jobs whose process died.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis
from celery.signals import worker_ready, worker_shutdown

from . import jobs, presence, shards
from .celery_app import app, settings
from .reaper import Reaper
from .store import JobStore

presence.connect(settings.broker_url, settings.presence_ttl)
TASK = "optserve.run_job"
SHARD_TASK = "optserve.run_shard"
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
    return _execute(self, job_id, jobs.run_whole)


@app.task(name=SHARD_TASK, bind=True, max_retries=None)
def run_shard(self: Any, job_id: str, shard: int) -> str:
    return _execute(self, shards.unit_of(job_id, shard), shards.run_shard)


def _execute(self: Any, unit: str, body: jobs.Body) -> str:
    queue = (self.request.delivery_info or {}).get("routing_key") or settings.queue
    worker = self.request.hostname or "worker"
    try:
        return jobs.execute(store(), unit, settings, worker=worker, queue=queue, body=body)
    except jobs.JobLeased as leased:  # a redelivery while an attempt lives: wait for its lease
        raise self.retry(countdown=leased.seconds + 0.5) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if self.request.retries >= REDIS_RETRIES:
            raise
        raise self.retry(countdown=min(30, 2**self.request.retries)) from exc
    finally:  # the job has ended: a collection now falls between jobs, not inside the next
        from optcore.compiled import settle  # in the pool child: JAX stays out of the parent

        settle()


_reaper: Reaper | None = None


def _send(unit: str, queue: str) -> None:
    job_id, shard = shards.split_unit(unit)
    if shard is None:
        app.send_task(TASK, args=[job_id], queue=queue)
    else:
        app.send_task(SHARD_TASK, args=[job_id, shard], queue=queue)


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    global _reaper
    _reaper = Reaper(store(), settings, _send)
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _reaper is not None:
        _reaper.stop()
