"""Every Redis key of optserve lives here: jobs, results, owner indexes, idempotency keys,
progress events and job leases.

Keys (prefix ``optserve:``):
  job:{id}            hash: spec, owner, status, timestamps, progress, error, attempts
  result:{id}         the result document, JSON, gzip when large; expires (result TTL)
  events:{id}         stream of progress events, then one final event
  owner:{owner}       sorted set of the owner's job ids, scored by creation time (ms)
  idem:{owner}:{key}  an Idempotency-Key: payload fingerprint, job id, state
  lease:{unit}        the running attempt's token; short TTL, renewed by its heartbeat thread
  running             set of the units in `running` (what the reaper looks at)
  shard:{id}/{k}      hash of shard k of a sharded job (worker.shards): its runs, status,
                      attempts, token, progress; shard-result:{id}/{k}, shards-done:{id}
  stats               counters kept by the transitions: jobs:<status>, finished:<status>, ...
  stats:owners        submissions per owner (shown only to a metrics token holder)
  reaper              lock: one reaper sweep at a time across workers
  plot:{id}:{name}    a rendered picture of the result, kept as long as the result
  active:{owner}      the owner's jobs queued or running (a concurrency limit; members whose
                      job ended are dropped when counted, so the count cannot drift)
  rate:{owner}:{min}  the owner's submissions in one minute (a rate limit)
Results never travel through broker messages or Celery's result backend.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.commands.core import Script
from redis.retry import Retry
from redis.typing import EncodableT

from . import lua
from .idempotency import IdempotencyKeys
from .records import BUT_SPEC, Event, JobRecord, events_of, raw, record_but_spec, scored, text
from .records import record as to_record
from .states import FINAL_STATES, JobState

if TYPE_CHECKING:
    from .admission import NewJob

PREFIX = "optserve:"
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    JobState.queued,
    JobState.running,
    JobState.succeeded,
    JobState.failed,
    JobState.canceled,
)
FINAL = FINAL_STATES
GZIP_MAGIC = b"\x1f\x8b"
EVENTS_KEPT = 10_000
# Transient errors (Redis restarting, a dropped connection) are retried for about 15 s.
RETRIED_ERRORS: list[type[Exception]] = [redis.ConnectionError, redis.TimeoutError]


def _retrying(retries: int) -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=retries)


@dataclass(frozen=True)
class Attempt:
    """Who runs an attempt of a job, and for how long it may."""

    worker: str
    pid: int
    queue: str
    lease_seconds: float
    max_attempts: int
    time_limit: float  # the hard limit: a process lost past it was killed for time


@dataclass
class Page:
    items: list[JobRecord]
    next_after: tuple[float, str] | None  # (score, id) of the last item when more remain


class JobStore(IdempotencyKeys):
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
        self._finish = client.register_script(lua.FINISH)
        self._start = client.register_script(lua.START)
        self._requeue = client.register_script(lua.REQUEUE)
        self._cancel = client.register_script(lua.CANCEL)
        self._renew = client.register_script(lua.RENEW)
        self._admit = client.register_script(lua.ADMIT)
        self._create = client.register_script(lua.CREATE)

    @classmethod
    def from_url(cls, url: str, retries: int = 12, **kwargs: Any) -> JobStore:
        """``retries``: how long a call rides out a Redis restart (12: about 15 s, for the
        worker); the API passes few, so that a request answers 503 at once instead."""
        client = redis.Redis.from_url(
            url,
            decode_responses=False,
            retry=_retrying(retries),
            retry_on_error=RETRIED_ERRORS,
            health_check_interval=30,
        )
        return cls(client, **kwargs)

    # -- keys ---------------------------------------------------------------------------

    @staticmethod
    def job_key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def result_key(job_id: str) -> str:
        return f"{PREFIX}result:{job_id}"

    @staticmethod
    def events_key(job_id: str) -> str:
        return f"{PREFIX}events:{job_id}"

    @staticmethod
    def owner_key(owner: str) -> str:
        return f"{PREFIX}owner:{owner}"

    @staticmethod
    def active_key(owner: str) -> str:
        return f"{PREFIX}active:{owner}"

    @staticmethod
    def _lease(job_id: str) -> str:
        return f"{PREFIX}lease:{job_id}"

    RUNNING_SET = f"{PREFIX}running"
    STATS = f"{PREFIX}stats"
    OWNER_STATS = f"{PREFIX}stats:owners"

    @staticmethod
    def shard_key(unit: str) -> str:
        return f"{PREFIX}shard:{unit}"

    def transition(
        self, script: Script, unit: str, *args: EncodableT, client: Pipeline | None = None
    ) -> Any:
        """Run a transition script with the keys and leading arguments they all take (on
        ``client``, a pipeline, when given: its reply comes with the pipeline's).

        ``unit``: a job id (the job runs as one unit), or ``{id}/{k}``, shard k of the job."""
        job_id, _, shard = unit.partition("/")
        keys = [
            self.job_key(job_id),
            self.events_key(job_id),
            self._lease(unit),
            self.RUNNING_SET,
            self.STATS,
            self.shard_key(unit) if shard else self.job_key(job_id),
        ]
        common: list[EncodableT] = [
            repr(time.time()),
            job_id,
            PREFIX,
            self.result_ttl,
            EVENTS_KEPT,
            unit,
        ]
        return script(keys=keys, args=[*common, *args], client=client)

    # -- jobs ---------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        owner: str,
        spec: dict[str, Any],
        summary: dict[str, Any],
        shards: list[tuple[int, int]] | None = None,
        batch: tuple[str, str, int] | None = None,
        messages: Sequence[tuple[str, bytes]] = (),
    ) -> JobRecord:
        """Store a queued job in one transaction (see ``admission.NewJob``)."""
        from .admission import NewJob  # it names this store's keys

        return self.create(NewJob(job_id, owner, spec, summary, shards, batch, messages))

    def create(self, new: NewJob) -> JobRecord:
        keys, args = new.script_call(self.result_ttl)
        self._create(keys=keys, args=args)
        return new.record

    def admit(self, owner: str, max_active: int, per_minute: int) -> tuple[str | None, int]:
        """May ``owner`` submit now? (None, 0), or the limit hit and seconds to wait."""
        from .admission import rate_window, refusal

        window = rate_window(owner, time.time())
        count, active = self._admit(keys=[self.active_key(owner), window], args=[PREFIX])
        return refusal(count, active, max_active, per_minute)

    def get_job(self, job_id: str) -> JobRecord | None:
        fields = self.r.hgetall(self.job_key(job_id))
        return to_record(fields) if fields else None

    def job_count(self) -> int:
        return sum(1 for _ in self.r.scan_iter(f"{PREFIX}job:*", count=1000))

    def list_jobs(self, owner: str, limit: int, after: tuple[float, str] | None = None) -> Page:
        """The owner's jobs, newest first, ``limit`` at a time after the cursor ``after``."""
        key = self.owner_key(owner)
        if after is None:
            entries = scored(
                self.r.zrevrangebyscore(
                    key, "+inf", "-inf", start=0, num=limit + 1, withscores=True
                )
            )
        else:
            score, last_id = after
            # ties on the score are ordered by member, descending, as ZREVRANGE orders them
            entries = [
                (m, s)
                for m, s in scored(
                    self.r.zrevrangebyscore(
                        key, score, "-inf", start=0, num=limit + 64, withscores=True
                    )
                )
                if s < score or (s == score and m < last_id)
            ][: limit + 1]
        members = [member for member, _score in entries[:limit]]
        with self.r.pipeline(transaction=False) as p:  # one round trip, specs left out
            for member in members:
                p.hmget(self.job_key(member), BUT_SPEC)
            found = [record_but_spec(values) for values in p.execute()]
        items = [job for job in found if job is not None]
        if gone := [m for m, job in zip(members, found, strict=True) if job is None]:
            self.r.zrem(key, *gone)  # expired: dropped from the index
        more = len(entries) > limit
        last = entries[limit - 1] if more else None
        return Page(items, (last[1], last[0]) if last else None)

    def start(self, unit: str, token: str, attempt: Attempt) -> tuple[str, str]:
        """Begin an attempt of ``unit`` (a job id, or ``{id}/{k}``) holding the lease
        ``token``. Returns ('started', attempts), ('leased', ms left on another attempt's
        lease), ('final', status: the job ended or just failed because its earlier attempts
        were all lost; 'done': the shard finished) or ('missing', '')."""
        outcome, value = self.transition(
            self._start,
            unit,
            token,
            int(attempt.lease_seconds * 1000),
            attempt.worker,
            attempt.pid,
            attempt.queue,
            attempt.max_attempts,
            repr(time.time() + attempt.time_limit),
        )
        return outcome.decode(), value.decode()

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Record progress (and send it as an event); True when a cancel was requested."""
        return job_id in self.set_progresses({job_id: progress})

    def set_progresses(self, progress: dict[str, dict[str, Any]]) -> set[str]:
        """``set_progress`` of several jobs in one round trip: those whose cancel was
        requested."""
        with self.r.pipeline(transaction=True) as p:
            for job_id, doc in progress.items():
                data = json.dumps(doc)
                p.hset(self.job_key(job_id), "progress", data)
                p.xadd(
                    self.events_key(job_id),
                    {"event": "progress", "data": data},
                    maxlen=EVENTS_KEPT,
                    approximate=True,
                )
                p.hget(self.job_key(job_id), "cancel_requested")
            flags = p.execute()[2::3]
        return {job_id for job_id, flag in zip(progress, flags, strict=True) if flag == b"1"}

    def get_jobs(self, job_ids: list[str]) -> list[JobRecord | None]:
        """``get_job`` of several jobs in one round trip."""
        with self.r.pipeline(transaction=False) as p:
            for job_id in job_ids:
                p.hgetall(self.job_key(job_id))
            return [to_record(fields) if fields else None for fields in p.execute()]

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel: returns the status after the request (None for an unknown job)."""
        status = self.transition(self._cancel, job_id)
        return status.decode() if status else None

    def cancel_requested(self, job_id: str) -> bool:
        return self.r.hget(self.job_key(job_id), "cancel_requested") == b"1"

    def finish(
        self,
        unit: str,
        status: str,
        error: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> bool:
        """End the job of ``unit`` (its id, or one of its shards), once: with ``token``, only
        while that attempt holds the unit; without, any unfinished job (the API's path).
        False when it had already ended or moved on."""
        reason = (error or {}).get("reason", "") if status == FAILED else ""
        err = json.dumps(error) if error is not None else ""
        return bool(self.transition(self._finish, unit, status, err, reason, token or ""))

    # -- results ------------------------------------------------------------------------

    def save_result(self, job_id: str, data: bytes) -> bool:
        """Store the result's JSON bytes (``optcore.dumps``), or their gzip, once: a second
        attempt never replaces the first (False)."""
        return bool(self._store_result(self.r, job_id, data))

    def _store_result(self, client: redis.Redis | Pipeline, job_id: str, data: bytes) -> Any:
        # level 1: twice as fast as 5, 25% larger; bytes gzipped already (a merge) stay so
        if data[:2] != GZIP_MAGIC and len(data) >= self.compress_min_bytes:
            data = gzip.compress(data, compresslevel=1)
        return client.set(self.result_key(job_id), data, nx=True, ex=self.result_ttl)

    def save_results(self, results: dict[str, bytes], token: str) -> dict[str, bool]:
        """Store each job's result (once, as ``save_result``) and end it succeeded while the
        attempt ``token`` holds it, all in one round trip: whether each job ended so."""
        with self.r.pipeline(transaction=False) as p:
            for job_id, data in results.items():
                self._store_result(p, job_id, data)
                self.transition(self._finish, job_id, SUCCEEDED, "", "", token, client=p)
            ended = p.execute()[1::2]
        return {job_id: bool(e) for job_id, e in zip(results, ended, strict=True)}

    def has_result(self, job_id: str) -> bool:
        return bool(self.r.exists(self.result_key(job_id)))

    def result_bytes(self, job_id: str) -> bytes | None:
        """The stored bytes: JSON, or gzip-compressed JSON (starts with the gzip magic)."""
        return raw(self.r.get(self.result_key(job_id)))

    def load_result(self, job_id: str) -> dict[str, Any] | None:
        data = self.result_bytes(job_id)
        if data is None:
            return None
        document: dict[str, Any] = json.loads(
            gzip.decompress(data) if data[:2] == GZIP_MAGIC else data
        )
        return document

    def plot(self, job_id: str, name: str) -> bytes | None:
        return raw(self.r.get(f"{PREFIX}plot:{job_id}:{name}"))

    def save_plot(self, job_id: str, name: str, data: bytes) -> None:
        """A rendered picture, kept as long as the result it was drawn from."""
        ttl = self.r.ttl(self.result_key(job_id))
        self.r.set(f"{PREFIX}plot:{job_id}:{name}", data, ex=ttl if ttl > 0 else self.result_ttl)

    # -- leases: one live attempt per job -----------------------------------------------

    def renew_lease(self, unit: str, token: str, seconds: float) -> bool:
        """The heartbeat: False once the attempt no longer holds the unit (job or shard)."""
        return bool(self.transition(self._renew, unit, token, int(seconds * 1000)))

    def running_units(self) -> list[str]:
        """The running units: job ids, and ``{id}/{k}`` for shards."""
        return [text(m) for m in self.r.smembers(self.RUNNING_SET)]

    def requeue_if_lost(self, unit: str, max_attempts: int) -> tuple[str, str]:
        """A running unit whose lease expired: ('requeued', queue), ('failed' | 'canceled',
        queue) for its job, or ('alive' | 'gone', '') when there is nothing to do."""
        outcome, queue = self.transition(self._requeue, unit, max_attempts)
        return outcome.decode(), queue.decode()

    def take_reaper_turn(self, who: str, seconds: float) -> bool:
        """One reaper sweep per period across all workers."""
        return bool(self.r.set(f"{PREFIX}reaper", who, nx=True, px=int(seconds * 1000)))

    # -- events -------------------------------------------------------------------------

    def read_events(
        self, job_id: str, after: str = "0-0", block_ms: int | None = None
    ) -> list[Event]:
        """Events after the stream id ``after``: (id, 'progress' | 'end', data)."""
        return events_of(self.r.xread({self.events_key(job_id): after}, block=block_ms, count=100))

    def secret(self) -> bytes:
        """A random secret shared by every API process (signs pagination cursors)."""
        key = f"{PREFIX}secret"
        self.r.set(key, os.urandom(32), nx=True)
        secret = raw(self.r.get(key))
        return secret if secret is not None else self.secret()  # deleted in between: again

    def stats(self) -> dict[str, int]:
        """The counters the transitions keep: O(1) to read, whatever the number of jobs."""
        return {text(k): int(v) for k, v in self.r.hgetall(self.STATS).items()}

    def owner_stats(self) -> dict[str, int]:
        return {text(k): int(v) for k, v in self.r.hgetall(self.OWNER_STATS).items()}

    def queue_length(self, queue: str) -> int:
        return int(self.r.llen(queue))

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False
