"""Nothing is lost: a worker killed mid-job, and Redis killed and restarted."""

from __future__ import annotations

import httpx

from .stack import long_job, start_stack, store_of, wait_for, wait_until


def small_job() -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "steps": 500,
        "runs": [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
    }


def test_a_job_whose_worker_is_killed_finishes_exactly_once_on_a_new_worker(tmp_path):
    # the new worker's reaper requeues the job once the dead attempt's lease lapses (5 s)
    stack = start_stack(tmp_path, job_lease=5, reaper_interval=1)
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            job_id = client.post("/v1/jobs", json=long_job(steps=200_000)).json()["id"]
            wait_until(
                lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"], 60, "the job to run"
            )
            stack.kill("worker")  # SIGKILL: the master and its pool child, mid-job
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
            stack.start_worker()
            done = wait_for(client, job_id, timeout=120)
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 2
            result = client.get(f"/v1/jobs/{job_id}/result").json()
            assert len(result["runs"]) == 1500 and result["id"] == job_id
            events = store_of(stack).read_events(job_id)
            assert [kind for _, kind, _ in events].count("end") == 1  # finished once
    finally:
        stack.stop_all()


def test_jobs_and_results_survive_a_redis_crash(tmp_path):
    stack = start_stack(tmp_path)
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            finished = client.post("/v1/jobs", json=small_job()).json()["id"]
            assert wait_for(client, finished)["status"] == "succeeded"
            before = client.get(f"/v1/jobs/{finished}/result").json()
            stack.stop("worker")
            pending = client.post("/v1/jobs", json=small_job()).json()["id"]
            assert client.get(f"/v1/jobs/{pending}").json()["status"] == "queued"
            wait_until(
                lambda: (
                    (tmp_path / "appendonlydir").exists() or (tmp_path / "appendonly.aof").exists()
                ),
                10,
                "the append-only file",
            )
            import time

            time.sleep(1.5)  # appendfsync everysec
            stack.kill("redis")  # no shutdown save: only the append-only file remains
            stack.start_redis()
            assert client.get(f"/v1/jobs/{finished}/result").json() == before
            assert client.get(f"/v1/jobs/{pending}").json()["status"] == "queued"
            stack.start_worker()
            assert wait_for(client, pending, timeout=60)["status"] == "succeeded"
    finally:
        stack.stop_all()
