"""Running a stored job: chunk by chunk, with progress, cancellation and a lease.

Idempotent on the job id: a redelivered job that already finished does nothing, a result is
stored at most once, and while one worker holds a job's lease no other runs it.
"""

from __future__ import annotations

import logging
import os
import uuid

from .settings import Settings
from .store import CANCELED, FAILED, FINAL, SUCCEEDED, JobStore

log = logging.getLogger("optserve.worker")
_jax_ready = False


def _start_jax(settings: Settings) -> None:
    """Configure JAX in this (pool child) process, the first time a job runs here."""
    global _jax_ready
    if _jax_ready:
        return
    import jax

    settings.compile_cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(settings.compile_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    _jax_ready = True


def execute(store: JobStore, job_id: str, settings: Settings, worker: str) -> str:
    """Run the job ``job_id`` if it still needs running; return its status afterwards."""
    job = store.get_job(job_id)
    if job is None:
        log.warning("job %s is unknown (expired?): nothing to run", job_id)
        return "missing"
    if job["status"] in FINAL:
        return job["status"]  # a redelivery after the job ended
    if store.has_result(job_id):  # the last attempt stored its result, then died
        store.finish(job_id, SUCCEEDED)
        return SUCCEEDED
    token = f"{worker}:{os.getpid()}:{uuid.uuid4().hex}"
    if not store.acquire_lease(job_id, token, settings.job_lease):
        log.info("job %s is running elsewhere", job_id)
        return "running"
    try:
        if store.start(job_id, worker) is None:
            return store.get_job(job_id)["status"]  # canceled while queued
        return _run(store, job, settings, token)
    except Exception as exc:  # noqa: BLE001 - any failure ends the job, never the worker
        log.exception("job %s failed", job_id)
        store.finish(job_id, FAILED, {"type": type(exc).__name__, "detail": str(exc)})
        return FAILED
    finally:
        store.release_lease(job_id, token)


def _run(store: JobStore, job: dict, settings: Settings, token: str) -> str:
    _start_jax(settings)
    from optcore import SpecError, dumps
    from optcore.runner import JobRunner
    from optcore.spec import parse_job

    job_id = job["id"]
    try:
        runner = JobRunner(parse_job(job["spec"]), settings.chunk_seconds)
    except SpecError as exc:  # validated at submission; a catalog change can still refuse it
        store.finish(
            job_id,
            FAILED,
            {"type": "invalid_spec", "errors": [{"field": f, "message": m} for f, m in exc.errors]},
        )
        return FAILED
    for p in runner.chunks():
        store.set_progress(
            job_id,
            {
                "steps_done": p.steps_done,
                "steps_total": p.steps_total,
                "fraction": p.steps_done / p.steps_total,
                "chunk": p.chunk,
                "chunks": p.chunks,
                "runs_running": p.running,
                "phase": p.phase,
            },
        )
        store.renew_lease(job_id, token, settings.job_lease)
        if store.cancel_requested(job_id):
            store.finish(job_id, CANCELED)
            return CANCELED
    result = runner.result()
    result["id"] = job_id
    started = store.get_job(job_id)["started_at"]
    result["timing"]["queued_ms"] = round((started - job["created_at"]) * 1e3, 3)
    store.save_result(job_id, dumps(result))  # a second attempt never replaces the first
    store.finish(job_id, SUCCEEDED)
    return SUCCEEDED
