"""Sharded sweeps: one large job run as contiguous ranges of its runs, by any workers.

The API splits a job whose runs x steps exceed ``OPTSERVE_SHARD_RUN_STEPS``, or whose runs
are more than one job may have unsharded (4,096), into shards (``plan``) and sends one
``optserve.run_shard`` message per shard. Shard k of job ``id`` is the unit ``{id}/{k}``:
it has its own attempts, lease, heartbeat and reaper handling, exactly as a whole job has
(worker.jobs.execute, worker.lua), so a shard whose process dies is handed out again
alone, and a finished shard (status ``done``) never runs again.

A shard stores its runs' JSON and the rest of its result document under its own keys. The
shard that completes the set (an atomic ``SADD``/``SCARD`` in ``lua.SHARD_DONE``) merges:
it splices the shards' run arrays as bytes in run order, stores the job's result and
finishes the job, while still holding its shard's lease, so that if it dies its redelivery
merges instead. The result is stored with ``SET NX`` and the job finishes once.

Landscapes: a grid is independent of the runs and is computed once, by shard 0. A plane
(random, pca, interpolation) is centred on one run's final parameters and projects every
run's recorded parameters onto it, which the shards' stored results do not hold: such jobs
are not sharded (``plan`` returns None).
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import closing
from typing import Any

import orjson

from optcore import dumps

from . import gzjoin, lua
from .jobs import LOST, Heartbeat, invalid_spec, progress_doc, start_jax
from .records import text
from .settings import Settings
from .store import CANCELED, FAILED, PREFIX, SUCCEEDED, JobRecord, JobStore

PLANE_LANDSCAPES = {"random", "pca", "interpolation"}
SHARD_DONE = "shard_done"  # what a shard's task returns when another shard will merge
ANY_RUNS = 2**62  # a shard parses a job validated at submission: no run limit again


def unit_of(job_id: str, shard: int) -> str:
    return f"{job_id}/{shard}"


def split_unit(unit: str) -> tuple[str, int | None]:
    """(job id, shard index or None for a whole job)."""
    job_id, _, shard = unit.partition("/")
    return job_id, int(shard) if shard else None


def _bucket(runs: int) -> int:
    """The run count a group's program is compiled for above 8 (optcore.layout.bucket, which
    imports JAX: the API and the Celery parent do not): shards of such sizes waste no
    padded lanes."""
    if runs <= 64:
        return 8 * math.ceil(runs / 8)
    return 1 << (runs - 1).bit_length()


def plan(
    runs: int, steps: int, landscape: str | None, settings: Settings, max_runs: int
) -> list[tuple[int, int]] | None:
    """The run ranges [lo, hi) of a job's shards, or None when it runs whole.

    A shard holds at most ``max_runs`` runs (what one unsharded job may have) and about
    ``shard_run_steps`` of runs x steps; there are at most ``max_shards``, and their sizes
    are rounded up to a program's run bucket."""
    wanted = max(math.ceil(runs * steps / settings.shard_run_steps), math.ceil(runs / max_runs))
    if landscape in PLANE_LANDSCAPES or runs < 2 or wanted < 2:
        return None
    size = min(runs, _bucket(math.ceil(runs / min(settings.max_shards, runs, wanted))))
    return [(lo, min(lo + size, runs)) for lo in range(0, runs, size)]


class Shards:
    """The shard keys of the job store: ranges, progress, stored parts, the done set."""

    def __init__(self, store: JobStore):
        self.store, self.r = store, store.r
        self._done = self.r.register_script(lua.SHARD_DONE)
        self._progress = self.r.register_script(lua.SHARD_PROGRESS)

    @staticmethod
    def _part(unit: str) -> str:
        return f"{PREFIX}shard-result:{unit}"

    @staticmethod
    def _done_set(job_id: str) -> str:
        return f"{PREFIX}shards-done:{job_id}"

    def info(self, unit: str) -> dict[str, str]:
        raw = self.r.hgetall(JobStore.shard_key(unit))
        return {text(k): text(v) for k, v in raw.items() if text(k) != "meta"}

    def states(self, job_id: str, n: int) -> list[dict[str, Any]]:
        """What the job's status shows of each shard (one round trip for all of them)."""
        fields = ("lo", "hi", "status", "attempts")
        with self.r.pipeline(transaction=False) as p:
            for k in range(n):
                p.hmget(JobStore.shard_key(unit_of(job_id, k)), fields)
            replies = p.execute()
        out = []
        for lo, hi, status, attempts in replies:
            out.append(
                {
                    "runs": [int(lo or 0), int(hi or 0)],
                    "status": text(status) if status is not None else "expired",
                    "attempts": int(attempts or 0),
                }
            )
        return out

    def progress(
        self, unit: str, token: str, p: Any, runs: int, steps: int, n: int
    ) -> tuple[bool, str]:
        """Record this shard's progress and the job's sum; (cancel requested, job status)."""
        doc = progress_doc(p)
        cancel, status = self.store.transition(
            self._progress,
            unit,
            token,
            n,
            doc["phase"],
            doc["steps_done"] * runs,
            doc["runs_running"],
            doc["chunk"],
            doc["chunks"],
            steps,
        )
        return bool(cancel), status.decode()

    def save(self, unit: str, document: dict) -> None:
        """Store a shard's result: its runs' JSON (the array's items, a ``gzjoin`` piece), and
        the rest of the document (with ``runs`` null, keeping its place). Counts
        computations, to show none is redone."""
        meta = dumps({**document, "runs": None})
        runs = gzjoin.piece(dumps(document["runs"])[1:-1])  # compressed here, in parallel
        with self.r.pipeline(transaction=True) as p:
            p.hset(JobStore.shard_key(unit), "meta", meta)
            p.hincrby(JobStore.shard_key(unit), "computed", 1)
            p.set(self._part(unit), runs, nx=True, ex=self.store.result_ttl)
            p.execute()

    def has_result(self, unit: str) -> bool:
        return bool(self.r.exists(self._part(unit)))

    def done(self, unit: str, token: str, n: int) -> str:
        """'done', 'merge' (this shard completes the set and merges) or 'lost'."""
        job_id, _ = split_unit(unit)
        return self.store.transition(self._done, unit, token, n, self._done_set(job_id)).decode()

    def parts(self, job_id: str, n: int) -> list[tuple[bytes, bytes]]:
        """(document without runs, runs piece) of every shard, in run order."""
        with self.r.pipeline(transaction=False) as p:
            for k in range(n):
                p.hget(JobStore.shard_key(unit_of(job_id, k)), "meta")
                p.get(self._part(unit_of(job_id, k)))
            replies = p.execute()
        return list(zip(replies[0::2], replies[1::2], strict=True))

    def drop_parts(self, job_id: str, n: int) -> None:
        self.r.delete(*(self._part(unit_of(job_id, k)) for k in range(n)))


