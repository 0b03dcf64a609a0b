"""Dependencies: settings, the job store, the Celery app and the caller (API key)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Request

from worker.settings import Settings
from worker.store import JobStore

from .problems import Problem

ANONYMOUS = "anonymous"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def key_owner(key: str) -> str:
    """The owner id of an API key: a hash, so keys are never stored in clear."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def current_owner(request: Request) -> str:
    allowed: set[str] = request.app.state.owners
    if not allowed:
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key") or (
        header[7:] if header.lower().startswith("bearer ") else ""
    )
    owner = key_owner(key) if key else None
    if owner not in allowed:
        raise Problem(
            401,
            "a valid API key is required (X-API-Key or Authorization: Bearer)",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return owner


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
OwnerDep = Annotated[str, Depends(current_owner)]
