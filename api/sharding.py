"""Which jobs the API splits into shards (worker.shards) or records for batching
(worker.batching), and how many runs a job may have."""

from __future__ import annotations

from optcore.spec import MAX_RUNS, Job
from worker import batching, shards
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
    runs, steps = parsed.total_runs, parsed.spec.steps
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


def batch_entry(
    parsed: Job, queue: str, sharded: bool, settings: Settings
) -> tuple[str, str, int] | None:
    """(list key, structure key, runs) for a job that can run in one program with others of
    its structure, else None (too big for a batch, sharded, a landscape or a tuning search)."""
    runs = parsed.total_runs
    if sharded or settings.batch_max_runs < 2 or runs >= settings.batch_max_runs:
        return None
    from optcore.groups import structure_key

    key = structure_key(parsed)
    return None if key is None else (batching.list_key(queue, key), key, runs)
