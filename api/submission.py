"""Submitting a job: validate, place, check the Idempotency-Key, admit, and store it with its
queue message in one transaction. POST /v1/jobs is a thin route over ``submit_async``
(``submit`` in a thread for a request with an Idempotency-Key); every refusal is a
``Problem`` (422, 409, 404, 429, 503)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import redis
from celery import Celery

from optcore import cost
from optcore.spec import Job, JobSpec, parse_job
from optcore.sweeps import sweep_size
from worker.admission import NewJob
from worker.events import EventReader
from worker.messages import queue_message
from worker.presence import WorkerDirectory, WorkerInfo
from worker.settings import Settings
from worker.store import JobRecord, JobStore

from . import sharding
from .deps import find_owned
from .metrics import JOBS_SUBMITTED
from .placement import choose_queue
from .problems import Problem

TASK = "optserve.run_job"  # worker.tasks' name for it (not imported: that builds the worker)
SHARD_TASK = "optserve.run_shard"
RETRY_AFTER = "1"
INLINE_RUNS = 256  # jobs of up to this many runs are validated on the event loop (< 5 ms)
LIMIT_SETTINGS = {
    "recorded_values": "OPTSERVE_MAX_RECORDED_VALUES",
    "parameters": "OPTSERVE_MAX_PARAMETERS",
    "job_flops": "OPTSERVE_MAX_JOB_FLOPS",
}


@dataclass(frozen=True)
class Submitted:
    job: JobRecord
    replayed: bool  # an earlier request with the same Idempotency-Key made it


@dataclass(frozen=True)
class Services:
    """What a submission talks to."""

    store: JobStore
    settings: Settings
    workers: WorkerDirectory
    celery: Celery


def fingerprint(job: JobSpec) -> str:
    """What makes two request bodies the same request: their normalised job document."""
    spec = job.model_dump(mode="json", exclude_none=True)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _figure(x: float) -> str:
    return f"{x:,.0f}" if x < 1e9 else f"{x:.3g}"


def refuse_costly(parsed: Job, settings: Settings) -> None:
    """A 422 naming each limit the job passes and the job's figure, before anything is
    stored: the cost is estimated from the spec, nothing is expanded or run."""
    limits = cost.Limits(
        settings.max_recorded_values, settings.max_parameters, settings.max_job_flops
    )
    over = cost.overruns(cost.estimate(parsed.spec, parsed.objective), limits)
    if not over:
        return
    messages = [f"over {LIMIT_SETTINGS[o.limit]}={_figure(o.maximum)}: {o.message}" for o in over]
    raise Problem(
        422,
        "; ".join(messages),
        kind="over-limit",
        errors=[{"field": o.field, "message": m} for o, m in zip(over, messages, strict=True)],
        limits=[
            {"limit": LIMIT_SETTINGS[o.limit], "value": o.value, "maximum": o.maximum} for o in over
        ],
    )


def validate(job: JobSpec, settings: Settings) -> Job:
    """The catalog checks (SpecError becomes a 422), the cost limits and the work limit.
    A job of more runs than one program takes is allowed when it will be sharded."""
    # a job too big for a batch is only checked: its runs are built where they run
    built = None if sum(map(sweep_size, job.runs)) < settings.batch_max_runs else range(0)
    parsed = parse_job(job, sharding.max_runs(settings), built)
    refuse_costly(parsed, settings)
    run_steps = parsed.total_runs * job.steps
    if run_steps > settings.max_run_steps:
        raise Problem(
            422,
            f"runs x steps = {run_steps:,} exceeds the limit of {settings.max_run_steps:,}",
            kind="invalid-job",
            errors=[{"field": "steps", "message": "too much work for one job"}],
        )
    return parsed


def _summary(spec: JobSpec, runs: int) -> dict[str, Any]:
    return {
        "objective": spec.objective.name or "expression",
        "runs": runs,
        "steps": spec.steps,
        "optimizers": sorted({r.optimizer for r in spec.runs}),
    }


def _claim(store: JobStore, owner: str, key: str, job: JobSpec, job_id: str) -> JobRecord | None:
    """Claim the Idempotency-Key for ``job_id``: None when this request owns it now, the
    first request's job when it is a replay; a Problem when the key is in use or reused."""
    state, first = store.claim_idempotency(owner, key, fingerprint(job), job_id)
    if state == "mismatch":
        raise Problem(
            422,
            "this Idempotency-Key was used with a different request body",
            kind="idempotency-key-reused",
        )
    if state == "in_progress":
        raise Problem(
            409,
            "a request with this Idempotency-Key is still being processed",
            kind="idempotency-key-in-use",
            headers={"Retry-After": RETRY_AFTER},
        )
    if state == "replay" and first is not None:
        return find_owned(store, first, owner)
    return None


