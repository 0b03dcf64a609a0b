"""/v1/jobs: submit, inspect, list, cancel, stream progress, fetch results."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import redis
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from optcore import cost
from optcore.spec import Job, JobSpec, parse_job
from worker import batching, shards
from worker.settings import Settings
from worker.store import FINAL, GZIP_MAGIC, QUEUED, RUNNING, SUCCEEDED, JobStore

from .. import sharding
from ..deps import OwnerDep, SettingsDep, StoreDep
from ..metrics import JOBS_SUBMITTED
from ..models import JobPage, JobStatus, Result
from ..openapi import (
    IDEMPOTENT_REPLAYED,
    LOCATION,
    RETRY_AFTER_HEADER,
    event_stream,
    problems,
)
from ..placement import place
from ..problems import Problem

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
TASK = "optserve.run_job"
SHARD_TASK = "optserve.run_shard"
RETRY_AFTER = "1"
KEEPALIVE_MS = 10_000


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def job_doc(job: dict) -> dict:
    base = f"/v1/jobs/{job['id']}"
    return {
        "id": job["id"],
        "status": job["status"],
        "created_at": _iso(job["created_at"]),
        "started_at": _iso(job["started_at"]),
        "finished_at": _iso(job["finished_at"]),
        "attempts": job["attempts"],
        "cancel_requested": job["cancel_requested"],
        "progress": job["progress"],
        "error": job["error"],
        "summary": job["summary"],
        "links": {
            "self": base,
            "result": f"{base}/result",
            "events": f"{base}/events",
            "plot": f"{base}/plot.png?kind=contour",
        },
    }


def _owned(store: JobStore, job_id: str, owner: str) -> dict:
    job = store.get_job(job_id)
    if job is None or job["owner"] != owner:  # another owner's job does not exist for you
        raise Problem(404, f"no job {job_id}", kind="not-found")
    return job


def _with_retry(response: Response, job: dict) -> None:
    if job["status"] not in FINAL:
        response.headers["Retry-After"] = RETRY_AFTER


def fingerprint(job: JobSpec) -> str:
    """What makes two request bodies the same request: their normalised job document."""
    spec = job.model_dump(mode="json", exclude_none=True)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


LIMIT_SETTINGS = {
    "recorded_values": "OPTSERVE_MAX_RECORDED_VALUES",
    "parameters": "OPTSERVE_MAX_PARAMETERS",
    "job_flops": "OPTSERVE_MAX_JOB_FLOPS",
}


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


def _summary(spec: JobSpec, runs: int) -> dict:
    return {
        "objective": spec.objective.name or "expression",
        "runs": runs,
        "steps": spec.steps,
        "optimizers": sorted({r.optimizer for r in spec.runs}),
    }


@router.post(
    "",
    status_code=202,
    summary="Submit a job",
    response_model=JobStatus,
    responses={
        202: {
            "description": "Accepted; poll Location",
            "headers": {**LOCATION, **RETRY_AFTER_HEADER, **IDEMPOTENT_REPLAYED},
        },
        **problems(
            400,
            401,
            404,
            409,
            413,
            422,
            429,
            503,
            retry_after=(409, 429),
            s404="The job that first used this Idempotency-Key no longer exists",
            s409="This Idempotency-Key is in use by a request still in flight",
            s422="Invalid job, or an Idempotency-Key reused with another body: `errors` names "
            "each bad field",
            s503="The job queue is unavailable; nothing was submitted",
        ),
    },
)
def submit_job(
    request: Request,
    response: Response,
    owner: OwnerDep,
    store: StoreDep,
    settings: SettingsDep,
    job: Annotated[JobSpec, Body()],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict:
    # the catalog checks (SpecError becomes a 422); more runs for a job that will be sharded
    parsed = parse_job(job, sharding.max_runs(settings))
    refuse_costly(parsed, settings)
    ranges = sharding.shard_ranges(parsed, settings)
    if len(parsed.runs) * job.steps > settings.max_run_steps:
        raise Problem(
            422,
            f"runs x steps = {len(parsed.runs) * job.steps:,} exceeds the limit "
            f"of {settings.max_run_steps:,}",
            kind="invalid-job",
            errors=[{"field": "steps", "message": "too much work for one job"}],
        )
    run_steps = len(parsed.runs) * job.steps
    queue = place(request.app.state.workers, job.device, run_steps, settings.gpu_min_run_steps)
    spec = job.model_dump(mode="json", exclude_none=True)
    job_id = uuid.uuid4().hex
    if idempotency_key is not None:
        state, first = store.claim_idempotency(owner, idempotency_key, fingerprint(job), job_id)
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
        if state == "replay":
            existing = _owned(store, first, owner)
            response.headers["Location"] = f"/v1/jobs/{first}"
            response.headers["Idempotent-Replayed"] = "true"
            _with_retry(response, existing)
            return job_doc(existing)
    limit, wait = store.admit(owner, settings.max_active_jobs, settings.submissions_per_minute)
    if limit is not None:
        if idempotency_key is not None:
            store.release_idempotency(owner, idempotency_key)
        raise Problem(
            429,
            f"too many jobs: {limit}; retry in {wait} s",
            kind="rate-limited",
            headers={"Retry-After": str(wait)},
        )
    summary = {**_summary(job, len(parsed.runs)), "queue": queue}
    if ranges:
        summary["shards"] = len(ranges)
    batch = sharding.batch_entry(parsed, queue, bool(ranges), settings)
    created = store.create_job(job_id, owner, spec, summary, ranges, batch)
    try:
        send = request.app.state.celery.send_task
        if ranges:
            for k in range(len(ranges)):
                send(SHARD_TASK, args=[job_id, k], queue=queue)
        else:
            send(TASK, args=[job_id], queue=queue)
    except Exception as exc:  # the broker is down: nothing may stay half-submitted
        store.finish(job_id, "failed", {"type": "not_enqueued", "detail": str(exc)})
        if idempotency_key is not None:
            store.release_idempotency(owner, idempotency_key)
        raise Problem(503, "the job queue is unavailable; try again", kind="queue-down") from exc
    if idempotency_key is not None:
        store.complete_idempotency(owner, idempotency_key)
    JOBS_SUBMITTED.inc()
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    _with_retry(response, created)
    return job_doc(created)


def _cursor_secret(request: Request) -> bytes:
    state = request.app.state
    if getattr(state, "cursor_secret", None) is None:
        state.cursor_secret = state.store.secret()
    return state.cursor_secret


def _encode_cursor(request: Request, after: tuple[float, str]) -> str:
    raw = json.dumps([after[0], after[1]]).encode()
    sig = hmac.new(_cursor_secret(request), raw, "sha256").digest()[:12]
    return base64.urlsafe_b64encode(sig + raw).decode().rstrip("=")


def _decode_cursor(request: Request, cursor: str) -> tuple[float, str]:
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sig, raw = blob[:12], blob[12:]
        if not hmac.compare_digest(
            sig, hmac.new(_cursor_secret(request), raw, "sha256").digest()[:12]
        ):
            raise ValueError
        score, job_id = json.loads(raw)
        return float(score), str(job_id)
    except (ValueError, TypeError) as exc:
        raise Problem(
            422,
            "cursor is not one this API issued",
            kind="invalid-cursor",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        ) from exc


@router.get(
    "",
    summary="List your jobs, newest first",
    response_model=JobPage,
    responses=problems(401, 422, s422="Invalid limit or a cursor this API did not issue"),
)
def list_jobs(
    request: Request,
    owner: OwnerDep,
    store: StoreDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict:
    size = min(limit or settings.page_size, settings.max_page_size)
    page = store.list_jobs(owner, size, _decode_cursor(request, cursor) if cursor else None)
    doc: dict = {"items": [job_doc(j) for j in page.items]}
    if page.next_after is not None:
        token = _encode_cursor(request, page.next_after)
        doc["next_cursor"] = token
        doc["next"] = f"/v1/jobs?limit={size}&cursor={token}"
    return doc


@router.get(
    "/{job_id}",
    summary="A job's status and progress",
    response_model=JobStatus,
    responses={
        200: {
            "description": "The job; Retry-After while it is not finished",
            "headers": RETRY_AFTER_HEADER,
        },
        **problems(401, 404),
    },
)
def get_job(job_id: str, response: Response, owner: OwnerDep, store: StoreDep) -> dict:
    job = _owned(store, job_id, owner)
    _with_retry(response, job)
    doc = {**job_doc(job), **batching.shown_batch(store, job)}
    if job.get("shards"):
        doc["shards"] = shards.Shards(store).states(job_id, int(job["shards"]))
        doc["merge_ms"] = float(job["merge_ms"]) if "merge_ms" in job else None
    return doc


@router.get(
    "/{job_id}/result",
    summary="The result document of a finished job",
    response_model=Result,
    responses={
        200: {"description": "The result, as stored (gzip when Accept-Encoding allows)"},
        **problems(
            401,
            404,
            409,
            410,
            retry_after=(409,),
            s409="The job has no result (yet): `job_status` says why; Retry-After while it runs",
        ),
    },
)
def get_result(job_id: str, request: Request, owner: OwnerDep, store: StoreDep) -> Response:
    job = _owned(store, job_id, owner)
    if job["status"] != SUCCEEDED:
        headers = {"Retry-After": RETRY_AFTER} if job["status"] not in FINAL else None
        raise Problem(
            409,
            f"job {job_id} is {job['status']}; it has no result"
            + (" yet" if job["status"] in (QUEUED, RUNNING) else ""),
            kind="no-result",
            job_status=job["status"],
            headers=headers,
        )
    data = store.result_bytes(job_id)
    if data is None:
        raise Problem(410, f"the result of job {job_id} has expired", kind="expired")
    headers = {}
    if data[:2] == GZIP_MAGIC:
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"  # stored compressed: sent as it is
        else:
            data = gzip.decompress(data)
    return Response(data, media_type="application/json", headers=headers)


@router.delete(
    "/{job_id}",
    status_code=202,
    summary="Cancel a job",
    response_model=JobStatus,
    responses={
        202: {
            "description": "Canceled (queued) or stopping (running)",
            "headers": RETRY_AFTER_HEADER,
        },
        **problems(401, 404, 409, s409="The job already finished: `job_status` says how"),
    },
)
def cancel_job(job_id: str, response: Response, owner: OwnerDep, store: StoreDep) -> dict:
    job = _owned(store, job_id, owner)
    if job["status"] in FINAL:
        raise Problem(
            409, f"job {job_id} already {job['status']}", kind="finished", job_status=job["status"]
        )
    store.request_cancel(job_id)  # queued: canceled now; running: at its next chunk
    job = store.get_job(job_id)
    _with_retry(response, job)
    return job_doc(job)


@router.get(
    "/{job_id}/events",
    summary="Server-Sent Events: progress, then a final event",
    response_class=StreamingResponse,
    responses={
        **event_stream(
            "Events `progress` (a Progress document) with ids, then one `end` "
            '({"status": ...}); resume with Last-Event-ID'
        ),
        **problems(401, 404, 422, s422="Last-Event-ID is not a stream id"),
    },
)
async def job_events(
    job_id: str,
    request: Request,
    owner: OwnerDep,
    store: StoreDep,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d+(-\d+)?$")] = None,
) -> StreamingResponse:
    await run_in_threadpool(_owned, store, job_id, owner)
    reader = request.app.state.events

    async def stream() -> AsyncIterator[str]:
        # Ends only with the job's `end` event or the client leaving: a quiet job (queued,
        # compiling) gets keep-alives, and Redis being away only delays the stream.
        after = last_event_id or "0-0"
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            try:
                events = await reader.read(job_id, after, KEEPALIVE_MS)
            except (redis.RedisError, OSError):
                yield ": redis unavailable, retrying\n\n"
                await asyncio.sleep(1.0)
                continue
            if not events:
                try:
                    job = await run_in_threadpool(store.get_job, job_id)
                except redis.RedisError:
                    continue
                if job is None:
                    return
                if job["status"] in FINAL:  # ended, and its events expired
                    yield f"event: end\ndata: {json.dumps({'status': job['status']})}\n\n"
                    return
                yield ": keep-alive\n\n"
                continue
            for event_id, kind, data in events:
                after = event_id
                yield f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"
                if kind == "end":
                    return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
