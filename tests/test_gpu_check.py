"""bench/gpu_check.py --small: the GPU check's code runs here, on the CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_ONLY = {**os.environ, "JAX_PLATFORMS": "cpu"}  # the same on a machine with a GPU


def test_gpu_check_small_runs_on_the_cpu_and_prints_rates_against_the_bare_baselines():
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--small", "--runs", "4608", "--steps", "50"],
        cwd=ROOT,
        env=CPU_ONLY,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "4,608 Adam runs x 50 Rosenbrock steps, 2 shards" in out  # 4,096 + 512
    assert "201 x 201 = 40,401 points" in out
    assert len(re.findall(r"[\d,]+ steps/s", out)) == 3
    assert len(re.findall(r"[\d,]+ points/s", out)) == 2
    assert len(re.findall(r"optcore / bare throughput: [\d.]+x", out)) == 2


def test_gpu_check_refuses_to_pass_for_a_gpu_check_without_a_gpu():
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--require-gpu", "--runs", "8"],
        cwd=ROOT,
        env=CPU_ONLY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no GPU" in done.stderr