def merged(job: JobRecord, parts: list[tuple[bytes, bytes]]) -> bytes:
    """The job's result document, gzipped: shard 0's document (with its landscape), the runs
    of every shard joined in run order as the shards compressed them (``gzjoin``), timings
    summed. The runs are neither decoded nor recompressed."""
    first = orjson.loads(parts[0][0])
    timing = first["timing"]
    for meta, _ in parts[1:]:
        for key, ms in orjson.loads(meta)["timing"].items():
            if key != "landscape_ms":
                timing[key] = round(timing.get(key, 0.0) + ms, 3)
    started = job["started_at"] or job["created_at"]
    timing["queued_ms"] = round((started - job["created_at"]) * 1e3, 3)
    timing["shards"] = len(parts)
    keys = list(first)
    at = keys.index("runs")
    head = dumps({"id": job["id"], **{k: first[k] for k in keys[:at] if k != "id"}})
    tail = dumps({k: first[k] for k in keys[at + 1 :]})
    runs = [p for _, p in parts if gzjoin.piece_size(p)]
    comma = gzjoin.piece(b",")
    pieces = [gzjoin.piece(head[:-1] + b',"runs":[')]
    pieces += [x for p in runs for x in (comma, p)][1:]
    pieces.append(gzjoin.piece(b"]" + (b"," if len(tail) > 2 else b"") + tail[1:]))
    return gzjoin.join(pieces)


def run_shard(store: JobStore, unit: str, settings: Settings, token: str, beat: Heartbeat) -> str:
    """The body of a shard's attempt (worker.jobs.execute): compute the shard unless its
    result is stored, then report it done and, if it completes the set, merge."""
    shards = Shards(store)
    job_id, _ = split_unit(unit)
    job = store.get_job(job_id)
    if job is None or not job["shards"]:  # expired since it started
        return "missing"
    n = job["shards"]
    if not shards.has_result(unit):  # stored by an attempt that died after: not rerun
        status = _compute(store, shards, unit, job, settings, token, beat)
        if status is not None:
            return status
    outcome = shards.done(unit, token, n)
    if outcome == "lost":
        return LOST
    if outcome == "done":
        return SHARD_DONE
    started = store.get_job(job_id)
    if started is not None and not store.has_result(job_id):  # else a merge stored it, then died
        t0 = time.perf_counter()
        store.save_result(job_id, merged(started, shards.parts(job_id, n)))
        store.r.hset(JobStore.job_key(job_id), "merge_ms", round((time.perf_counter() - t0) * 1e3))
    if not store.finish(unit, SUCCEEDED, token=token):
        return LOST
    shards.drop_parts(job_id, n)
    return SUCCEEDED


def _compute(
    store: JobStore,
    shards: Shards,
    unit: str,
    job: JobRecord,
    settings: Settings,
    token: str,
    beat: Heartbeat,
) -> str | None:
    """Run the shard's runs and store its part; a status when the attempt ends otherwise."""
    start_jax(settings)
    from optcore import SpecError
    from optcore.runner import JobRunner
    from optcore.spec import parse_job

    _, k = split_unit(unit)
    info = shards.info(unit)
    lo, hi = int(info["lo"]), int(info["hi"])
    try:
        parsed = parse_job(job["spec"], ANY_RUNS, range(lo, hi))
    except SpecError as exc:
        store.finish(unit, FAILED, invalid_spec(exc), token)
        return FAILED
    if k != 0:  # the grid landscape is computed once, by shard 0
        record = parsed.spec.record.model_copy(update={"landscape": None})
        parsed = dataclasses.replace(parsed, spec=parsed.spec.model_copy(update={"record": record}))
    runner = JobRunner(parsed, settings.chunk_seconds)
    steps, n = parsed.spec.steps, job["shards"] or 1
    with closing(runner.chunks()) as chunks:
        for p in chunks:
            cancel, status = shards.progress(unit, token, p, hi - lo, steps, n)
            if beat.lost or status != "running":
                return LOST  # the job ended (canceled, or another shard failed)
            if cancel:
                store.finish(unit, CANCELED, token=token)
                return CANCELED
    shards.save(unit, runner.result())
    return None
