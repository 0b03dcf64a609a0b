"""Scale-out on Celery, on real stacks (Redis, Celery workers, uvicorn on loopback).

1. Micro-batching: small jobs (Adam on Rosenbrock, 20,000 steps) from concurrent clients,
   each POSTing a job, waiting for it to end and fetching its result (one long-polling GET
   of the result; ``--sse``: the event stream until `end`, then a GET), on one worker:
   throughput, p50 POST -> result and CPU per job of each process with
   OPTSERVE_BATCH_MAX_RUNS=256 against the same load with 1 (no batching), after a warm-up
   round of the same load.
2. Sharded sweep: a 65,536-run x 10,000-step Adam sweep (16 shards of 4,096 runs) on two
   workers against one: wall time from submission to the end, and the merge's share of it.

``--jobs``, ``--clients``, ``--runs``, ``--steps`` shrink it (``--quick``: a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from lean_http import Connection  # bench/ is on the path: this runs as a script

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


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """CPU (user + system) of a live process and of its live descendants, from /proc."""
    total, children = 0.0, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            if int(entry.name) == pid:
                total += (int(fields[11]) + int(fields[12])) / TICK
    return total + sum(_cpu_seconds(child) for child in children.get(pid, []))


def _cpu_by_part(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of the stack's processes (a worker with its pool) and this one's."""
    parts = {name: _cpu_seconds(proc.pid) for name, proc in stack.procs.items()}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {**parts, "clients": usage.ru_utime + usage.ru_stime}


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


async def _one_sse(client: httpx.AsyncClient, job: dict) -> bytes:
    """POST a job, read its event stream until `end`, GET its result (httpx)."""
    response = await client.post("/v1/jobs", json=job)
    response.raise_for_status()
    job_id = response.json()["id"]
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: end"):
                break
    result = await client.get(f"/v1/jobs/{job_id}/result")
    result.raise_for_status()
    return result.content


async def _one_long_poll(connection: Connection, job: dict) -> bytes:
    """POST a job, GET its result with ``?wait=15``: the GET answers when the job ends."""
    response = await connection.request("POST", "/v1/jobs", json=job)
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        result = await connection.request("GET", f"/v1/jobs/{job_id}/result?wait=15")
        if result.status != 409 or result.json()["job_status"] not in ("queued", "running"):
            break
    result.raise_for_status()
    return result.body


async def _load(
    url: str,
    jobs: int,
    clients: int,
    steps: int,
    offset: int,
    sse: bool = False,
    compiles: list[float] | None = None,
) -> list[float]:
    """``clients`` users, each: POST a job, wait for it to end, GET its result, again, until
    ``jobs`` are done; the seconds from each POST to its result. The wait is the result's
    long poll (lean_http, a keep-alive connection per user), or, with ``sse``, the event
    stream until `end` (httpx). ``compiles`` gets each result's compile ms."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(jobs):
        queue.put_nowait(offset + i)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=2 * clients)
    timeout = httpx.Timeout(60, read=300)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def user() -> None:
            connection = Connection(url)
            while not queue.empty():
                job = small_job(queue.get_nowait(), steps)
                t0 = time.perf_counter()
                if sse:
                    result = await _one_sse(client, job)
                else:
                    result = await _one_long_poll(connection, job)
                latencies.append(time.perf_counter() - t0)
                if compiles is not None:
                    compiles.append(orjson.loads(result)["timing"]["compile_ms"])
            await connection.close()

        await asyncio.gather(*(user() for _ in range(clients)))
    return latencies


def batch_widths(max_runs: int) -> list[int]:
    """The run counts a batch's program is compiled for, up to ``max_runs`` runs."""
    from optcore.layout import bucket

    return sorted({bucket(n) for n in range(1, max_runs + 1)})


