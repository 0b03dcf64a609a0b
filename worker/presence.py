"""Worker presence: which workers are alive, which queues they consume, on which devices, and
which jobs they hold. The API reads it to place jobs (api.placement), for ``GET /v1/workers``
and for ``/readyz``.

Keys (prefix ``optserve:``):
  worker:{id}    hash, expiring ``presence_ttl`` s after the last heartbeat, where the id is
                 ``{celery node name}:{parent pid}:{6 random hex digits}`` (unique even when
                 scaled containers share a host name, hence a node name, and a pid):
                 id, node, hostname, pid, queues (JSON list), started_at, seen_at (epoch s),
                 jobs (JSON list of the job ids in flight), and devices (JSON list of
                 {platform, kind, id}, written by a pool child once JAX has started there)
  workers        sorted set of the ids, scored by when their record expires

The Celery parent never imports JAX: it writes everything but the devices, from a heartbeat
thread. Each spawned pool child starts JAX in the background as it comes up and reports
``jax.devices()``, so a worker's devices are known before its first job.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import signals

PREFIX = "optserve:"
WORKERS = f"{PREFIX}workers"
ID_ENV = "OPTSERVE_WORKER_ID"  # set by the Celery parent, inherited by its spawned children
GPU_PLATFORMS = frozenset({"gpu", "cuda", "rocm"})
log = logging.getLogger("optserve.presence")


def new_worker_id(node: str) -> str:
    # The pid alone is not enough: every container's Celery parent may be pid 1.
    return f"{node}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_key(worker_id: str) -> str:
    return f"{PREFIX}worker:{worker_id}"


@dataclass(frozen=True)
class WorkerInfo:
    """One live worker, as its last heartbeat described it."""

    id: str
    node: str
    hostname: str
    queues: list[str]
    devices: list[dict[str, Any]]  # empty until a pool child has started JAX
    jobs: list[str]
    seen_at: float
    started_at: float
    pid: int = 0

    @property
    def has_gpu(self) -> bool:
        return any(d.get("platform") in GPU_PLATFORMS for d in self.devices)

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node": self.node,
            "hostname": self.hostname,
            "queues": self.queues,
            "devices": self.devices,
            "jobs_in_flight": len(self.jobs),  # a count: job ids are their owners' business
            "seen_at": self.seen_at,
            "started_at": self.started_at,
        }


def _decode(raw: dict[bytes, bytes]) -> WorkerInfo | None:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    if "id" not in fields:  # a child's device report outlived its parent's record
        return None
    return WorkerInfo(
        id=fields["id"],
        node=fields.get("node", ""),
        hostname=fields.get("hostname", ""),
        queues=json.loads(fields.get("queues", "[]")),
        devices=json.loads(fields.get("devices", "[]")),
        jobs=json.loads(fields.get("jobs", "[]")),
        seen_at=float(fields.get("seen_at", 0)),
        started_at=float(fields.get("started_at", 0)),
        pid=int(fields.get("pid", 0)),
    )


@dataclass
class WorkerDirectory:
    """Reads the live workers; answers from memory for ``max_age`` s between reads."""

    client: redis.Redis
    max_age: float = 1.0
    _cached: tuple[float, list[WorkerInfo]] | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, max_age: float = 1.0) -> WorkerDirectory:
        return cls(redis.Redis.from_url(url), max_age)

    def cached(self) -> list[WorkerInfo] | None:
        """The live workers as last read, if that was less than ``max_age`` s ago."""
        if self._cached and time.monotonic() - self._cached[0] < self.max_age:
            return self._cached[1]
        return None

    def live(self, fresh: bool = False) -> list[WorkerInfo]:
        now = time.monotonic()
        if not fresh and (known := self.cached()) is not None:
            return known
        self.client.zremrangebyscore(WORKERS, "-inf", time.time())
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in self.client.zrange(WORKERS, 0, -1)
        ]
        with self.client.pipeline(transaction=False) as p:
            for worker_id in ids:
                p.hgetall(worker_key(worker_id))
            records = p.execute()
        workers = [w for w in map(_decode, records) if w is not None]
        self._cached = (now, workers)
        return workers

    def by_queue(self, fresh: bool = False) -> dict[str, list[WorkerInfo]]:
        queues: dict[str, list[WorkerInfo]] = {}
        for worker in self.live(fresh):
            for queue in worker.queues:
                queues.setdefault(queue, []).append(worker)
        return queues


class Heartbeat:
    """The Celery parent's side: registers the worker, refreshes it every ttl/3 s, and
    removes it on a clean shutdown (a killed worker expires after ttl s)."""

    def __init__(
        self,
        client: redis.Redis,
        worker_id: str,
        node: str,
        queues: list[str],
        ttl: int,
        jobs_in_flight: Callable[[], list[str]],
    ):
        self.client = client
        self.id = worker_id
        self.node = node
        self.queues = queues
        self.ttl = ttl
        self.jobs_in_flight = jobs_in_flight
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="optserve-presence", daemon=True)

    def beat(self) -> None:
        now = time.time()
        key = worker_key(self.id)
        with self.client.pipeline(transaction=True) as p:
            p.hset(
                key,
                mapping={
                    "id": self.id,
                    "node": self.node,
                    "hostname": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": json.dumps(self.queues),
                    "started_at": repr(self.started_at),
                    "seen_at": repr(now),
                    "jobs": json.dumps(self.jobs_in_flight()),
                },
            )
            p.expire(key, self.ttl)
            p.zadd(WORKERS, {self.id: now + self.ttl})
            p.execute()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.beat()
            except redis.RedisError as exc:  # Redis restarting: the next beat registers again
                log.warning("presence heartbeat failed: %s", exc)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # a beat in progress must not register the worker again
            self._thread.join(5)
        with self.client.pipeline(transaction=True) as p:
            p.delete(worker_key(self.id))
            p.zrem(WORKERS, self.id)
            p.execute()


def report_devices(client: redis.Redis, worker_id: str, ttl: int) -> list[dict[str, Any]]:
    """In a pool child: start JAX, and write this worker's devices to its presence record."""
    import jax

    devices = [{"platform": d.platform, "kind": d.device_kind, "id": d.id} for d in jax.devices()]
    with client.pipeline(transaction=True) as p:
        p.hset(worker_key(worker_id), "devices", json.dumps(devices))
        p.expire(worker_key(worker_id), ttl)
        p.execute()
    return devices


