"""The one task: run a stored job by id. Idempotent on the id (see worker.jobs.execute)."""

from __future__ import annotations

from functools import lru_cache

from . import jobs, presence
from .celery_app import app, settings
from .store import JobStore

presence.connect(settings.broker_url, settings.presence_ttl)


@lru_cache
def store() -> JobStore:
    return JobStore.from_url(
        settings.broker_url,
        result_ttl=settings.result_ttl,
        compress_min_bytes=settings.compress_min_bytes,
    )


@app.task(name="optserve.run_job", bind=True)
def run_job(self, job_id: str) -> str:
    return jobs.execute(store(), job_id, settings, worker=self.request.hostname or "worker")
