"""Load: 200 concurrent clients for 60 s against the embedded stack, on loopback.

Each client submits a small job, polls it until it ends, then submits the next. Reports the
HTTP status counts (the target is no 5xx), lost jobs (accepted, yet not ended once the load
stops and the queue drains: the target is 0), p50/p99 request latency beside /healthz under
the same load (the baseline), and p50/p99 of submit-to-end per job.
BENCH_LOAD_CLIENTS, BENCH_LOAD_SECONDS and BENCH_LOAD_WORKERS change the defaults.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from api.stack import Stack, free_port  # noqa: E402
from worker.settings import Settings  # noqa: E402
from worker.store import FINAL, JobStore  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", 200))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", 60))
WORKERS = int(os.environ.get("BENCH_LOAD_WORKERS", 1))
JOB = {
    "objective": {"name": "rosenbrock"},
    "steps": 200,
    "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


class Load:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency: dict[str, list[float]] = {"api": [], "healthz": []}
        self.accepted: list[str] = []
        self.job_seconds: list[float] = []

    async def request(self, client: httpx.AsyncClient, kind: str, method: str, url: str, **kw):
        t0 = time.perf_counter()
        try:
            response = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.errors[type(exc).__name__] += 1
            return None
        self.latency[kind].append(time.perf_counter() - t0)
        self.statuses[response.status_code] += 1
        return response

    async def client(self, client: httpx.AsyncClient, until: float) -> None:
        while time.monotonic() < until:
            t0 = time.monotonic()
            r = await self.request(client, "api", "POST", "/v1/jobs", json=JOB)
            if r is None or r.status_code != 202:
                await asyncio.sleep(0.5)
                continue
            job_id = r.json()["id"]
            self.accepted.append(job_id)
            while time.monotonic() < until:
                await asyncio.sleep(0.25)
                r = await self.request(client, "api", "GET", f"/v1/jobs/{job_id}")
                if r is not None and r.status_code == 200 and r.json()["status"] in FINAL:
                    self.job_seconds.append(time.monotonic() - t0)
                    break
            await self.request(client, "healthz", "GET", "/healthz")

    async def run(self, url: str) -> None:
        limits = httpx.Limits(max_connections=CLIENTS + 10)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            until = time.monotonic() + SECONDS
            await asyncio.gather(*(self.client(client, until) for _ in range(CLIENTS)))


def lost_jobs(store: JobStore, job_ids: list[str], timeout: float = 600) -> list[str]:
    """Accepted jobs that have not ended (exactly once) after the queue drains."""
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        pending = {j for j in pending if (store.get_job(j) or {}).get("status") not in FINAL}
        time.sleep(0.5)
    twice = [j for j in job_ids if j not in pending and _ends(store, j) != 1]
    return sorted(pending) + twice


def _ends(store: JobStore, job_id: str) -> int:
    return sum(1 for _, kind, _ in store.read_events(job_id) if kind == "end")


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data=Path(data),
            port=free_port(),
            redis_port=free_port(),
            max_active_jobs=0,
            submissions_per_minute=0,
        )
        stack = Stack(settings, logs=Path(data) / "logs", workers=WORKERS)
        try:
            stack.start()
            stack.wait_worker_ready()
            load = Load()
            asyncio.run(load.run(stack.url))
            drained_at = time.monotonic()
            lost = lost_jobs(JobStore.from_url(settings.broker_url), load.accepted)
            drain_s = time.monotonic() - drained_at
        finally:
            stack.stop_all()
    five_xx = sum(n for code, n in load.statuses.items() if code >= 500)
    api, health = load.latency["api"], load.latency["healthz"]
    print(f"load: {CLIENTS} clients for {SECONDS:.0f} s, {WORKERS} worker(s), loopback")
    print(
        f"  requests {sum(load.statuses.values())}, statuses {dict(sorted(load.statuses.items()))}"
    )
    print(f"  5xx {five_xx}, transport errors {dict(load.errors) or 0}")
    print(
        f"  jobs accepted {len(load.accepted)}, lost {len(lost)} (queue drained in {drain_s:.1f} s)"
    )
    for name, values in (("API requests", api), ("/healthz (baseline)", health)):
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"  {name:<22s} p50 {p50 * 1e3:8.1f} ms   p99 {p99 * 1e3:8.1f} ms")
    ratio = percentile(api, 0.5) / max(percentile(health, 0.5), 1e-9)
    print(f"  API p50 / healthz p50: {ratio:.2f}x")
    jobs = load.job_seconds
    print(
        f"  submit -> end (jobs that ended under load): p50 {percentile(jobs, 0.5):.2f} s, "
        f"p99 {percentile(jobs, 0.99):.2f} s"
    )


if __name__ == "__main__":
    main()
