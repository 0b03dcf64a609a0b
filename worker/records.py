"""The store's documents as Python values: a job record, progress events, scored members.

redis-py types replies as ``bytes | str``; the store's clients never decode (bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypedDict

from .states import JobState

Event = tuple[str, str, dict[str, Any]]  # (stream id, 'progress' | 'end', data)


class JobRecord(TypedDict):
    """A job as the store keeps it (the ``job:{id}`` hash, decoded)."""

    id: str
    owner: str
    status: JobState
    created_at: float
    started_at: float | None
    finished_at: float | None
    spec: dict[str, Any] | None  # None where read without it (the API never needs it)
    summary: dict[str, Any] | None
    progress: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    cancel_requested: bool
    # the latest attempt's (worker.lua START); None until one starts
    worker: str | None
    pid: str | None
    queue: str | None
    last_lost: str | None  # why the last attempt was lost (worker_lost, time_limit)
    deadline: str | None  # the latest attempt's hard time limit (epoch s)
    shards: int | None  # a sharded job's shard count (worker.shards)
    merge_ms: float | None  # a sharded job: how long its merge took
    batch_key: str | None  # the structure it can be batched by (worker.batching)
    batch: list[str] | None  # the jobs of the program it ran in, this one included


def text(value: bytes | str) -> str:
    """redis-py types replies as bytes | str; the store's clients never decode (bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def record(raw: dict[bytes | str, bytes | str]) -> JobRecord:
    """The job of a ``job:{id}`` hash (all its fields, or those of ``BUT_SPEC``)."""
    fields = {text(k): text(v) for k, v in raw.items()}

    def moment(name: str) -> float | None:
        return float(fields[name]) if name in fields else None

    def document(name: str) -> Any:
        return json.loads(fields[name]) if name in fields else None

    return JobRecord(
        id=fields["id"],
        owner=fields["owner"],
        status=JobState(fields["status"]),
        created_at=float(fields["created_at"]),
        started_at=moment("started_at"),
        finished_at=moment("finished_at"),
        spec=document("spec"),
        summary=document("summary"),
        progress=document("progress"),
        error=document("error"),
        attempts=int(fields.get("attempts", 0)),
        cancel_requested=fields.get("cancel_requested") == "1",
        worker=fields.get("worker"),
        pid=fields.get("pid"),
        queue=fields.get("queue"),
        last_lost=fields.get("last_lost"),
        deadline=fields.get("deadline"),
        shards=int(fields["shards"]) if "shards" in fields else None,
        merge_ms=moment("merge_ms"),
        batch_key=fields.get("batch_key"),
        batch=document("batch"),
    )


# The job hash's fields but the spec: a sweep's spec can be megabytes, and a status poll,
# an owner check or a result's long poll reads the job many times.
BUT_SPEC = [name for name in JobRecord.__annotations__ if name != "spec"]


def record_but_spec(values: list[bytes | str | None]) -> JobRecord | None:
    """HMGET of ``BUT_SPEC`` as a job (with ``spec`` None); None for an unknown job."""
    fields: dict[bytes | str, bytes | str] = {
        name: value for name, value in zip(BUT_SPEC, values, strict=True) if value is not None
    }
    return record(fields) if fields else None


def scored(reply: Iterable[Any]) -> list[tuple[str, float]]:
    """A WITHSCORES reply as (member, score) pairs."""
    return [(text(member), float(score)) for member, score in reply]


def events_of(reply: Any) -> list[Event]:
    """XREAD's reply (RESP2: [[stream, [(id, {field: value})]]]) as events."""
    return [
        (entry_id.decode(), fields[b"event"].decode(), json.loads(fields[b"data"]))
        for _, entries in reply or []
        for entry_id, fields in entries
    ]
