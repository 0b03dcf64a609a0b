"""A tuned race through the API and through the CLI: the search picks the candidate with the
lowest finite score, the race runs with it, and the result says what was tried."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import httpx

from .stack import wait_for

TUNED = {
    "objective": {"name": "rosenbrock"},
    "init": {"point": [-1.5, 2.0]},
    "steps": 300,
    "record": {"every": 10},
    "dtype": "float64",
    "runs": [
        {
            "optimizer": "adam",
            # 10.0 diverges or wanders far: a candidate that never may win
            "tune": {"learning_rate": {"values": [1e-4, 1e-2, 10.0]}, "score": "final_loss"},
        },
        {"optimizer": "gd", "hyperparameters": {"learning_rate": 1e-4}},
    ],
}


def _check_tuning(result: dict) -> None:
    tuned, plain = result["runs"]
    assert "tuning" not in plain
    tuning = tuned["tuning"]
    tried = {c["values"]["learning_rate"]: c["score"] for c in tuning["candidates"]}
    assert set(tried) == {1e-4, 1e-2, 10.0}
    finite = {lr: s for lr, s in tried.items() if s is not None and math.isfinite(s)}
    best = min(finite, key=finite.get)
    assert tuning["chosen"] == {"learning_rate": best}
    assert tuned["hyperparameters"]["learning_rate"] == best  # the race ran with the winner
    assert result["timing"]["search_ms"] > 0


def test_a_tuned_race_runs_through_the_api(client: httpx.Client) -> None:
    response = client.post("/v1/jobs", json=TUNED)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert wait_for(client, job_id, timeout=120)["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    _check_tuning(result)


def test_a_tuned_race_runs_through_the_cli(tmp_path) -> None:
    job, out = tmp_path / "tuned.json", tmp_path / "result.json"
    job.write_text(json.dumps(TUNED))
    subprocess.run(
        [sys.executable, "-m", "api.cli", "run", str(job), "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    _check_tuning(json.loads(out.read_text()))
