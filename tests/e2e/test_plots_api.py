"""Plots over HTTP, the CLI client against the running stack."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .stack import FIGURE1, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_plot_endpoints_render_once_and_explain_missing_data(client, service):
    job_id = client.post("/v1/jobs", json=json.loads(FIGURE1.read_text())).json()["id"]
    running = client.get(f"/v1/jobs/{job_id}/plot.png")
    assert running.status_code in (200, 409)
    wait_for(client, job_id)
    png = client.get(f"/v1/jobs/{job_id}/plot.png", params={"kind": "contour"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (900, 650)
    from .stack import store_of

    assert store_of(service).plot(job_id, "contour.png") == png.content  # cached
    svg = client.get(f"/v1/jobs/{job_id}/plot.svg", params={"kind": "loss"})
    assert svg.status_code == 200 and svg.text.lstrip().startswith("<?xml")
    bad = client.get(f"/v1/jobs/{job_id}/plot.png", params={"kind": "pie"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"
    plain = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}], "steps": 100}
    other = client.post("/v1/jobs", json=plain).json()["id"]
    wait_for(client, other)
    missing = client.get(f"/v1/jobs/{other}/plot.png", params={"kind": "surface"})
    assert missing.status_code == 409
    assert "record.landscape" in missing.json()["detail"]
    assert client.get(f"/v1/jobs/{other}/plot.png", params={"kind": "loss"}).status_code == 200


def test_cli_submit_wait_prints_the_table(service, tmp_path):
    env = {**os.environ, "OPTSERVE_URL": service.url}
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "submit", str(FIGURE1), "--wait", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "100.0%" in proc.stderr  # the progress bar reached the end
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("label"))
    rows = lines[header + 2 : header + 8]
    job = json.loads(FIGURE1.read_text())
    assert [r.split()[1] for r in rows] == [r["optimizer"] for r in job["runs"]]
    assert len(json.loads(out.read_text())["runs"]) == 6
    bad = subprocess.run(
        [sys.executable, "-m", "api.cli", "submit", "-", "--url", service.url],
        input='{"objective": {"name": "nope"}, "runs": [{"optimizer": "adam"}]}',
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "objective" in bad.stderr
