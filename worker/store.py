"""Every Redis key of optserve lives here: jobs, results, owner indexes, idempotency keys,
progress events and job leases.

Keys (prefix ``optserve:``):
  job:{id}            hash: spec, owner, status, timestamps, progress, error, attempts
  result:{id}         the result document, JSON, gzip when large; expires (result TTL)
  events:{id}         stream of progress events, then one final event
  owner:{owner}       sorted set of the owner's job ids, scored by creation time (ms)
  idem:{owner}:{key}  an Idempotency-Key: payload fingerprint, job id, state
  lease:{id}          the lock of the worker running the job, renewed between chunks
  plot:{id}:{name}    a rendered picture of the result, kept as long as the result
  active:{owner}      the owner's jobs queued or running (a concurrency limit)
  rate:{owner}:{min}  the owner's submissions in one minute (a rate limit)
Results never travel through broker messages or Celery's result backend.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

PREFIX = "optserve:"
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "canceled",
)
FINAL = {SUCCEEDED, FAILED, CANCELED}
GZIP_MAGIC = b"\x1f\x8b"
EVENTS_KEPT = 10_000

# Atomic transitions: a queued job is canceled at once, a running one is flagged and stops at
# its next chunk; a worker never starts a job that was canceled while queued.
_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'finished_at', ARGV[1])
  redis.call('SREM', ARGV[4] .. redis.call('HGET', KEYS[1], 'owner'), ARGV[5])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', 'end', 'data', ARGV[2])
  return 'canceled'
end
if status == 'running' then redis.call('HSET', KEYS[1], 'cancel_requested', '1') end
return status
"""
_START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'canceled' or status == 'succeeded' or status == 'failed' then
  return false
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[2])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _events_of(reply) -> list[tuple[str, str, dict]]:
    return [
        (entry_id.decode(), fields[b"event"].decode(), json.loads(fields[b"data"]))
        for _, entries in reply or []
        for entry_id, fields in entries
    ]


class EventReader:
    """Waits on a job's event stream without holding a thread: the API's Server-Sent Events
    (a blocking read per open stream would use up the API's thread pool)."""

    def __init__(self, url: str):
        self.r = redis.asyncio.Redis.from_url(url, decode_responses=False)

    async def read(self, job_id: str, after: str, block_ms: int) -> list[tuple[str, str, dict]]:
        reply = await self.r.xread({JobStore._events(job_id): after}, block=block_ms, count=100)
        return _events_of(reply)


@dataclass
class Page:
    items: list[dict]
    next_after: tuple[float, str] | None  # (score, id) of the last item when more remain


