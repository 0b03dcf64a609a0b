"""The first Figure-1 job over HTTP on a fresh stack that has been ready for 60 s (the worker
warms up its common programs meanwhile), then follow-ups with new learning rates.

Prints POST -> result for the first job, the p50 of five first-time-style jobs (each with
its own learning rates, so no result is reused), and how many programs each compiled.
Target (issue 10): p50 <= 150 ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from api.stack import Stack, free_port  # noqa: E402
from worker.settings import Settings  # noqa: E402

FIGURE1 = json.loads((HERE.parent / "examples" / "figure1.json").read_text())
READY_FOR_S = 60
N = 5


def with_rates(scale: float) -> dict:
    runs = [
        {**run, "hyperparameters": {**run["hyperparameters"], "learning_rate": lr * scale}}
        for run in FIGURE1["runs"]
        for lr in [run["hyperparameters"]["learning_rate"]]
    ]
    return {**FIGURE1, "runs": runs}


def post_to_result(client: httpx.Client, job: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    job_id = client.post("/v1/jobs", json=job).json()["id"]
    while (response := client.get(f"/v1/jobs/{job_id}/result")).status_code != 200:
        time.sleep(0.002)
    return time.perf_counter() - t0, response.json()["timing"]


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="optserve-first-"))
    settings = Settings(data=data, port=free_port(), redis_port=free_port())
    stack = Stack(settings, logs=data / "logs")
    stack.start()
    stack.wait_worker_ready()
    time.sleep(READY_FOR_S)
    try:
        with httpx.Client(base_url=stack.url, timeout=120) as client:
            samples = [post_to_result(client, with_rates(1.0 + i / 10)) for i in range(N)]
    finally:
        stack.stop_all()
    times = [t for t, _ in samples]
    print(f"first Figure-1 job over HTTP, stack ready for {READY_FOR_S} s (warm-up meanwhile)")
    for i, (t, timing) in enumerate(samples):
        print(
            f"  job {i + 1}: POST -> result {t * 1e3:8.1f} ms, "
            f"programs compiled {timing.get('programs_compiled')}, "
            f"compile {timing.get('compile_ms', 0):.0f} ms, run {timing.get('run_ms', 0):.1f} ms"
        )
    p50 = statistics.median(times)
    print(f"  p50 over {N} jobs: {p50 * 1e3:.1f} ms (target <= 150 ms); first {times[0] * 1e3:.1f}")


if __name__ == "__main__":
    main()
