"""The job lifecycle over HTTP against the real stack: Redis, a Celery worker, uvicorn."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from api.submission import fingerprint
from optcore.spec import JobSpec

from .stack import FIGURE1, long_job, store_of, wait_for, wait_until

PROBLEM = "application/problem+json"


def small_job(**extra) -> dict:
    job = {
        "objective": {"name": "rosenbrock"},
        "steps": 200,
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}}],
    }
    job.update(extra)
    return job


def test_figure1_job_lifecycle_returns_six_trajectories_and_the_grid(client):
    job = json.loads(FIGURE1.read_text())
    r = client.post("/v1/jobs", json=job)
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/jobs/{job_id}"
    assert r.headers["retry-after"]
    assert r.json()["status"] in ("queued", "running")
    early = client.get(f"/v1/jobs/{job_id}/result")
    if early.status_code == 409:  # not finished yet: the problem says its status
        assert early.headers["content-type"] == PROBLEM
        assert early.json()["job_status"] in ("queued", "running")
    done = wait_for(client, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["progress"]["steps_done"] == done["progress"]["steps_total"] == 5000
    status = client.get(f"/v1/jobs/{job_id}")
    assert "retry-after" not in status.headers
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["id"] == job_id
    assert [r["optimizer"] for r in result["runs"]] == [r["optimizer"] for r in job["runs"]]
    for run in result["runs"]:
        assert run["trajectory"][0] == [-1.5, 2.0]
        assert len(run["trajectory"]) == len(run["loss"]) == len(run["step"])
    assert len(result["landscape"]["z"]) == 101 and len(result["landscape"]["z"][0]) == 101
    assert result["timing"]["queued_ms"] >= 0


def test_unknown_job_is_404_problem(client):
    r = client.get(f"/v1/jobs/{uuid.uuid4().hex}")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert client.get(f"/v1/jobs/{uuid.uuid4().hex}/result").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        (
            {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adamx"}]},
            "runs[0].optimizer",
        ),
        (
            {
                "objective": {"name": "rosenbrock"},
                "runs": [{"optimizer": "adam", "hyperparameters": {"b1": 1.5}}],
            },
            "runs[0].hyperparameters.b1",
        ),
        (
            {
                "objective": {"name": "rosenbrock"},
                "runs": [{"optimizer": "adam"}],
                "init": {"point": [0.0, 1.0, 2.0]},
            },
            "init.point",
        ),
        (
            {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}], "steps": -1},
            "steps",
        ),
    ],
)
def test_bad_specs_are_422_problems_naming_the_field_and_store_nothing(
    client, service, body, field
):
    store = store_of(service)
    before = store.job_count()
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["status"] == 422 and problem["instance"] == "/v1/jobs"
    assert field in [e["field"] for e in problem["errors"]]
    assert store.job_count() == before


def test_malformed_json_is_a_422_problem(client, service):
    before = store_of(service).job_count()
    r = client.post(
        "/v1/jobs", content=b'{"objective": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "malformed JSON" in r.json()["detail"]
    assert store_of(service).job_count() == before


def test_oversized_body_is_refused_with_413(client):
    r = client.post(
        "/v1/jobs",
        content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM


def test_idempotency_key_replays_refuses_a_new_body_and_a_request_in_flight(client, service):
    key = uuid.uuid4().hex
    first = client.post("/v1/jobs", json=small_job(), headers={"Idempotency-Key": key})
    again = client.post("/v1/jobs", json=small_job(), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/jobs", json=small_job(steps=300), headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    # a request still being processed holds its key: a concurrent retry gets 409
    store = store_of(service)
    pending = uuid.uuid4().hex
    print_ = fingerprint(JobSpec.model_validate(small_job()))
    state, _ = store.claim_idempotency("anonymous", pending, print_, "job-in-flight")
    assert state == "new"
    busy = client.post("/v1/jobs", json=small_job(), headers={"Idempotency-Key": pending})
    assert busy.status_code == 409 and busy.headers["content-type"] == PROBLEM


def test_pagination_walks_every_job_once_newest_first(client):
    ids = [client.post("/v1/jobs", json=small_job(seed=i)).json()["id"] for i in range(5)]
    seen, url = [], "/v1/jobs?limit=2"
    pages = 0
    while url:
        page = client.get(url).json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        url = page.get("next")
        pages += 1
    assert len(seen) == len(set(seen))
    positions = [seen.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True)  # newest first
    assert pages >= 3
    bad = client.get("/v1/jobs?cursor=not-a-cursor")
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    for job_id in ids:
        wait_for(client, job_id)


def test_event_stream_sends_progress_with_ids_then_one_final_event(client):
    job_id = client.post("/v1/jobs", json=small_job(steps=100_000)).json()["id"]
    events = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event: dict = {}
        for line in stream.iter_lines():
            if line == "":
                if "event" in event:
                    events.append(event)
                event = {}
                continue
            name, _, value = line.partition(": ")
            event[name] = value
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and kinds.count("end") == 1
    assert json.loads(events[-1]["data"])["status"] == "succeeded"
    progress = [json.loads(e["data"]) for e in events if e["event"] == "progress"]
    assert progress[0]["phase"] == "compiling" and progress[0]["steps_done"] == 0
    done = [p["steps_done"] for p in progress]
    assert done == sorted(done) and done[-1] == 100_000  # chunks of about 0.2 s
    ids = [tuple(map(int, e["id"].split("-"))) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # resuming after the third event sends only what came after it
    with client.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": events[2]["id"]}
    ) as stream:
        rest = [line for line in stream.iter_lines() if line.startswith("id: ")]
    assert rest == [f"id: {e['id']}" for e in events[3:]]


def test_cancel_a_queued_job_at_once_and_a_running_one_at_its_next_chunk(client):
    running = client.post("/v1/jobs", json=long_job()).json()["id"]
    queued = client.post("/v1/jobs", json=small_job()).json()["id"]
    wait_until(
        lambda: client.get(f"/v1/jobs/{running}").json()["progress"],
        60,
        "the long job to report progress",
    )
    assert client.get(f"/v1/jobs/{queued}").json()["status"] == "queued"
    r = client.delete(f"/v1/jobs/{queued}")
    assert r.status_code == 202 and r.json()["status"] == "canceled"
    r = client.delete(f"/v1/jobs/{running}")
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    done = wait_for(client, running, timeout=30)
    assert done["status"] == "canceled"
    assert done["progress"]["steps_done"] < done["progress"]["steps_total"]
    assert client.get(f"/v1/jobs/{queued}").json()["status"] == "canceled"
    gone = client.get(f"/v1/jobs/{running}/result")
    assert gone.status_code == 409 and gone.json()["job_status"] == "canceled"
    assert client.delete(f"/v1/jobs/{running}").status_code == 409
    # the worker skips the canceled message and goes on with the next job
    after = client.post("/v1/jobs", json=small_job()).json()["id"]
    assert wait_for(client, after)["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{queued}").json()["attempts"] == 0


def test_catalog_endpoints_list_optimizers_objectives_and_schedules(client):
    opts = client.get("/v1/optimizers").json()
    names = {o["name"] for o in opts["optimizers"]}
    assert {"adam", "ranger_lars", "paratrooper", "lookahead", "lion"} <= names
    assert {s["kind"] for s in opts["schedules"]} >= {"constant", "warmup_cosine"}
    objs = {o["name"]: o for o in client.get("/v1/objectives").json()["objectives"]}
    assert objs["rosenbrock"]["minima"] == [[1.0, 1.0]]


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["workers"] >= 1 and ready["redis"] is True
    text = client.get("/metrics").text
    assert "optserve_http_requests_total" in text and "optserve_queue_depth" in text


def test_openapi_has_an_example_for_every_request_body(client):
    spec = client.get("/openapi.json").json()
    bodies = [
        op["requestBody"]
        for path in spec["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "requestBody" in op
    ]
    assert bodies
    schemas = spec["components"]["schemas"]
    for body in bodies:
        ref = body["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        assert schemas[ref].get("examples"), ref


def test_api_keys_own_jobs_and_hide_them_from_other_keys(tmp_path):
    from .stack import start_stack

    stack = start_stack(tmp_path, api_keys="alpha-key,beta-key")
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as c:
            assert c.post("/v1/jobs", json=small_job()).status_code == 401
            alpha = {"X-API-Key": "alpha-key"}
            job_id = c.post("/v1/jobs", json=small_job(), headers=alpha).json()["id"]
            beta = {"Authorization": "Bearer beta-key"}
            assert c.get(f"/v1/jobs/{job_id}", headers=beta).status_code == 404
            assert c.get("/v1/jobs", headers=beta).json()["items"] == []
            assert [j["id"] for j in c.get("/v1/jobs", headers=alpha).json()["items"]] == [job_id]
            assert c.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": "wrong"}).status_code == 401
    finally:
        stack.stop_all()


def test_many_open_event_streams_do_not_block_other_requests(client, service):
    """Each stream waits on Redis without a thread: 60 open streams, the API still answers."""
    import threading
    import time

    running = client.post("/v1/jobs", json=long_job()).json()["id"]
    job_id = client.post("/v1/jobs", json=small_job()).json()["id"]  # queued: silent streams
    opened = threading.Semaphore(0)
    stop = threading.Event()

    def listen():
        with httpx.Client(base_url=service.url, timeout=60) as c:
            with c.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("retry"):
                        opened.release()
                    if stop.is_set() or line.startswith("event: end"):
                        return

    threads = [threading.Thread(target=listen, daemon=True) for _ in range(60)]
    for t in threads:
        t.start()
    for _ in threads:
        assert opened.acquire(timeout=30)
    t0 = time.perf_counter()
    assert client.get(f"/v1/jobs/{job_id}", timeout=10).status_code == 200
    assert client.get("/healthz", timeout=10).status_code == 200
    assert time.perf_counter() - t0 < 2.0
    stop.set()
    client.delete(f"/v1/jobs/{job_id}")  # ends the job: every stream gets its end event
    client.delete(f"/v1/jobs/{running}")
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


def test_per_key_concurrency_and_rate_limits_answer_429(tmp_path):
    import time

    from .stack import start_stack

    stack = start_stack(tmp_path, max_active_jobs=1, submissions_per_minute=4)
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as c:
            if time.localtime().tm_sec > 50:  # keep the four submissions in one minute
                time.sleep(61 - time.localtime().tm_sec)
            first = c.post("/v1/jobs", json=long_job()).json()["id"]
            busy = c.post("/v1/jobs", json=small_job())
            assert busy.status_code == 429 and busy.headers["content-type"] == PROBLEM
            assert "queued or running" in busy.json()["detail"] and busy.headers["retry-after"]
            assert c.delete(f"/v1/jobs/{first}").status_code == 202
            wait_for(c, first, timeout=60)
            again = c.post("/v1/jobs", json=small_job())  # the slot is free again
            assert again.status_code == 202
            wait_for(c, again.json()["id"])
            assert c.post("/v1/jobs", json=small_job()).status_code == 202  # the fourth
            limited = c.post("/v1/jobs", json=small_job())  # the fifth in this minute
            assert limited.status_code == 429 and "a minute" in limited.json()["detail"]
    finally:
        stack.stop_all()