def _jobs_in_flight() -> list[str]:
    from celery.worker import state

    return sorted(str(r.args[0]) for r in list(state.active_requests) if r.args)


def connect(url: str, ttl: int) -> None:
    """Hook presence into this worker's Celery signals (call once, where tasks are defined)."""
    beats: dict[str, Heartbeat] = {}

    @signals.worker_init.connect(weak=False)
    def _name(sender: Any, **_: Any) -> None:
        # before the pool starts, so that every spawned child inherits it
        os.environ[ID_ENV] = new_worker_id(sender.hostname)

    @signals.worker_ready.connect(weak=False)
    def _register(sender: Any, **_: Any) -> None:
        queues = sorted(sender.app.amqp.queues.consume_from or {})
        worker_id = os.environ.get(ID_ENV) or new_worker_id(sender.hostname)
        client = redis.Redis.from_url(url)
        beat = Heartbeat(client, worker_id, sender.hostname, queues, ttl, _jobs_in_flight)
        beat.start()
        beats["parent"] = beat

    @signals.worker_shutdown.connect(weak=False)
    def _unregister(**_: Any) -> None:
        beat = beats.pop("parent", None)
        if beat is not None:
            try:
                beat.stop()
            except redis.RedisError as exc:
                log.warning("could not unregister the worker: %s", exc)

    @signals.worker_process_init.connect(weak=False)
    def _devices(**_: Any) -> None:
        worker_id = os.environ.get(ID_ENV)
        if not worker_id:
            return

        # In the background: a pool child that is slow to start is killed by Celery.
        def report() -> None:
            try:
                report_devices(redis.Redis.from_url(url), worker_id, ttl)
            except Exception:  # noqa: BLE001 - presence must never take a worker down
                log.exception("could not report this worker's devices")

        threading.Thread(target=report, name="optserve-devices", daemon=True).start()
