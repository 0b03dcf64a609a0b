"""GET /v1/workers: the live workers per queue, with their devices and jobs in flight."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from worker.presence import WorkerDirectory

from ..deps import OwnerDep, WorkersDep
from ..openapi import problems

router = APIRouter(prefix="/v1/workers", tags=["workers"])


def queues_doc(directory: WorkerDirectory, fresh: bool = False) -> dict[str, list[dict[str, Any]]]:
    """{queue: [worker, ...]} for every queue some live worker consumes."""
    return {
        queue: [w.doc() for w in workers]
        for queue, workers in sorted(directory.by_queue(fresh).items())
    }


@router.get(
    "",
    summary="Live workers per queue, with their devices and jobs in flight",
    responses=problems(401),
)
def list_workers(owner: OwnerDep, directory: WorkersDep) -> dict[str, Any]:
    workers = directory.live(fresh=True)
    return {"workers": len(workers), "queues": queues_doc(directory)}
