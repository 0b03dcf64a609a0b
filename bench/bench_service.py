"""The service end to end: POST -> result available, against a bare Celery round trip.

A small job (Rosenbrock, one Adam run, 1,000 steps), warm, 200 times one after another:
p50 and p99 latency, then jobs per second with one worker. Beside it the floor on the same
Redis: a no-op Celery task sent and its result fetched. Target: p50 within 5x the floor.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from api.stack import Stack, free_port  # noqa: E402
from worker.settings import Settings  # noqa: E402

N = 200
JOB = {
    "objective": {"name": "rosenbrock"},
    "steps": 1000,
    "record": {"every": 100},
    "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def one_job(client: httpx.Client) -> float:
    t0 = time.perf_counter()
    job_id = client.post("/v1/jobs", json=JOB).json()["id"]
    while client.get(f"/v1/jobs/{job_id}/result").status_code != 200:
        time.sleep(0.0005)
    return time.perf_counter() - t0


def bare_round_trips(url: str, env: dict) -> list[float]:
    env = {**env, "BENCH_REDIS_URL": url, "PYTHONPATH": str(HERE)}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "noop_app",
            "worker",
            "-Q",
            "bench",
            "-c",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "WARNING",
            "-n",
            "bench@%h",
        ],
        cwd=HERE,
        env=env,
        start_new_session=True,
    )
    try:
        sys.path.insert(0, str(HERE))
        os.environ["BENCH_REDIS_URL"] = url
        import noop_app

        for _ in range(20):  # warm, and wait for the worker
            noop_app.noop.delay().get(timeout=60)
        times = []
        for _ in range(N):
            t0 = time.perf_counter()
            noop_app.noop.delay().get(timeout=30)
            times.append(time.perf_counter() - t0)
        return times
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(30)


def main():
    data = Path(tempfile.mkdtemp(prefix="optserve-bench-"))
    settings = Settings(
        data=data,
        port=free_port(),
        redis_port=free_port(),
        max_active_jobs=0,
        submissions_per_minute=0,
    )  # the benchmark submits 200 at once
    stack = Stack(settings, logs=data / "logs")
    stack.start()
    stack.wait_worker_ready()
    try:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            for _ in range(10):
                one_job(client)  # warm: compiled program cached in the worker
            latencies = [one_job(client) for _ in range(N)]
            t0 = time.perf_counter()
            ids = [client.post("/v1/jobs", json=JOB).json()["id"] for _ in range(N)]
            for job_id in ids:
                while client.get(f"/v1/jobs/{job_id}/result").status_code != 200:
                    time.sleep(0.002)
            throughput = N / (time.perf_counter() - t0)
        bare = bare_round_trips(settings.broker_url, stack.env)
    finally:
        stack.stop_all()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    b50, b99 = percentile(bare, 0.5), percentile(bare, 0.99)
    print(f"4. service: small job (Rosenbrock, Adam, 1,000 steps), {N} jobs, one worker")
    print(f"  {'POST -> result available':<44s} p50 {p50 * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms")
    print(
        f"  {'bare Celery round trip (no-op task)':<44s} p50 {b50 * 1e3:7.2f} ms  "
        f"p99 {b99 * 1e3:7.2f} ms"
    )
    print(f"  {'ratio of the p50s':<44s} {p50 / b50:.2f}x (target <= 5x)")
    print(
        f"  {'throughput, jobs submitted back to back':<44s} {throughput:.0f} jobs/s "
        f"(mean {statistics.mean(latencies) * 1e3:.1f} ms one at a time)"
    )


if __name__ == "__main__":
    main()
