"""Dependencies: settings, the job store, the queue, the event reader, the worker directory,
the caller (API key) and the caller's job.

Those that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its thread
pool, a hop that costs more CPU than the dependency itself."""

from __future__ import annotations

import hashlib
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from worker.events import EventReader
from worker.presence import WorkerDirectory
from worker.settings import Settings
from worker.store import JobRecord, JobStore

from .problems import Problem

ANONYMOUS = "anonymous"
# The two ways to send an API key, as the OpenAPI document's security schemes. They never
# refuse by themselves (auto_error=False): current_owner answers 401 as problem+json.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="an API key", auto_error=False
)
BEARER = HTTPBearer(
    scheme_name="Bearer", description="an API key as a bearer token", auto_error=False
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store
    return store


async def get_celery(request: Request) -> Celery:
    """The Celery app the API sends tasks with (by name: it knows no task code)."""
    celery: Celery = request.app.state.celery
    return celery


async def get_events(request: Request) -> EventReader:
    events: EventReader = request.app.state.events
    return events


async def get_workers(request: Request) -> WorkerDirectory:
    workers: WorkerDirectory = request.app.state.workers
    return workers


def key_owner(key: str) -> str:
    """The owner id of an API key: a hash, so keys are never stored in clear."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


async def current_owner(
    request: Request,
    api_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> str:
    allowed: set[str] = request.app.state.owners
    if not allowed:
        return ANONYMOUS
    key = api_key or (bearer.credentials if bearer is not None else "")
    owner = key_owner(key) if key else None
    if owner is None or owner not in allowed:
        raise Problem(
            401,
            "a valid API key is required (X-API-Key or Authorization: Bearer)",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return owner


def find_owned(store: JobStore, job_id: str, owner: str) -> JobRecord:
    """The job ``job_id`` if ``owner`` owns it; else a 404 (another owner's job does not
    exist for you)."""
    job = store.get_job(job_id)
    if job is None or job["owner"] != owner:
        raise Problem(404, f"no job {job_id}", kind="not-found")
    return job


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
EventsDep = Annotated[EventReader, Depends(get_events)]
WorkersDep = Annotated[WorkerDirectory, Depends(get_workers)]
OwnerDep = Annotated[str, Depends(current_owner)]


async def owned_job(job_id: str, owner: OwnerDep, reader: EventsDep) -> JobRecord:
    """The caller's job named by the path's ``job_id`` (after the key check: 401 first)."""
    job = await reader.get_job(job_id)
    if job is None or job["owner"] != owner:
        raise Problem(404, f"no job {job_id}", kind="not-found")
    return job


OwnedJob = Annotated[JobRecord, Depends(owned_job)]
