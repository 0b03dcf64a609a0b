"""Per-job placement: the queue a job is sent to, from its ``device`` and the live workers.

- ``cpu``: the ``cpu`` queue.
- ``gpu``: the ``gpu`` queue; a 422 naming ``device`` when no live worker on that queue has a
  GPU, so that such a job is never left queued with nobody to run it.
- ``auto``: the ``gpu`` queue when a GPU worker is alive there and the job is big enough
  (runs x steps >= OPTSERVE_GPU_MIN_RUN_STEPS), or when no worker consumes ``cpu`` at all;
  else the ``cpu`` queue.
"""

from __future__ import annotations

from worker.presence import WorkerInfo

from .problems import Problem

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"


def choose_queue(
    device: str, run_steps: int, workers: list[WorkerInfo], gpu_min_run_steps: int
) -> str:
    """The queue for a job asking for ``device`` with ``run_steps`` = runs x steps."""
    gpu_alive = any(w.has_gpu and GPU_QUEUE in w.queues for w in workers)
    if device == "cpu":
        return CPU_QUEUE
    if device == "gpu":
        if not gpu_alive:
            raise Problem(
                422,
                "no GPU worker is alive: submit with device 'auto' or 'cpu', or start one",
                kind="invalid-job",
                errors=[{"field": "device", "message": "no live worker has a GPU"}],
            )
        return GPU_QUEUE
    cpu_alive = any(CPU_QUEUE in w.queues for w in workers)
    if gpu_alive and (run_steps >= gpu_min_run_steps or not cpu_alive):
        return GPU_QUEUE
    return CPU_QUEUE