def _warm_widths(url: str, steps: int, max_runs: int) -> int:
    """Compile the program of every batch width before the measured load: one job per width
    of that many ``small_job`` runs, each with its own rate and start (what a batch of that
    many small jobs runs: a sweep would share its start, a different program). Else a width
    that the load meets first during the measurement compiles there (a second or more, at
    random). Returns the programs compiled."""
    compiled = 0
    with httpx.Client(base_url=url, timeout=120) as c:
        for width in batch_widths(max_runs):
            smalls = [small_job(10**7 * width + i, steps) for i in range(width)]
            job = {**smalls[0], "runs": [{**j["runs"][0], "init": j["init"]} for j in smalls]}
            job_id = c.post("/v1/jobs", json=job).json()["id"]
            while True:
                r = c.get(f"/v1/jobs/{job_id}/result", params={"wait": 15})
                if r.status_code != 409 or r.json()["job_status"] not in ("queued", "running"):
                    break
            r.raise_for_status()
            compiled += r.json()["timing"]["programs_compiled"]
    return compiled


def _warm_up(url: str, clients: int, steps: int, sse: bool, rounds: int = 8) -> None:
    """Rounds of the same load until one compiles nothing: every batch width (the runner's
    run buckets) that this load meets is compiled before the measured load."""
    for k in range(rounds):
        compiles: list[float] = []
        asyncio.run(_load(url, 4 * clients, clients, steps, 10**6 * (k + 1), sse, compiles))
        if max(compiles) < 100:
            return


def many_small_jobs(
    batch_max_runs: int, jobs: int, clients: int, steps: int, sse: bool = False
) -> dict:
    with tempfile.TemporaryDirectory() as data:
        stack = stack_for(Path(data), batch_max_runs=batch_max_runs)
        try:
            # warm-up: every batch width's program, then the same load (which should
            # compile nothing more)
            if batch_max_runs > 1:
                _warm_widths(stack.url, steps, batch_max_runs)
            _warm_up(stack.url, clients, steps, sse)
            cpu0, t0 = _cpu_by_part(stack), time.perf_counter()
            compiles: list[float] = []
            latencies = asyncio.run(_load(stack.url, jobs, clients, steps, 0, sse, compiles))
            wall = time.perf_counter() - t0
            cpu = {k: (v - cpu0[k]) / jobs for k, v in _cpu_by_part(stack).items()}
            stats = JobStore.from_url(stack.settings.broker_url).stats()
        finally:
            stack.stop_all()
    return {
        "jobs_per_s": jobs / wall,
        "p50": statistics.median(latencies),
        "p99": sorted(latencies)[int(0.99 * (len(latencies) - 1))],
        "batched": stats.get("batched_jobs", 0),
        "batches": stats.get("batches", 0),
        "cpu_ms": {k: round(v * 1e3, 1) for k, v in cpu.items()},
        "compiled": sum(1 for ms in compiles if ms >= 100),  # results whose program compiled
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
    parser.add_argument(
        "--sse",
        action="store_true",
        help="clients wait on the event stream, then GET the result (default: its long poll)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.clients, args.runs, args.sweep_steps = 100, 20, 8192, 2000
    print("scale-out (real stacks on loopback; this machine is shared, figures are noisy)")
    if args.only != "sharding":
        what = f"{args.jobs} jobs (Adam, Rosenbrock, {args.steps:,} steps), {args.clients} clients"
        print(f"micro-batching: {what}, one worker")
        how = "SSE until `end`, then GET" if args.sse else "GET result?wait=15 (long poll)"
        print(f"  each client: POST, then {how}")
        alone = many_small_jobs(1, args.jobs, args.clients, args.steps, args.sse)
        batched = many_small_jobs(256, args.jobs, args.clients, args.steps, args.sse)
        for name, r in (("BATCH_MAX_RUNS=1 (baseline)", alone), ("BATCH_MAX_RUNS=256", batched)):
            print(
                f"  {name:<28s} {r['jobs_per_s']:7.1f} jobs/s   POST->result p50 "
                f"{r['p50'] * 1e3:7.0f} ms  p99 {r['p99'] * 1e3:7.0f} ms   "
                f"{r['batched']} jobs in {r['batches']} batches"
            )
            cpu = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms"].items())
            print(f"  {'':<28s} CPU ms per job: {cpu}; {r['compiled']} compiles")
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
