"""`make bench`: every benchmark, each printing its ratio against a baseline in this process."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    "bench_speed.py",
    "bench_first_job.py",
    "bench_runner.py",
    "bench_landscape.py",
    "bench_figure2.py",
    "bench_service.py",
    "bench_load.py",
    "bench_scale.py",
]

if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    for name in BENCHES:
        runpy.run_path(str(HERE / name), run_name="__main__")
        print()
