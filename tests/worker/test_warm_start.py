"""A warm worker: programs compiled before the first job, and kept on disk across restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import optcore
from optcore.compiled import CACHE, PRIORITY
from optcore.runner import JobRunner
from optcore.spec import parse_job
from worker.warmup import warm

ROOT = Path(__file__).parents[2]

FIRST_JOB = """
import json, optcore
from worker.settings import get_settings
from worker.warmup import configure_jax
configure_jax(get_settings())
job = {"objective": {"name": "beale"}, "runs": [{"optimizer": "nadam"}], "steps": 300}
print(json.dumps(optcore.run(job)["timing"]))
"""


def first_job_in_a_new_process(data: Path) -> dict:
    env = {**os.environ, "OPTSERVE_DATA": str(data), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", FIRST_JOB], env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_restarted_worker_loads_its_programs_from_the_persistent_cache(tmp_path):
    first = first_job_in_a_new_process(tmp_path)
    assert first["programs_compiled"] > 0 and first["programs_from_disk"] == 0
    assert any((tmp_path / "jax-cache").iterdir())
    second = first_job_in_a_new_process(tmp_path)
    assert second["programs_compiled"] == 0
    assert second["programs_from_disk"] >= first["programs_compiled"]


def test_warm_up_waits_for_real_jobs_then_leaves_nothing_to_compile():
    doc = {"objective": {"name": "booth"}, "runs": [{"optimizer": "adagrad"}], "steps": 100}
    key = JobRunner(parse_job(doc)).groups[0].key
    done = threading.Event()
    compiled: list[int] = []
    with PRIORITY.job():  # a real job is running
        thread = threading.Thread(target=lambda: (compiled.append(warm([doc])), done.set()))
        thread.start()
        assert not done.wait(1.0)
        assert key not in CACHE
    assert done.wait(120)
    assert compiled[0] > 0
    assert optcore.run(doc)["timing"]["programs_compiled"] == 0