def _limited(settings: Settings) -> bool:
    return bool(settings.max_active_jobs or settings.submissions_per_minute)


def _refuse(store: JobStore, owner: str, key: str | None, limit: str | None, wait: int) -> None:
    """A 429 (releasing the key) when the owner's rate or concurrency ``limit`` was hit."""
    if limit is None:
        return
    if key is not None:
        store.release_idempotency(owner, key)
    raise Problem(
        429,
        f"too many jobs: {limit}; retry in {wait} s",
        kind="rate-limited",
        headers={"Retry-After": str(wait)},
    )


def _messages(services: Services, job_id: str, queue: str, shards: int) -> list[tuple[str, bytes]]:
    """The job's Celery message, or one per shard, stored with the job (``lua.CREATE``)."""
    app = services.celery
    if shards:
        return [
            (queue, queue_message(app, SHARD_TASK, [job_id, k], queue, uuid.uuid4().hex))
            for k in range(shards)
        ]
    return [(queue, queue_message(app, TASK, [job_id], queue, job_id))]


def prepare(services: Services, job: JobSpec, owner: str, workers: list[WorkerInfo]) -> NewJob:
    """What a submission works out before it writes anything: the job validated, placed on
    a queue (among the live ``workers``), its record and its queue messages."""
    settings = services.settings
    parsed = validate(job, settings)
    ranges = sharding.shard_ranges(parsed, settings)
    run_steps = parsed.total_runs * job.steps
    queue = choose_queue(job.device, run_steps, workers, settings.gpu_min_run_steps)
    job_id = uuid.uuid4().hex
    summary = {**_summary(job, parsed.total_runs), "queue": queue}
    if ranges:
        summary["shards"] = len(ranges)
    return NewJob(
        job_id,
        owner,
        spec=job.model_dump(mode="json", exclude_none=True),
        summary=summary,
        shards=ranges,
        batch=sharding.batch_entry(parsed, queue, bool(ranges), settings),
        messages=_messages(services, job_id, queue, len(ranges or [])),
    )


def _queue_down() -> Problem:
    return Problem(503, "the job queue is unavailable; try again", kind="queue-down")


def submit(services: Services, job: JobSpec, owner: str, key: str | None) -> Submitted:
    """Submit ``job`` for ``owner`` with the Idempotency-Key ``key`` (or none)."""
    store, settings = services.store, services.settings
    new = prepare(services, job, owner, [] if job.device == "cpu" else services.workers.live())
    if key is not None:
        existing = _claim(store, owner, key, job, new.id)
        if existing is not None:
            return Submitted(existing, replayed=True)
    if _limited(settings):
        limit = store.admit(owner, settings.max_active_jobs, settings.submissions_per_minute)
        _refuse(store, owner, key, *limit)
    try:
        created = store.create(new)
    except redis.RedisError as exc:  # nothing was stored: release the key, say 503
        if key is not None:
            with contextlib.suppress(redis.RedisError):
                store.release_idempotency(owner, key)
        raise _queue_down() from exc
    if key is not None:
        store.complete_idempotency(owner, key)
    JOBS_SUBMITTED.inc()
    return Submitted(created, replayed=False)


async def submit_async(
    services: Services, access: EventReader, job: JobSpec, owner: str, key: str | None
) -> Submitted:
    """``submit`` on the event loop, with no thread-pool hop (each costs more CPU than the
    whole submission). A request with an Idempotency-Key takes ``submit`` in a thread: its
    claim, replay and completion are several ordered round trips of the synchronous store."""
    if key is not None:
        return await anyio.to_thread.run_sync(submit, services, job, owner, key)
    settings, workers = services.settings, services.workers
    live = [] if job.device == "cpu" else workers.cached()
    if live is None:  # read about once a second
        live = await anyio.to_thread.run_sync(workers.live)
    if sum(map(sweep_size, job.runs)) <= INLINE_RUNS:
        new = prepare(services, job, owner, live)
    else:  # a big sweep's validation takes up to seconds: never on the event loop
        new = await anyio.to_thread.run_sync(prepare, services, job, owner, live)
    if _limited(settings):
        limit = await access.admit(owner, settings.max_active_jobs, settings.submissions_per_minute)
        _refuse(services.store, owner, None, *limit)
    try:
        created = await access.create(new, services.store.result_ttl)
    except redis.RedisError as exc:
        raise _queue_down() from exc
    JOBS_SUBMITTED.inc()
    return Submitted(created, replayed=False)
