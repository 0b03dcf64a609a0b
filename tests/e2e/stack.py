"""Starting the real stack for tests: redis-server, a Celery worker and uvicorn on free ports."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from api.stack import Stack, free_port
from worker.settings import Settings
from worker.store import FINAL, JobStore


def stack_settings(data: Path, **overrides) -> Settings:
    """Short timeouts so that crash recovery happens within a test."""
    values = dict(
        data=data,
        port=free_port(),
        redis_port=free_port(),
        chunk_seconds=0.2,
        warmup=False,  # tests/worker/test_warm_start.py covers it; here it would slow jobs
        # generous: first jobs compile, and the test machine is shared (a lost job is
        # recovered by the reaper within seconds, not by these limits)
        task_soft_time_limit=90,
        task_time_limit=100,
        visibility_timeout=110,
        restore_interval=1,
        restore_throttle=1,
        job_lease=5,
    )
    values.update(overrides)
    return Settings(**values)


def start_stack(data: Path, workers: int = 1, **overrides) -> Stack:
    stack = Stack(stack_settings(data, **overrides), logs=data / "logs", workers=workers)
    try:
        stack.start()
        stack.wait_worker_ready()
    except Exception:
        stack.stop_all()
        raise
    return stack


def store_of(stack: Stack) -> JobStore:
    return JobStore.from_url(stack.settings.broker_url)


def wait_for(client: httpx.Client, job_id: str, statuses=FINAL, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def wait_until(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def long_job(runs: int = 1500, steps: int = 1_000_000) -> dict:
    """A job of a few seconds: a wide learning-rate sweep, many steps."""
    rates = [1e-4 * (1 + i / runs) for i in range(runs)]
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        "record": {"every": 10_000},
    }


ROOT_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIGURE1 = ROOT_EXAMPLES / "figure1.json"


def assert_same_runs(ours: list[dict], reference: list[dict]) -> None:
    """Run documents equal field by field, bit for bit, except ``grad_norm``: a recorded
    norm (a reduction over the parameters) may differ by a float32 ulp between programs of
    different run widths, as XLA vectorises it differently; the steps never use it."""
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference, strict=True):
        assert {k: v for k, v in a.items() if k != "grad_norm"} == {
            k: v for k, v in b.items() if k != "grad_norm"
        }, a["label"]
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=3e-7), a["label"]
