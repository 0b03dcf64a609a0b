"""A job compiles off its own thread: progress keeps coming while XLA works, so a cancel or a
time limit is seen within a chunk, and a job given up mid-compile leaves its programs to the
cache."""

from __future__ import annotations

from optcore.runner import COMPILING, JobRunner
from optcore.spec import parse_job


def race(b: float) -> dict:
    """Two optimizers on a Rosenbrock of its own ``b``: programs no other job compiled."""
    return {
        "objective": {"name": "rosenbrock", "params": {"a": 1.0, "b": b}},
        "runs": [{"optimizer": "adam"}, {"optimizer": "rmsprop"}],
        "steps": 50,
    }


def test_a_compile_longer_than_a_chunk_yields_progress_and_can_be_given_up():
    runner = JobRunner(parse_job(race(104.5)), chunk_seconds=0.01)
    chunks = runner.chunks()
    # the first before compiling, then one a chunk while XLA compiles (hundreds of ms)
    assert [next(chunks).phase for _ in range(3)] == [COMPILING] * 3
    chunks.close()  # given up mid-compile: returns without waiting for XLA
    again = JobRunner(parse_job(race(104.5)))
    for _ in again.chunks():
        pass
    assert again.count.programs == 0  # the given-up compilation finished into the cache
    assert [run["steps"] for run in again.result()["runs"]] == [50, 50]


def test_a_job_whose_programs_are_known_goes_straight_to_its_steps():
    first = JobRunner(parse_job(race(105.5)))
    for _ in first.chunks():
        pass
    phases = [p.phase for p in JobRunner(parse_job(race(105.5)), chunk_seconds=0.01).chunks()]
    assert phases[0] == COMPILING and COMPILING not in phases[1:]


def test_an_exact_path_compiled_mid_run_yields_progress_meanwhile():
    # a target met at once: the first call's runs stop inside it, so the exact path (new
    # here) is compiled while the job runs, off its thread, with running progress meanwhile
    doc = {**race(106.5), "stopping": {"target_loss": 1e9}}
    runner = JobRunner(parse_job(doc), chunk_seconds=0.01)
    progress = list(runner.chunks())
    assert any(p.phase == "running" and p.chunk == 0 for p in progress)  # before a call ended
    assert runner.exact_calls == 2 and runner.count.programs == 4  # a fast and an exact each
    assert [run["steps"] for run in runner.result()["runs"]] == [0, 0]  # stopped at step 0


def test_a_landscape_compiled_mid_job_yields_progress_meanwhile():
    doc = {**race(107.5), "record": {"landscape": {"resolution": 41, "bounds": [[-2, 2], [-1, 3]]}}}
    runner = JobRunner(parse_job(doc), chunk_seconds=0.01)
    progress = [p for p in runner.chunks() if p.phase == "landscape"]
    assert progress[0].chunk == 0  # yielded while the evaluation compiled
    assert progress[-1].points_done == progress[-1].points_total == 41 * 41
