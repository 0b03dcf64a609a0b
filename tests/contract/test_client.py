"""optserve.client against the live stack: the README's example as written, the async
client, typed problems, cancel and listing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from api.models import JobState, Progress
from api.stack import Stack
from optserve.client import ApiError, AsyncClient, Client
from tests.e2e.stack import FIGURE1, long_job

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- readme-client-example")
    match = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert match is not None
    return match.group(1)


def test_readme_client_example_runs_as_written(contract_service: Stack, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "example.py").write_text(readme_example())
    env = {**os.environ, "OPTSERVE_URL": contract_service.url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "job succeeded" in proc.stdout
    assert "landscape (101, 101)" in proc.stdout
    for name in ("gd", "momentum", "nesterov", "rmsprop", "adam", "ranger_lars"):
        assert re.search(rf"^{name} +(converged|max_steps) +loss ", proc.stdout, re.M), name
    assert (tmp_path / "contour.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_arrays_hold_the_result_documents_numbers(contract_service: Stack) -> None:
    job_doc = json.loads(FIGURE1.read_text())
    job_doc["steps"] = 300
    seen: list[Progress] = []
    with Client(contract_service.url) as api:
        job = api.submit(job_doc)
        assert api.wait(job.id, on_progress=seen.append, stream=False).status == "succeeded"
        raw = api.http.get(f"/v1/jobs/{job.id}/result").json()
        arrays = api.arrays(job.id)
    for run in raw["runs"]:
        got = arrays.runs[run["label"]]
        expected = np.array([np.nan if v is None else v for v in run["loss"]], np.float64)
        np.testing.assert_array_equal(got.loss, expected)
        np.testing.assert_array_equal(got.step, np.array(run["step"]))
        assert got.trajectory is not None and got.trajectory.shape == (len(run["step"]), 2)
    z = np.array(raw["landscape"]["z"], dtype=np.float64)
    np.testing.assert_array_equal(arrays.landscape_z, z)
    assert all(0 <= p.fraction <= 1 for p in seen)


def test_problems_raise_typed_errors(contract_service: Stack) -> None:
    with Client(contract_service.url) as api:
        with pytest.raises(ApiError) as missing:
            api.get("no-such-job")
        assert missing.value.status == 404 and missing.value.problem.type == "/problems/not-found"
        bad = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}], "steps": 0}
        with pytest.raises(ApiError) as invalid:
            api.submit(bad)
        assert [e.field for e in invalid.value.problem.errors or []] == ["steps"]


def test_async_client_streams_progress_cancels_and_lists(contract_service: Stack) -> None:
    async def scenario() -> None:
        async with AsyncClient(contract_service.url) as api:
            small = json.loads(FIGURE1.read_text()) | {"steps": 200}
            done = await api.wait((await api.submit(small)).id, timeout=180)
            assert done.status == JobState.succeeded
            assert (await api.plot(done.id, kind="loss", fmt="svg")).lstrip().startswith(b"<")
            running = await api.submit(long_job(runs=4, steps=5_000))
            canceled = await api.cancel(running.id)
            assert canceled.status in (JobState.canceled, JobState.running)
            final = await api.wait(running.id, timeout=180)
            assert final.status in (JobState.canceled, JobState.succeeded)
            page = await api.list(limit=2)
            assert len(page.items) == 2 and page.next_cursor is not None
            assert page.items[0].id == running.id  # newest first
            with pytest.raises(ApiError) as gone:
                await api.result("no-such-job")
            assert gone.value.status == 404

    asyncio.run(scenario())
