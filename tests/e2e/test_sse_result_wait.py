"""The result's long poll on a real stack: ``GET /v1/jobs/{id}/result?wait=s`` answers as
soon as the job ends (with its result, or 409 naming how it ended), or 409 with Retry-After
when it is still running after ``s``; a bad ``wait`` is a 422 naming it."""

from __future__ import annotations

import time

from optserve.client import Client

from .stack import long_job, wait_for


def small_job(steps: int) -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "steps": steps,
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}}],
        "record": {"every": 100},
    }


def test_a_waiting_get_answers_with_the_result_once_the_job_ends(client):
    job_id = client.post("/v1/jobs", json=small_job(20_000)).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 15})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == job_id and len(result["runs"]) == 1
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{job_id}/result").json() == result  # the same, at once


def test_the_python_client_waits_for_the_result_too(service):
    with Client(service.url) as api:
        job = api.submit(small_job(20_000))
        assert api.result(job.id, wait=15).id == job.id


def test_a_job_still_running_after_the_wait_is_a_409_with_retry_after(client):
    # seconds of compute, canceled after the wait: 64 runs of a million steps took 1.4 s
    # once in CI, ending before the wait did
    job_id = client.post("/v1/jobs", json=long_job()).json()["id"]
    try:
        t0 = time.monotonic()
        response = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 1.5})
        assert time.monotonic() - t0 >= 1.5  # it waited
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["job_status"] in ("queued", "running")
        assert response.headers["retry-after"]
    finally:
        client.delete(f"/v1/jobs/{job_id}")
    assert wait_for(client, job_id)["status"] == "canceled"
    ended = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 15})  # ended: at once
    assert ended.status_code == 409 and ended.json()["job_status"] == "canceled"
    assert "retry-after" not in ended.headers


def test_a_wait_out_of_range_is_a_422_naming_it(client):
    job_id = client.post("/v1/jobs", json=small_job(100)).json()["id"]
    for wait in ("16", "-1", "soon"):
        response = client.get(f"/v1/jobs/{job_id}/result", params={"wait": wait})
        assert response.status_code == 422, wait
        assert response.headers["content-type"] == "application/problem+json"
        assert any(e["field"].endswith("wait") for e in response.json()["errors"]), wait
    assert client.get("/v1/jobs/not-a-job/result", params={"wait": 1}).status_code == 404
