"""The API's asynchronous side of the store: a job's event stream (Server-Sent Events, a
result's long poll), the job and its result; and a submission's admission and write."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from . import lua
from .admission import NewJob, rate_window, refusal
from .records import BUT_SPEC, Event, JobRecord, events_of, raw, record_but_spec, text
from .states import JobState
from .store import PREFIX, RETRIED_ERRORS, JobStore


@dataclass(frozen=True)
class StoredResult:
    owner: str
    status: JobState
    data: bytes | None  # JSON, or gzip-compressed JSON (starts with the gzip magic)


class EventReader:
    """The API's asynchronous access to the store: a job's event stream (Server-Sent Events,
    a result's long poll), the job and its result, and a submission's admission and write,
    without holding a thread (a blocking read per open stream would use up the API's thread
    pool; a thread-pool hop costs about 0.8 ms of CPU here, more than the Redis calls)."""

    def __init__(self, url: str, block_ms: int = 10_000):
        # the socket timeout outlasts the blocking read, or a quiet stream would die with it
        self.block_ms = block_ms
        self.r = redis.asyncio.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=block_ms / 1000 + 10,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=2),
            retry_on_error=RETRIED_ERRORS,
        )
        self._admit = self.r.register_script(lua.ADMIT)
        self._create = self.r.register_script(lua.CREATE)

    async def read(self, job_id: str, after: str, block_ms: int) -> list[Event]:
        reply = await self.r.xread({JobStore.events_key(job_id): after}, block=block_ms, count=100)
        return events_of(reply)

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job without its spec (``records.BUT_SPEC``): the API never needs it."""
        return record_but_spec(await self.r.hmget(JobStore.job_key(job_id), BUT_SPEC))

    async def result_of(self, job_id: str) -> StoredResult | None:
        """The job's owner and status, and its result's stored bytes (None until there is
        one), in one round trip; None for an unknown job."""
        async with self.r.pipeline(transaction=False) as p:
            p.hmget(JobStore.job_key(job_id), "owner", "status")
            p.get(JobStore.result_key(job_id))
            (owner, status), data = await p.execute()
        if owner is None or status is None:
            return None
        return StoredResult(text(owner), JobState(text(status)), raw(data))

    async def wait_end(self, job_id: str, seconds: float) -> None:
        """Return once the job's ``end`` event is in its stream, or after ``seconds``."""
        deadline = time.monotonic() + seconds
        after = "0-0"
        while (left := deadline - time.monotonic()) > 0:
            events = await self.read(job_id, after, max(1, min(int(left * 1000), self.block_ms)))
            if any(kind == "end" for _, kind, _ in events):
                return
            after = events[-1][0] if events else after

    async def admit(self, owner: str, max_active: int, per_minute: int) -> tuple[str | None, int]:
        """``JobStore.admit``, asynchronously."""
        window = rate_window(owner, time.time())
        keys = [JobStore.active_key(owner), window]
        count, active = await self._admit(keys=keys, args=[PREFIX])
        return refusal(count, active, max_active, per_minute)

    async def create(self, new: NewJob, result_ttl: int) -> JobRecord:
        """``JobStore.create``, asynchronously: the job and its messages in one call."""
        keys, args = new.script_call(result_ttl)
        await self._create(keys=keys, args=args)
        return new.record
