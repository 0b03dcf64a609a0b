"""optcore: every optimizer of the seed, the test objectives and a fused JAX runner.

Pure computation: nothing here knows of Redis, Celery or HTTP.
"""

from __future__ import annotations

from typing import Any

from .dumps import dumps
from .errors import SpecError

__all__ = ["run", "dumps", "SpecError"]


def run(
    job: Any, *, job_id: str | None = None, chunk_seconds: float | None = None
) -> dict[str, Any]:
    """Run a job document (a dict or a ``JobSpec``) in-process; return the result document,
    with numpy arrays for the per-step series and the landscape grid (``dumps`` writes it)."""
    from .runner import DEFAULT_CHUNK_SECONDS
    from .spec import parse_job
    from .tune import runner_for

    runner = runner_for(parse_job(job), chunk_seconds or DEFAULT_CHUNK_SECONDS)
    result = runner.run()
    result["id"] = job_id
    return result
