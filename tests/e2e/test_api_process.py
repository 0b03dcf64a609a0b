"""The API validates and enqueues jobs without ever starting an XLA backend."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from .stack import FIGURE1, wait_for

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    from fastapi.testclient import TestClient
    from api.main import create_app
    from worker.settings import Settings

    app = create_app(Settings(redis_url=sys.argv[1]))
    with TestClient(app) as client:
        bad = client.post("/v1/jobs", json={"objective": {"name": "rosenbrock"},
                                            "runs": [{"optimizer": "adam",
                                                      "hyperparameters": {"b1": 7}}]})
        good = client.post("/v1/jobs", json=json.load(open(sys.argv[2])))
        client.get("/v1/optimizers"), client.get("/v1/objectives")
    from jax._src import xla_bridge
    print(json.dumps({"bad": bad.status_code, "good": good.status_code,
                      "id": good.json()["id"], "backends": list(xla_bridge._backends)}))
""")


def test_api_never_starts_an_xla_backend(service, client):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, service.settings.broker_url, str(FIGURE1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert (report["bad"], report["good"]) == (422, 202)
    assert report["backends"] == []  # validated, stored and queued: no JAX backend started
    assert wait_for(client, report["id"])["status"] == "succeeded"  # the worker ran it


def test_worker_runs_jobs_in_spawned_pool_children(service, client):
    job_id = client.post("/v1/jobs", json=json.loads(FIGURE1.read_text())).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    log = (service.logs / "worker.log").read_text()
    assert "SpawnPoolWorker" in log  # worker_pool_start_method="spawn" is in force
    assert "ForkPoolWorker" not in log
