"""/v1/jobs: submit, inspect, list, cancel, stream progress, fetch results."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import redis
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from optcore.spec import JobSpec
from worker import batching, shards
from worker.store import FINAL, GZIP_MAGIC, QUEUED, RUNNING, SUCCEEDED, JobRecord

from ..deps import (
    CeleryDep,
    EventsDep,
    OwnedJob,
    OwnerDep,
    SettingsDep,
    StoreDep,
    WorkersDep,
)
from ..models import JobPage, JobStatus, Result
from ..openapi import (
    IDEMPOTENT_REPLAYED,
    LOCATION,
    RETRY_AFTER_HEADER,
    event_stream,
    problems,
)
from ..problems import Problem
from ..submission import RETRY_AFTER, Services, submit_async

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
KEEPALIVE_MS = 10_000
MAX_RESULT_WAIT_S = 15  # under common proxies' and clients' read timeouts


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def job_doc(job: JobRecord) -> JobStatus:
    base = f"/v1/jobs/{job['id']}"
    return JobStatus.model_validate(
        {
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
    )


def _with_retry(response: Response, job: JobRecord) -> None:
    if job["status"] not in FINAL:
        response.headers["Retry-After"] = RETRY_AFTER


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
async def submit_job(
    response: Response,
    owner: OwnerDep,
    store: StoreDep,
    settings: SettingsDep,
    workers: WorkersDep,
    celery: CeleryDep,
    access: EventsDep,
    job: Annotated[JobSpec, Body()],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobStatus:
    services = Services(store, settings, workers, celery)
    submitted = await submit_async(services, access, job, owner, idempotency_key)
    response.headers["Location"] = f"/v1/jobs/{submitted.job['id']}"
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    _with_retry(response, submitted.job)
    return job_doc(submitted.job)


def _cursor_secret(request: Request) -> bytes:
    state = request.app.state
    if getattr(state, "cursor_secret", None) is None:
        state.cursor_secret = state.store.secret()
    secret: bytes = state.cursor_secret
    return secret


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
) -> JobPage:
    size = min(limit or settings.page_size, settings.max_page_size)
    page = store.list_jobs(owner, size, _decode_cursor(request, cursor) if cursor else None)
    items = [job_doc(j) for j in page.items]
    if page.next_after is None:
        return JobPage(items=items)
    token = _encode_cursor(request, page.next_after)
    return JobPage(items=items, next_cursor=token, next=f"/v1/jobs?limit={size}&cursor={token}")


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
def get_job(job: OwnedJob, response: Response, store: StoreDep) -> JobStatus:
    _with_retry(response, job)
    doc = job_doc(job)
    extra = batching.shown_batch(store, job)
    if job["shards"]:
        extra["shards"] = shards.Shards(store).states(job["id"], job["shards"])
        extra["merge_ms"] = job["merge_ms"]
    return doc.model_copy(update=extra) if extra else doc


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
            422,
            retry_after=(409,),
            s409="The job has no result (yet, or after `wait`): `job_status` says why; "
            "Retry-After while it runs",
            s422="`wait` is not a number of seconds from 0 to 15",
        ),
    },
)
async def get_result(
    job_id: str,
    owner: OwnerDep,
    request: Request,
    reader: EventsDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_RESULT_WAIT_S,
            description="Seconds to wait for an unfinished job to end before answering "
            "(a long poll: the answer comes as soon as it ends); 0: answer at once",
        ),
    ] = 0,
) -> Response:
    # the job's owner, status and result in one read: this is every client's hot path
    found = await reader.result_of(job_id)
    if found is None or found.owner != owner:
        raise Problem(404, f"no job {job_id}", kind="not-found")
    if wait and found.status not in FINAL:
        await reader.wait_end(job_id, wait)
        found = await reader.result_of(job_id) or found
    status, data = found.status, found.data
    if status != SUCCEEDED:
        raise Problem(
            409,
            f"job {job_id} is {status}; it has no result"
            + (" yet" if status in (QUEUED, RUNNING) else ""),
            kind="no-result",
            job_status=status,
            headers={"Retry-After": RETRY_AFTER} if status not in FINAL else None,
        )
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
def cancel_job(job: OwnedJob, response: Response, store: StoreDep) -> JobStatus:
    job_id = job["id"]
    if job["status"] in FINAL:
        raise Problem(
            409, f"job {job_id} already {job['status']}", kind="finished", job_status=job["status"]
        )
    store.request_cancel(job_id)  # queued: canceled now; running: at its next chunk
    after = store.get_job(job_id)
    if after is None:  # expired in between
        raise Problem(404, f"no job {job_id}", kind="not-found")
    _with_retry(response, after)
    return job_doc(after)


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
    job: OwnedJob,
    request: Request,
    reader: EventsDep,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d+(-\d+)?$")] = None,
) -> StreamingResponse:
    job_id = job["id"]

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
                    now = await reader.get_job(job_id)
                except redis.RedisError:
                    continue
                if now is None:
                    return
                if now["status"] in FINAL:  # ended, and its events expired
                    yield f"event: end\ndata: {json.dumps({'status': now['status']})}\n\n"
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
