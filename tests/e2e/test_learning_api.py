"""Figure 2 and an expression objective, through the API and the worker."""

from __future__ import annotations

import json

from .stack import ROOT_EXAMPLES, wait_for


def test_figure2_job_runs_end_to_end(client):
    job = json.loads((ROOT_EXAMPLES / "figure2.json").read_text())
    job_id = client.post("/v1/jobs", json=job).json()["id"]
    assert wait_for(client, job_id, timeout=180)["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    land, run = result["landscape"], result["runs"][0]
    assert land["kind"] == "random" and land["log"] is True
    assert len(land["z"]) == 100 and len(land["z"][0]) == 100
    assert run["final"]["loss"] < 0.05 * run["loss"][0]
    assert len(run["trajectory"]) == len(run["step"])


def test_expression_job_runs_and_a_forbidden_construct_is_a_422(client):
    job = {
        "objective": {"expression": "(1 - x)**2 + 100*(y - x**2)**2"},
        "runs": [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
        "init": {"point": [-1.5, 2.0]},
        "steps": 3000,
        "record": {"every": 100, "landscape": {"resolution": 21}},
    }
    job_id = client.post("/v1/jobs", json=job).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["runs"][0]["final"]["loss"] < 1e-6
    bad = client.post(
        "/v1/jobs", json={**job, "objective": {"expression": "x.__class__.__bases__"}}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "field": "objective.expression",
        "message": "attribute access is not allowed",
    }


def test_objectives_endpoint_lists_learning_objectives_with_schemas(client):
    objs = {o["name"]: o for o in client.get("/v1/objectives").json()["objectives"]}
    sine = objs["sine_regression"]["parameters"]["properties"]
    assert sine["hidden"]["default"] == [32, 32] and sine["samples"]["default"] == 256
    assert "data" in objs["regression"] and "data" in objs["classification"]
