"""Which jobs the API splits into shards (worker.shards), and how many runs a job may have."""

from __future__ import annotations

from optcore.spec import MAX_RUNS, Job
from worker import shards
from worker.settings import Settings

from .problems import Problem


def max_runs(settings: Settings) -> int:
    """Runs a job may have after sweeps (counted before they are expanded): a job of more
    than one program takes (MAX_RUNS) is sharded, or refused by ``shard_ranges``."""
    return max(MAX_RUNS, settings.max_sharded_runs)


def shard_ranges(parsed: Job, settings: Settings) -> list[tuple[int, int]] | None:
    """The job's shards (worker.shards.plan), or None; a 422 for too many runs in a job
    that cannot be sharded: a tuning search, or a plane landscape (it needs every run's
    path)."""
    landscape = parsed.spec.record.landscape
    kind = landscape.kind if landscape is not None else None
    tuned = any(run.tune is not None for run in parsed.spec.runs)
    runs, steps = len(parsed.runs), parsed.spec.steps
    ranges = None if tuned else shards.plan(runs, steps, kind, settings, MAX_RUNS)
    if ranges is None and runs > MAX_RUNS:
        why = "a tuning search" if tuned else f"a {kind} landscape"
        raise Problem(
            422,
            f"{runs:,} runs after sweeps; at most {MAX_RUNS:,} with {why} "
            "(such jobs are not sharded)",
            kind="invalid-job",
            errors=[{"field": "runs", "message": f"at most {MAX_RUNS:,} runs"}],
        )
    return ranges
