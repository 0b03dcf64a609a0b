"""Helpers of the reliability tests: the supervised stack (`optserve up`) as a real process,
pool child PIDs, and CPU use read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from api.stack import ROOT, settings_env
from worker.settings import Settings
from worker.store import JobStore

from .stack import stack_settings, store_of, wait_for, wait_until

# Leases and sweeps short enough that a lost process is noticed within seconds.
FAST_RECOVERY = dict(job_lease=3, reaper_interval=1, max_attempts=3)


class Supervised:
    def __init__(self, settings: Settings, proc: subprocess.Popen, log: Path):
        self.settings, self.proc, self.log = settings, proc, log
        self.url = f"http://{settings.host}:{settings.port}"
        self.store = JobStore.from_url(settings.broker_url)


@contextmanager
def supervised_stack(data: Path, **overrides: object) -> Iterator[Supervised]:
    """``optserve up`` in its own session, stopped with SIGTERM (what Ctrl-C does)."""
    settings = stack_settings(data, **{**FAST_RECOVERY, **overrides})
    log = data / "optserve-up.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "up"],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Supervised(settings, proc, log)
    try:
        wait_until(lambda: _ready(stack), 120, "the supervised stack to be ready")
        yield stack
    finally:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ready(stack: Supervised) -> bool:
    if stack.proc.poll() is not None:
        raise AssertionError(f"optserve up exited: {stack.log.read_text()[-2000:]}")
    with suppress(httpx.HTTPError):
        return httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200
    return False


def running_pid(store: JobStore, job_id: str) -> tuple[int, int] | None:
    """(pool child PID, attempt number) of the job's running attempt, if it runs."""
    job = store.get_job(job_id)
    if job and job["status"] == "running" and job.get("pid"):
        return int(job["pid"]), job["attempts"]
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_idle(pid: int, window: float = 0.5, max_share: float = 0.1) -> bool:
    """True when the process used under ``max_share`` of a core over ``window`` seconds."""
    before = cpu_seconds(pid)
    time.sleep(window)
    return cpu_seconds(pid) - before < max_share * window


def end_events(store: JobStore, job_id: str) -> list[dict]:
    return [data for _, kind, data in store.read_events(job_id) if kind == "end"]


def small_job() -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "steps": 500,
        "runs": [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
    }


def started(stack, job_id: str) -> tuple[int, int]:
    """The (pid, attempt) of the process running the job, once it runs."""
    return wait_until(lambda: running_pid(store_of(stack), job_id), 90, "the job to start")


def next_job_succeeds(client: httpx.Client) -> None:
    following = client.post("/v1/jobs", json=small_job()).json()["id"]
    assert wait_for(client, following, timeout=60)["status"] == "succeeded"
