"""Running a stored job: chunk by chunk, with progress, cancellation and a lease.

Idempotent on the job id: a redelivered job that already finished does nothing, a result is
stored at most once, and while an attempt's lease lives no other attempt starts. The lease is
renewed by a heartbeat thread for as long as this process lives, so a killed process loses it
within one lease period and the reaper (worker.reaper) hands the job out again.

What runs under an attempt is a unit: a whole job (``run_whole``), or one shard of a sharded
job (``worker.shards.run_shard``); attempts, leases and the reaper treat both alike.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any

import redis
from celery.exceptions import SoftTimeLimitExceeded

from .settings import Settings
from .store import CANCELED, FAILED, SUCCEEDED, Attempt, JobRecord, JobStore

if TYPE_CHECKING:  # optcore imports JAX: only inside a job, never in the Celery parent
    from optcore.runner import JobRunner, Progress
    from optcore.tune import TunedRunner

log = logging.getLogger("optserve.worker")
_jax_ready = False
LOST = "lost"  # this attempt lost the job to another one: it stops without writing


class JobLeased(Exception):
    """Another attempt holds the job's lease: try again after ``seconds``."""

    def __init__(self, seconds: float):
        super().__init__(f"leased for {seconds:.1f} s more")
        self.seconds = seconds


class Heartbeat:
    """Renews an attempt's leases from a thread while this process lives: on its unit (job or
    shard), and on the jobs it runs along in one batch (worker.batching), all under one
    token. A unit whose lease cannot be renewed (it ended, or went to another attempt) is
    lost: ``lost`` says so of the attempt's own unit, ``lost_units`` of every one."""

    def __init__(self, store: JobStore, job_id: str, token: str, lease_seconds: float):
        self.store, self.job_id, self.token = store, job_id, token  # job_id: the unit
        self.lease_seconds = lease_seconds
        self.units = [job_id]
        self.lost_units: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    @property
    def lost(self) -> bool:
        return self.job_id in self.lost_units

    def add(self, units: list[str]) -> None:
        self.units = [*self.units, *units]

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            for unit in self.units:
                if unit in self.lost_units:
                    continue
                try:
                    if not self.store.renew_lease(unit, self.token, self.lease_seconds):
                        self.lost_units.add(unit)  # ended, or handed to another attempt
                except redis.RedisError as exc:  # Redis away: the next beat tries again
                    log.warning("%s: lease not renewed: %s", unit, exc)
            if len(self.lost_units) == len(self.units):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_jax(settings: Settings) -> None:
    """Configure JAX in this (pool child) process, the first time a job runs here."""
    global _jax_ready
    if _jax_ready:
        return
    import jax

    settings.compile_cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(settings.compile_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    _jax_ready = True


# what runs under an attempt: (store, unit, settings, token, heartbeat) -> status
Body = Callable[[JobStore, str, Settings, str, Heartbeat], str]


def execute(
    store: JobStore, unit: str, settings: Settings, worker: str, queue: str, body: Body
) -> str:
    """Run ``unit`` (a job id, or ``{id}/{k}`` for a shard) with ``body`` if it still needs
    running; return its status afterwards.

    Raises ``JobLeased`` while another attempt holds the unit, and lets Redis connection
    errors through (the task retries them; the unit stays `running` until its lease lapses)."""
    token = f"{worker}:{os.getpid()}:{uuid.uuid4().hex}"
    attempt = Attempt(
        worker=worker,
        pid=os.getpid(),
        queue=queue,
        lease_seconds=settings.job_lease,
        max_attempts=settings.max_attempts,
        time_limit=settings.task_time_limit,
    )
    outcome, value = store.start(unit, token, attempt)
    if outcome == "missing":
        log.warning("job %s is unknown (expired?): nothing to run", unit)
        return "missing"
    if outcome == "final":
        return value  # a redelivery after the job (or shard) ended, or its last attempt was lost
    if outcome == "leased":
        raise JobLeased(int(value) / 1000)
    log.info("%s: attempt %s", unit, value)
    with Heartbeat(store, unit, token, settings.job_lease) as beat:
        try:
            return body(store, unit, settings, token, beat)
        except SoftTimeLimitExceeded:
            log.warning("%s passed its soft time limit", unit)
            error = {
                "reason": "time_limit",
                "type": "time_limit",
                "detail": f"the job ran longer than {settings.task_soft_time_limit} s",
            }
            _fail(store, beat, error)
            return FAILED
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure ends the job, never the worker
            log.exception("%s failed", unit)
            error = {"reason": "error", "type": type(exc).__name__, "detail": str(exc)}
            _fail(store, beat, error)
            return FAILED


def _fail(store: JobStore, beat: Heartbeat, error: dict[str, Any]) -> None:
    """Fail every job the attempt holds: its own, and those batched with it."""
    for unit in beat.units:
        store.finish(unit, FAILED, error, token=beat.token)


def progress_doc(p: Progress) -> dict[str, Any]:
    return {
        "phase": getattr(p, "phase", "running"),
        "steps_done": p.steps_done,
        "steps_total": p.steps_total,
        "fraction": p.steps_done / p.steps_total,
        "chunk": p.chunk,
        "chunks": p.chunks,
        "runs_running": p.running,
        **(
            {"points_done": p.points_done, "points_total": p.points_total}
            if getattr(p, "points_total", 0)
            else {}
        ),
    }


def invalid_spec(exc: Any) -> dict:
    """The error of a job that passed submission but no longer parses (a catalog change)."""
    errors = [{"field": f, "message": m} for f, m in exc.errors]
    return {"reason": "error", "type": "invalid_spec", "errors": errors}


def run_whole(store: JobStore, job_id: str, settings: Settings, token: str, beat: Heartbeat) -> str:
    """The body of an unsharded job: run it chunk by chunk, then store its result."""
    if store.has_result(job_id):  # the last attempt stored its result, then died
        store.finish(job_id, SUCCEEDED, token=token)
        return SUCCEEDED
    start_jax(settings)
    from optcore import SpecError
    from optcore.spec import parse_job
    from optcore.tune import runner_for

    job = store.get_job(job_id)
    if job is None:  # expired since it started
        log.warning("job %s is unknown (expired?): nothing to run", job_id)
        return "missing"
    if job["batch_key"] and settings.batch_max_runs > 1:
        from .batching import run_batch, take

        ids = take(store, job, token, settings)
        if len(ids) > 1:
            return run_batch(store, ids, settings, token, beat)
    try:
        runner = runner_for(parse_job(job["spec"]), settings.chunk_seconds)
    except SpecError as exc:  # validated at submission; a catalog change can still refuse it
        store.finish(job_id, FAILED, invalid_spec(exc), token)
        return FAILED
    # closing(): whatever ends the loop (cancel, time limit, error) also ends the generator
    with closing(runner.chunks()) as chunks:
        for p in chunks:
            cancel = store.set_progress(job_id, progress_doc(p))
            if beat.lost:
                log.warning("job %s: this attempt lost its lease; stopping", job_id)
                return LOST
            if cancel:
                store.finish(job_id, CANCELED, token=token)
                return CANCELED
    _save_result(store, job, runner)
    return SUCCEEDED if store.finish(job_id, SUCCEEDED, token=token) else LOST


def _save_result(store: JobStore, job: JobRecord, runner: JobRunner | TunedRunner) -> None:
    """Build the result document and store it (a second attempt never replaces the first)."""
    from optcore import dumps

    job_id = job["id"]
    result = runner.result()
    result["id"] = job_id
    started = job["started_at"]  # set once, by the first attempt's start, before `job` was read
    if started is not None:
        result["timing"]["queued_ms"] = round((started - job["created_at"]) * 1e3, 3)
    store.save_result(job_id, dumps(result))  # a second attempt never replaces the first
