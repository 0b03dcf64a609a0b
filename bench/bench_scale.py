"""Scale-out on Celery, on real stacks (Redis, Celery workers, uvicorn on loopback).

1. Micro-batching: small jobs (Adam on Rosenbrock, 20,000 steps) from concurrent clients,
   each POSTing a job, waiting for its `end` event (SSE) and fetching its result, on one
   worker: throughput and p50 POST -> result with OPTSERVE_BATCH_MAX_RUNS=256 against the
   same load with 1 (no batching), after a warm-up round of the same load.
2. Sharded sweep: a 65,536-run x 10,000-step Adam sweep (16 shards of 4,096 runs) on two
   workers against one: wall time from submission to the end, and the merge's share of it.

``--jobs``, ``--clients``, ``--runs``, ``--steps`` shrink it (``--quick``: a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from api.stack import Stack, free_port
from worker.settings import Settings
from worker.store import JobStore


def small_job(i: int, steps: int) -> dict:
    rng = random.Random(i)
    rate = 10 ** rng.uniform(-4, -1)
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "init": {"point": [rng.uniform(-2, 2), rng.uniform(-1, 3)]},
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": rate}}],
        "record": {"every": 100},
    }


def stack_for(data: Path, workers: int = 1, **settings: object) -> Stack:
    values = dict(
        data=data,
        port=free_port(),
        redis_port=free_port(),
        max_active_jobs=0,
        submissions_per_minute=0,
        max_recorded_values=10**9,
        # no background compilation at start: it would compete with the measured load
        warmup=False,
    )
    stack = Stack(Settings(**{**values, **settings}), logs=data / "logs", workers=workers)
    stack.start()
    stack.wait_worker_ready()
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        deadline = time.monotonic() + 120
        while c.get("/v1/workers").json()["workers"] < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not all come up")
            time.sleep(0.2)
    return stack


async def _one(client: httpx.AsyncClient, job: dict) -> float:
    """POST a job, wait for its end event, GET its result: seconds from POST to result."""
    t0 = time.perf_counter()
    response = await client.post("/v1/jobs", json=job)
    response.raise_for_status()
    job_id = response.json()["id"]
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: end"):
                break
    result = await client.get(f"/v1/jobs/{job_id}/result")
    result.raise_for_status()
    return time.perf_counter() - t0


async def _load(url: str, jobs: int, clients: int, steps: int, offset: int) -> list[float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(jobs):
        queue.put_nowait(offset + i)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=2 * clients)
    timeout = httpx.Timeout(60, read=300)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                latencies.append(await _one(client, small_job(i, steps)))

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


def many_small_jobs(batch_max_runs: int, jobs: int, clients: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as data:
        stack = stack_for(Path(data), batch_max_runs=batch_max_runs)
        try:
            # warm-up: the same load compiles the programs of the batch widths it meets
            asyncio.run(_load(stack.url, max(4 * clients, jobs // 2), clients, steps, 10**6))
            t0 = time.perf_counter()
            latencies = asyncio.run(_load(stack.url, jobs, clients, steps, 0))
            wall = time.perf_counter() - t0
            stats = JobStore.from_url(stack.settings.broker_url).stats()
        finally:
            stack.stop_all()
    return {
        "jobs_per_s": jobs / wall,
        "p50": statistics.median(latencies),
        "p99": sorted(latencies)[int(0.99 * (len(latencies) - 1))],
        "batched": stats.get("batched_jobs", 0),
        "batches": stats.get("batches", 0),
    }


def sweep(runs: int, steps: int) -> dict:
    rates = [1e-4 * (1 + 99 * i / runs) for i in range(runs)]
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        "record": {"every": steps},
    }


def sharded_sweep(workers: int, runs: int, steps: int) -> dict:
    """The sweep twice (the first compiles): the second's wall time and merge."""
    with tempfile.TemporaryDirectory() as data:
        stack = stack_for(Path(data), workers=workers)
        try:
            with httpx.Client(base_url=stack.url, timeout=120) as c:
                for _ in range(2):
                    t0 = time.perf_counter()
                    job = c.post("/v1/jobs", json=sweep(runs, steps)).json()
                    while (status := c.get(f"/v1/jobs/{job['id']}").json())["status"] in (
                        "queued",
                        "running",
                    ):
                        time.sleep(0.05)
                    wall = time.perf_counter() - t0
                    assert status["status"] == "succeeded", status
                    result = c.get(f"/v1/jobs/{job['id']}/result")
                    assert len(result.json()["runs"]) == runs
        finally:
            stack.stop_all()
    return {"wall": wall, "merge_ms": status["merge_ms"], "shards": len(status["shards"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=65_536)
    parser.add_argument("--sweep-steps", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 jobs, 8,192 runs")
    parser.add_argument("--only", choices=["batching", "sharding"])
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.clients, args.runs, args.sweep_steps = 100, 20, 8192, 2000
    print("scale-out (real stacks on loopback; this machine is shared, figures are noisy)")
    if args.only != "sharding":
        what = f"{args.jobs} jobs (Adam, Rosenbrock, {args.steps:,} steps), {args.clients} clients"
        print(f"micro-batching: {what}, one worker")
        alone = many_small_jobs(1, args.jobs, args.clients, args.steps)
        batched = many_small_jobs(256, args.jobs, args.clients, args.steps)
        for name, r in (("BATCH_MAX_RUNS=1 (baseline)", alone), ("BATCH_MAX_RUNS=256", batched)):
            print(
                f"  {name:<28s} {r['jobs_per_s']:7.1f} jobs/s   POST->result p50 "
                f"{r['p50'] * 1e3:7.0f} ms  p99 {r['p99'] * 1e3:7.0f} ms   "
                f"{r['batched']} jobs in {r['batches']} batches"
            )
        print(
            f"  throughput: {batched['jobs_per_s'] / alone['jobs_per_s']:.2f}x the baseline; "
            f"p50: {batched['p50'] / alone['p50']:.2f}x"
        )
    if args.only != "batching":
        print(f"sharded sweep: {args.runs:,} Adam runs x {args.sweep_steps:,} steps")
        one = sharded_sweep(1, args.runs, args.sweep_steps)
        two = sharded_sweep(2, args.runs, args.sweep_steps)
        for name, r in (("one worker (baseline)", one), ("two workers", two)):
            share = r["merge_ms"] / 1e3 / r["wall"]
            print(
                f"  {name:<28s} {r['wall']:7.2f} s  ({r['shards']} shards; merge "
                f"{r['merge_ms']:.0f} ms = {share:.1%} of the wall time)"
            )
        print(f"  two workers: {one['wall'] / two['wall']:.2f}x faster than one")


if __name__ == "__main__":
    main()
