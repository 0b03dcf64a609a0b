"""Micro-batching: queued jobs of one program structure run as one vmapped program.

The API records each batchable job (``optcore.groups.structure_key``: no landscape, no
tuning search, not sharded) in a Redis list per queue and structure. A worker that starts
such a job takes queued jobs off that list, oldest first, up to ``OPTSERVE_BATCH_MAX_RUNS``
runs in all, atomically (``lua.TAKE_BATCH``): each is started under this attempt's token,
with its own lease, renewed by the attempt's heartbeat, and its own Celery message leaves
the queue (one delivery per batch, not one per job). Their runs put end to end make one
job for the runner; each run keeps its own hyperparameters, seed and start, and the
job-wide values (steps, stopping, records) are equal by the key.

Each job keeps its own progress events, cancel, result and status; a job canceled during
the batch ends canceled at the next chunk without its result, and the others go on. When
the process dies, every job's lease lapses and the reaper requeues each of them alone. A
job's own message, delivered while the batch runs, waits for its lease and then finds the
job done.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import closing
from typing import TYPE_CHECKING, Any

from redis.typing import EncodableT

from . import lua
from .jobs import LOST, Heartbeat, invalid_spec, progress_doc, start_jax
from .records import text
from .settings import Settings
from .store import CANCELED, FAILED, PREFIX, SUCCEEDED, JobRecord, JobStore

if TYPE_CHECKING:  # optcore imports JAX: only inside a job, never in the Celery parent
    from optcore.spec import Job
    from optcore.sweeps import PlannedRun

log = logging.getLogger("optserve.worker")


def list_key(queue: str, structure: str) -> str:
    """The list of queued jobs of one structure on one queue."""
    return f"{PREFIX}batch:{queue}:{structure}"


def take(store: JobStore, job: JobRecord, token: str, settings: Settings) -> list[str]:
    """Start queued jobs of the (started) job's structure under its attempt; all the ids,
    this job's first."""
    script = store.r.register_script(lua.TAKE_BATCH)
    keys = [
        JobStore.job_key(job["id"]),
        list_key(job["queue"] or settings.queue, job["batch_key"] or ""),
        JobStore.RUNNING_SET,
        JobStore.STATS,
        job["queue"] or settings.queue,  # kombu's message list of the queue
    ]
    args: list[EncodableT] = [
        repr(time.time()),
        job["id"],
        PREFIX,
        settings.batch_max_runs,
        token,
        int(settings.job_lease * 1000),
        job["worker"] or "",
        job["pid"] or "",
        job["queue"] or settings.queue,
        job["deadline"] or "0",
        store.result_ttl,
    ]
    return [text(i) for i in script(keys=keys, args=args)]


def shown_batch(store: JobStore, job: JobRecord) -> dict[str, Any]:
    """What a job's status shows of its batch: the other jobs of its owner in it (another
    owner's jobs are not named) and how many jobs the program ran."""
    ids = job["batch"]
    if not ids:
        return {}
    others = [i for i in ids if i != job["id"]]
    script = store.r.register_script(lua.SAME_OWNER)  # one call for a batch of hundreds
    mine = [text(i) for i in script(args=[PREFIX, job["owner"], *others])]
    return {"batched_with": mine, "batch_jobs": len(ids)}


def run_batch(
    store: JobStore, ids: list[str], settings: Settings, token: str, beat: Heartbeat
) -> str:
    """Run the jobs ``ids`` (all started under ``token``) as one program; the status of the
    first (the attempt's own job)."""
    beat.add(ids[1:])
    start_jax(settings)
    from optcore import SpecError
    from optcore.runner import JobRunner
    from optcore.spec import Job, parse_job

    jobs: list[JobRecord] = []
    parsed: list[Job] = []
    for job_id, job in zip(ids, store.get_jobs(ids), strict=True):
        if job is None:  # expired since it was taken
            continue
        try:
            parsed.append(parse_job(job["spec"]))
            jobs.append(job)
        except SpecError as exc:  # validated at submission; a catalog change can refuse it
            store.finish(job_id, FAILED, invalid_spec(exc), token)
    runs: list[PlannedRun] = []
    ranges: dict[str, tuple[int, int]] = {}
    specs = 0
    for job, one in zip(jobs, parsed, strict=True):
        # spec_index tells a job's run specs apart (optcore.groups): unique across the jobs
        moved = [dataclasses.replace(r, spec_index=r.spec_index + specs) for r in one.runs]
        ranges[job["id"]] = (len(runs), len(runs) + len(moved))
        runs += moved
        specs += len(one.spec.runs)
    if not runs:
        return FAILED
    together = Job(parsed[0].spec, parsed[0].objective, runs, len(runs))
    runner = JobRunner(together, settings.chunk_seconds)
    log.info("batch of %d jobs, %d runs: %s", len(ranges), len(runs), ",".join(ranges))
    going = dict(ranges)
    with closing(runner.chunks()) as chunks:
        for p in chunks:
            docs = {
                job_id: {**progress_doc(p), "runs_running": min(p.running, hi - lo)}
                for job_id, (lo, hi) in going.items()
            }
            canceled = store.set_progresses(docs)  # every job's, in one round trip
            for job_id in docs:
                if job_id in beat.lost_units:
                    del going[job_id]
                elif job_id in canceled:
                    store.finish(job_id, CANCELED, token=token)
                    del going[job_id]
            if not going:
                break
    ended: dict[str, str] = {job_id: CANCELED for job_id in ranges if job_id not in going}
    if going:
        result = runner.result()
        own = {
            j["id"]: _own(j, result, ranges[j["id"]], len(ids)) for j in jobs if j["id"] in going
        }
        for job_id, done in store.save_results(own, token).items():
            ended[job_id] = SUCCEEDED if done else LOST
    return ended.get(ids[0], FAILED)


def _own(job: JobRecord, result: dict[str, Any], runs: tuple[int, int], jobs: int) -> bytes:
    """One job's own document: its runs alone."""
    from optcore import dumps

    started = job["started_at"] or job["created_at"]  # set when the batch took it
    timing = {**result["timing"], "batch_jobs": jobs}
    timing["queued_ms"] = round((started - job["created_at"]) * 1e3, 3)
    own = {**result, "id": job["id"], "runs": result["runs"][runs[0] : runs[1]], "timing": timing}
    return dumps(own)
