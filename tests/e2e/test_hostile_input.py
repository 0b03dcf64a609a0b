"""Hostile requests against the real stack: each is a 4xx problem within a second, names what
is wrong and stores nothing; extreme but valid values are drawn, never a 500."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from .stack import store_of, wait_for

PROBLEM = "application/problem+json"
DIGITS_400 = 10**400
BIG_NET = {"name": "sine_regression", "params": {"hidden": [1024, 900]}}


def job(**changes) -> dict:
    doc = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}], "steps": 100}
    doc.update(changes)
    return doc


def adam(**run) -> list[dict]:
    return [{"optimizer": "adam", **run}]


def labelled(labels: list) -> dict:
    return {"name": "classification", "data": {"x": [[0.0], [1.0]], "y": labels}}


HOSTILE = {
    "learning rate of 10^400": (
        job(runs=adam(hyperparameters={"learning_rate": DIGITS_400})),
        "runs[0].hyperparameters.learning_rate",
    ),
    "10^400 in a sweep": (
        job(runs=adam(sweep={"learning_rate": [0.1, DIGITS_400]})),
        "runs[0].sweep.learning_rate[1]",
    ),
    "10^400 in regression data": (
        job(objective={"name": "regression", "data": {"x": [[0], [1]], "y": [0, DIGITS_400]}}),
        "objective.data.y[1]",
    ),
    "a 400-digit literal in an expression": (
        job(objective={"expression": f"x**2 + {DIGITS_400} * y**2"}),
        "objective.expression",
    ),
    "a label of 1e300": (job(objective=labelled([0, 1e300])), "objective.data.y"),
    "a fractional label": (job(objective=labelled([0, 0.5])), "objective.data.y"),
    "string labels": (job(objective=labelled(["0", "1"])), "objective.data.y"),
    "steps: true": (job(steps=True), "steps"),
    "a 300 x 300 x 300 sweep": (
        job(
            runs=adam(
                sweep={
                    "learning_rate": [0.001 * (i + 1) for i in range(300)],
                    "b1": [0.5 + 0.001 * i for i in range(300)],
                    "b2": [0.6 + 0.001 * i for i in range(300)],
                }
            )
        ),
        "runs[0].sweep",
    ),
    "a 65,536-run sweep whose last rate is negative": (
        job(runs=adam(sweep={"learning_rate": [0.001] * 65_535 + [-1.0]})),
        "runs[0].sweep.learning_rate",
    ),
    "bounds of +-1e308": (
        job(record={"landscape": {"bounds": [[-1e308, 1e308], [-1e308, 1e308]]}}),
        "record.landscape.bounds",
    ),
    "a box 1e-300 wide": (
        job(objective={"expression": "x**2 + y**2", "box": [[0, 1e-300], [0, 1]]}),
        "objective.box",
    ),
    "the 7 KB request: a 501^2 plane of a 0.93M-parameter network": (
        job(
            objective=BIG_NET,
            steps=10,
            record={"landscape": {"kind": "random", "resolution": 501}},
        ),
        "record.landscape.resolution",
    ),
    "80 runs x 100k steps, every one recorded": (
        job(runs=adam(sweep={"seed": list(range(80))}), steps=100_000),
        "record.every",
    ),
    "128 runs of a 0.93M-parameter network": (
        job(objective=BIG_NET, runs=adam(sweep={"seed": list(range(128))}), steps=10),
        "runs",
    ),
}
LIMITS = {
    "the 7 KB request: a 501^2 plane of a 0.93M-parameter network": "OPTSERVE_MAX_JOB_FLOPS",
    "80 runs x 100k steps, every one recorded": "OPTSERVE_MAX_RECORDED_VALUES",
    "128 runs of a 0.93M-parameter network": "OPTSERVE_MAX_PARAMETERS",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_job_is_a_422_naming_the_field_within_a_second(client, service, case):
    body, field = HOSTILE[case]
    store = store_of(service)
    before = store.job_count()
    started = time.perf_counter()
    r = client.post("/v1/jobs", json=body)
    elapsed = time.perf_counter() - started
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    if case in LIMITS:  # the limit and the job's figure, named
        limit = next(x for x in r.json()["limits"] if x["limit"] == LIMITS[case])
        assert limit["value"] > limit["maximum"] and LIMITS[case] in r.json()["detail"]
    assert elapsed < 1.0, f"{case}: {elapsed:.2f} s"
    assert store.job_count() == before


def test_thousands_of_bad_numbers_are_one_bounded_422(client, service):
    """6,000 integers of 310 digits (1.9 MB, under the body limit): every one is refused, the
    count is said, and the answer lists the first 100 rather than all of them."""
    before = store_of(service).job_count()
    body = job(runs=adam(sweep={"learning_rate": [10**309] * 6000}))
    started = time.perf_counter()
    r = client.post("/v1/jobs", json=body)
    elapsed = time.perf_counter() - started
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    errors = r.json()["errors"]
    assert len(errors) == 100 and errors[0]["field"] == "runs[0].sweep.learning_rate[0]"
    assert "(and 5997 more)" in r.json()["detail"] and len(r.content) < 20_000
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert store_of(service).job_count() == before


def test_json_infinity_from_an_overflowing_literal_is_a_422(client, service):
    before = store_of(service).job_count()
    body = json.dumps(job()).replace('"steps": 100', '"steps": 100, "seed": 1e400')
    r = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "seed" in [e["field"] for e in r.json()["errors"]]
    assert store_of(service).job_count() == before


def test_a_64_mb_chunked_body_is_refused_with_413_before_it_is_read(client, service):
    before = store_of(service).job_count()
    sent = 0

    def body() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        nonlocal sent
        yield b'{"objective": {"name": "rosenbrock"}, "pad": "'
        for _ in range(64):
            sent += 1
            yield b" " * (1024 * 1024)
        yield b'"}'

    started = time.perf_counter()
    r = client.post("/v1/jobs", content=body(), headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - started
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert r.json()["status"] == 413
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert sent < 32, f"the client could send {sent} MB of 64: the body was read"
    assert store_of(service).job_count() == before


def test_a_small_chunked_body_is_read_whole_and_accepted(client):
    raw = json.dumps(job(steps=10)).encode()

    def body() -> Iterator[bytes]:
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    r = client.post("/v1/jobs", content=body(), headers={"content-type": "application/json"})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json()["id"])["status"] == "succeeded"


def test_math_text_labels_and_diverged_runs_are_drawn(client):
    """A label matplotlib's math text cannot parse is drawn as text; a run whose loss went
    to infinity (null in the result) is drawn without it."""
    label = r"$\frac{"
    doc = job(
        runs=[
            {"optimizer": "adam", "label": label},
            {"optimizer": "sgd", "label": "diverges", "hyperparameters": {"learning_rate": 10.0}},
        ],
        steps=200,
        record={"every": 1, "landscape": {"resolution": 21}},
    )
    job_id = client.post("/v1/jobs", json=doc).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["runs"][1]["status"] == "diverged"
    for kind in ("loss", "contour"):
        png = client.get(f"/v1/jobs/{job_id}/plot.png", params={"kind": kind})
        assert png.status_code == 200, png.text
        assert Image.open(io.BytesIO(png.content)).size == (900, 650)
    svg = client.get(f"/v1/jobs/{job_id}/plot.svg", params={"kind": "loss"})
    assert svg.status_code == 200 and label in svg.text