class JobStore:
    def __init__(
        self,
        client: redis.Redis,
        result_ttl: int = 7 * 24 * 3600,
        idempotency_ttl: int = 24 * 3600,
        compress_min_bytes: int = 64 * 1024,
    ):
        self.r = client
        self.result_ttl = result_ttl
        self.idempotency_ttl = idempotency_ttl
        self.compress_min_bytes = compress_min_bytes
        self._cancel = client.register_script(_CANCEL)
        self._start = client.register_script(_START)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=False), **kwargs)

    # -- keys ---------------------------------------------------------------------------

    @staticmethod
    def _job(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def _result(job_id: str) -> str:
        return f"{PREFIX}result:{job_id}"

    @staticmethod
    def _events(job_id: str) -> str:
        return f"{PREFIX}events:{job_id}"

    @staticmethod
    def _owner(owner: str) -> str:
        return f"{PREFIX}owner:{owner}"

    @staticmethod
    def _idem(owner: str, key: str) -> str:
        return f"{PREFIX}idem:{owner}:{key}"

    @staticmethod
    def _active(owner: str) -> str:
        return f"{PREFIX}active:{owner}"

    @staticmethod
    def _lease(job_id: str) -> str:
        return f"{PREFIX}lease:{job_id}"

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, job_id: str, owner: str, spec: dict, summary: dict) -> dict:
        now = time.time()
        record = {
            "id": job_id,
            "owner": owner,
            "status": QUEUED,
            "created_at": repr(now),
            "spec": json.dumps(spec),
            "summary": json.dumps(summary),
            "attempts": "0",
            "cancel_requested": "0",
        }
        with self.r.pipeline(transaction=True) as p:
            p.hset(self._job(job_id), mapping=record)
            p.zadd(self._owner(owner), {job_id: now * 1000})
            p.sadd(self._active(owner), job_id)
            p.execute()
        return self.get_job(job_id)

    def admit(self, owner: str, max_active: int, per_minute: int) -> tuple[str | None, int]:
        """May ``owner`` submit now? (None, 0), or the limit hit and seconds to wait."""
        now = time.time()
        window = f"{PREFIX}rate:{owner}:{int(now // 60)}"
        with self.r.pipeline(transaction=True) as p:
            p.incr(window)
            p.expire(window, 120)
            p.scard(self._active(owner))
            count, _, active = p.execute()
        if per_minute and count > per_minute:
            return f"at most {per_minute} submissions a minute", 60 - int(now % 60)
        if max_active and active >= max_active:
            return f"at most {max_active} jobs queued or running at once", 5
        return None, 0

    def get_job(self, job_id: str) -> dict | None:
        raw = self.r.hgetall(self._job(job_id))
        if not raw:
            return None
        job: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        for key in ("created_at", "started_at", "finished_at"):
            job[key] = float(job[key]) if key in job else None
        for key in ("spec", "summary", "progress", "error"):
            job[key] = json.loads(job[key]) if key in job else None
        job["attempts"] = int(job.get("attempts", 0))
        job["cancel_requested"] = job.get("cancel_requested") == "1"
        return job

    def job_count(self) -> int:
        return sum(1 for _ in self.r.scan_iter(f"{PREFIX}job:*", count=1000))

    def list_jobs(self, owner: str, limit: int, after: tuple[float, str] | None = None) -> Page:
        """The owner's jobs, newest first, ``limit`` at a time after the cursor ``after``."""
        key = self._owner(owner)
        if after is None:
            entries = self.r.zrevrangebyscore(
                key, "+inf", "-inf", start=0, num=limit + 1, withscores=True
            )
        else:
            score, last_id = after
            # ties on the score are ordered by member, descending, as ZREVRANGE orders them
            entries = [
                (m, s)
                for m, s in self.r.zrevrangebyscore(
                    key, score, "-inf", start=0, num=limit + 64, withscores=True
                )
                if s < score or (s == score and m.decode() < last_id)
            ][: limit + 1]
        items = []
        for member, _score in entries[:limit]:
            job = self.get_job(member.decode())
            if job is None:  # expired: drop it from the index
                self.r.zrem(key, member)
                continue
            items.append(job)
        more = len(entries) > limit
        last = entries[limit - 1] if more else None
        return Page(items, (last[1], last[0].decode()) if last else None)

    def start(self, job_id: str, worker: str) -> int | None:
        """Mark the job running; None when it must not run (canceled, finished, unknown)."""
        attempts = self._start(keys=[self._job(job_id)], args=[repr(time.time()), worker])
        return int(attempts) if attempts else None

    def set_progress(self, job_id: str, progress: dict) -> None:
        data = json.dumps(progress)
        with self.r.pipeline(transaction=True) as p:
            p.hset(self._job(job_id), "progress", data)
            p.xadd(
                self._events(job_id),
                {"event": "progress", "data": data},
                maxlen=EVENTS_KEPT,
                approximate=True,
            )
            p.execute()

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel: returns the status after the request (None for an unknown job)."""
        end = json.dumps({"status": CANCELED})
        status = self._cancel(
            keys=[self._job(job_id), self._events(job_id)],
            args=[repr(time.time()), end, EVENTS_KEPT, f"{PREFIX}active:", job_id],
        )
        return status.decode() if status else None

    def cancel_requested(self, job_id: str) -> bool:
        return self.r.hget(self._job(job_id), "cancel_requested") == b"1"

    def finish(self, job_id: str, status: str, error: dict | None = None) -> None:
        fields = {"status": status, "finished_at": repr(time.time())}
        if error is not None:
            fields["error"] = json.dumps(error)
        end = {"status": status, **({"error": error} if error else {})}
        owner = self.r.hget(self._job(job_id), "owner")
        with self.r.pipeline(transaction=True) as p:
            p.hset(self._job(job_id), mapping=fields)
            if owner is not None:
                p.srem(self._active(owner.decode()), job_id)
            p.xadd(
                self._events(job_id),
                {"event": "end", "data": json.dumps(end)},
                maxlen=EVENTS_KEPT,
                approximate=True,
            )
            for key in (self._job(job_id), self._events(job_id)):
                p.expire(key, self.result_ttl)
            p.execute()

    # -- results ------------------------------------------------------------------------

    def save_result(self, job_id: str, data: bytes) -> bool:
        """Store the result's JSON bytes (``optcore.dumps``) once: a second attempt never
        replaces the first (False)."""
        if len(data) >= self.compress_min_bytes:
            data = gzip.compress(data, compresslevel=5)
        return bool(self.r.set(self._result(job_id), data, nx=True, ex=self.result_ttl))

    def has_result(self, job_id: str) -> bool:
        return bool(self.r.exists(self._result(job_id)))

    def result_bytes(self, job_id: str) -> bytes | None:
        """The stored bytes: JSON, or gzip-compressed JSON (starts with the gzip magic)."""
        return self.r.get(self._result(job_id))

    def load_result(self, job_id: str) -> dict | None:
        data = self.result_bytes(job_id)
        if data is None:
            return None
        return json.loads(gzip.decompress(data) if data[:2] == GZIP_MAGIC else data)

    def plot(self, job_id: str, name: str) -> bytes | None:
        return self.r.get(f"{PREFIX}plot:{job_id}:{name}")

    def save_plot(self, job_id: str, name: str, data: bytes) -> None:
        """A rendered picture, kept as long as the result it was drawn from."""
        ttl = self.r.ttl(self._result(job_id))
        self.r.set(f"{PREFIX}plot:{job_id}:{name}", data, ex=ttl if ttl > 0 else self.result_ttl)

    # -- idempotency keys -----------------------------------------------------------------

    def claim_idempotency(
        self, owner: str, key: str, fingerprint: str, job_id: str
    ) -> tuple[str, str | None]:
        """('new', job_id) when this request owns the key; else ('replay' | 'in_progress' |
        'mismatch', the first request's job id)."""
        record = json.dumps({"fingerprint": fingerprint, "job": job_id, "state": "pending"})
        if self.r.set(self._idem(owner, key), record, nx=True, ex=self.idempotency_ttl):
            return "new", job_id
        raw = self.r.get(self._idem(owner, key))
        if raw is None:  # expired between the two calls: try once more
            return self.claim_idempotency(owner, key, fingerprint, job_id)
        first = json.loads(raw)
        if first["fingerprint"] != fingerprint:
            return "mismatch", first["job"]
        return ("in_progress" if first["state"] == "pending" else "replay"), first["job"]

    def complete_idempotency(self, owner: str, key: str) -> None:
        raw = self.r.get(self._idem(owner, key))
        if raw is not None:
            record = {**json.loads(raw), "state": "done"}
            self.r.set(self._idem(owner, key), json.dumps(record), xx=True, keepttl=True)

    def release_idempotency(self, owner: str, key: str) -> None:
        self.r.delete(self._idem(owner, key))

    # -- leases: one live worker per job ----------------------------------------------------

    def acquire_lease(self, job_id: str, token: str, ttl: int) -> bool:
        return bool(self.r.set(self._lease(job_id), token, nx=True, ex=ttl))

    def renew_lease(self, job_id: str, token: str, ttl: int) -> bool:
        return bool(self._renew(keys=[self._lease(job_id)], args=[token, ttl]))

    def release_lease(self, job_id: str, token: str) -> None:
        self._release(keys=[self._lease(job_id)], args=[token])

    # -- events -------------------------------------------------------------------------

    def read_events(
        self, job_id: str, after: str = "0-0", block_ms: int | None = None
    ) -> list[tuple[str, str, dict]]:
        """Events after the stream id ``after``: (id, 'progress' | 'end', data)."""
        return _events_of(self.r.xread({self._events(job_id): after}, block=block_ms, count=100))

    def secret(self) -> bytes:
        """A random secret shared by every API process (signs pagination cursors)."""
        key = f"{PREFIX}secret"
        self.r.set(key, os.urandom(32), nx=True)
        return self.r.get(key)

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in self.r.scan_iter(f"{PREFIX}job:*", count=1000):
            status = self.r.hget(key, "status")
            if status:
                counts[status.decode()] = counts.get(status.decode(), 0) + 1
        return counts

    def queue_length(self, queue: str) -> int:
        return int(self.r.llen(queue))

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False
