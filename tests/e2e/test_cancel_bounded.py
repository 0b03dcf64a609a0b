"""Longer than every timeout on the path, with the default 1 s chunks: a progress stream of a
job queued 30 s behind another ends with `end`, and cancel lands within 2 s whatever the job
is doing (a network's steps, where the old 10,000-step chunk took minutes; the landscape;
seconds of compiling)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from .reliability import end_events, is_idle, next_job_succeeds, small_job, started
from .stack import start_stack, store_of, wait_for, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("cancel"), chunk_seconds=1.0)
    yield stack
    stack.stop_all()


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        yield c


def _network_job(hidden: list[int], steps: int, landscape: dict | None = None) -> dict:
    record: dict = {"every": 100}
    if landscape is not None:
        record["landscape"] = landscape
    return {
        "objective": {"name": "sine_regression", "params": {"hidden": hidden}},
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": 1e-3}}],
        "steps": steps,
        "record": record,
    }


def _cancel_in_phase(stack, client: httpx.Client, job: dict, phase: str, idle: bool = True) -> dict:
    response = client.post("/v1/jobs", json=job)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    pid, _ = started(stack, job_id)

    def in_phase() -> bool:
        progress = client.get(f"/v1/jobs/{job_id}").json()["progress"] or {}
        return progress.get("phase") == phase

    wait_until(in_phase, 120, f"the {phase} phase")
    asked = time.monotonic()
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 202
    done = wait_for(client, job_id, timeout=30)
    took = time.monotonic() - asked
    assert done["status"] == "canceled" and took < 2.0, (done["status"], took)
    if idle:
        wait_until(lambda: is_idle(pid), 2, "the pool process to go idle")
    assert end_events(store_of(stack), job_id) == [{"status": "canceled"}]
    return done


def test_cancel_lands_within_two_seconds_where_a_step_chunk_would_take_minutes(stack, client):
    # a 512x512 network: 10,000 steps at a time (the old chunk) take minutes here
    _cancel_in_phase(stack, client, _network_job([512, 512], 20_000), "running")
    next_job_succeeds(client)


def test_cancel_lands_within_two_seconds_during_the_landscape(stack, client):
    plane = {"kind": "random", "resolution": 301}  # tens of seconds of forward passes
    _cancel_in_phase(stack, client, _network_job([256, 256], 10, plane), "landscape")
    next_job_succeeds(client)


def test_cancel_lands_within_two_seconds_while_the_job_compiles(stack, client):
    # six optimizers on a 64x64 network: seconds of XLA compilation (18 s on this VM under
    # load), which nothing interrupts; the job ends at once and the compilation goes on
    names = ["adam", "rmsprop", "nesterov", "radam", "lamb", "ranger_lars"]
    job = {
        "objective": {"name": "sine_regression", "params": {"hidden": [64, 64]}},
        "runs": [{"optimizer": name} for name in names],
        "steps": 100,
        "record": {"every": 10},
    }
    done = _cancel_in_phase(stack, client, job, "compiling", idle=False)
    assert done["progress"]["phase"] == "compiling"  # it ended while compiling
    again = client.post("/v1/jobs", json=job).json()["id"]
    assert wait_for(client, again, timeout=120)["status"] == "succeeded"
    timing = client.get(f"/v1/jobs/{again}/result").json()["timing"]
    assert timing["programs_compiled"] == 0  # the compilation went on, into the cache


def test_a_progress_stream_outlives_a_long_wait_in_the_queue(stack, client):
    blocker = client.post("/v1/jobs", json=_network_job([512, 512], 20_000)).json()["id"]
    started(stack, blocker)
    waiting = client.post("/v1/jobs", json=small_job()).json()["id"]
    events: list[tuple[float, str, dict]] = []
    opened = time.monotonic()

    def listen() -> None:
        timeout = httpx.Timeout(30, read=60)  # keep-alives every 10 s
        with httpx.stream("GET", f"{stack.url}/v1/jobs/{waiting}/events", timeout=timeout) as r:
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    events.append((time.monotonic() - opened, kind, json.loads(line[6:])))
                    if kind == "end":
                        return

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(30)  # past every timeout on the stream's path (socket: block + 10 s)
    client.delete(f"/v1/jobs/{blocker}")
    listener.join(90)
    assert not listener.is_alive()
    assert events and events[0][0] > 25.0  # queued past the stream's 20 s socket timeout
    assert events[-1][1:] == ("end", {"status": "succeeded"})
