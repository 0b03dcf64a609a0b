"""Placement rules: which queue a job goes to, given the live workers."""

from __future__ import annotations

import pytest

from api.placement import CPU_QUEUE, GPU_QUEUE, choose_queue
from api.problems import Problem
from worker.presence import WorkerInfo

MIN = 1_000_000


def worker(queue: str, platform: str | None) -> WorkerInfo:
    devices = [{"platform": platform, "kind": platform, "id": 0}] if platform else []
    return WorkerInfo(f"{queue}@h:1", f"{queue}@h", "h", [queue], devices, [], 0.0, 0.0)


CPU = worker("cpu", "cpu")
GPU = worker("gpu", "gpu")


@pytest.mark.parametrize(
    ("device", "run_steps", "workers", "queue"),
    [
        ("auto", MIN * 10, [CPU], CPU_QUEUE),  # no GPU worker: cpu, however big
        ("auto", MIN - 1, [CPU, GPU], CPU_QUEUE),  # too small for the GPU
        ("auto", MIN, [CPU, GPU], GPU_QUEUE),
        ("auto", 1, [GPU], GPU_QUEUE),  # nobody consumes cpu: the GPU takes it
        ("auto", MIN, [CPU, worker("gpu", None)], CPU_QUEUE),  # devices not reported yet
        ("auto", MIN, [CPU, worker("cpu", "gpu")], CPU_QUEUE),  # a GPU host on the cpu queue
        ("cpu", MIN * 10, [CPU, GPU], CPU_QUEUE),
        ("cpu", 1, [], CPU_QUEUE),
        ("gpu", 1, [CPU, GPU], GPU_QUEUE),
    ],
)
def test_jobs_go_to_the_queue_their_device_and_size_call_for(device, run_steps, workers, queue):
    assert choose_queue(device, run_steps, workers, MIN) == queue


@pytest.mark.parametrize("workers", [[], [CPU], [worker("gpu", "cpu")]])
def test_gpu_with_no_live_gpu_worker_is_a_422_naming_device(workers):
    with pytest.raises(Problem) as refused:
        choose_queue("gpu", 1, workers, MIN)
    assert refused.value.status == 422
    assert [e["field"] for e in refused.value.extra["errors"]] == ["device"]
