"""``compiled.settle()``: the worker's collection between jobs, after a job that compiled,
so that no later job pauses for a full pass over the programs' objects."""

from __future__ import annotations

import gc
import weakref

import optcore
from optcore.compiled import settle, wait_background


def new_program_job(b: float) -> dict:
    """A Rosenbrock of its own ``b``: programs that no other job compiled."""
    return {
        "objective": {"name": "rosenbrock", "params": {"a": 1.0, "b": b}},
        "runs": [{"optimizer": "adam"}],
        "steps": 20,
    }


def loaded(result: dict) -> int:
    """Programs compiled or loaded from disk: both leave objects behind."""
    return result["timing"]["programs_compiled"] + result["timing"]["programs_from_disk"]


class Cycle:
    """An object that only the cycle collector frees."""

    def __init__(self) -> None:
        self.me = self


def test_settle_runs_only_after_a_program_was_compiled():
    wait_background()  # an earlier test's background compilation would count as new
    settle()
    assert loaded(optcore.run(new_program_job(101.125))) > 0
    assert settle() is True
    assert gc.get_freeze_count() > 0  # the survivors are out of later collections
    assert settle() is False  # nothing compiled since
    assert loaded(optcore.run(new_program_job(101.125))) == 0
    assert settle() is False


def test_settle_collects_before_it_freezes_and_frees_frozen_cycles_at_the_next():
    wait_background()
    dropped = Cycle()
    gone = weakref.ref(dropped)
    del dropped
    kept = Cycle()
    held = weakref.ref(kept)
    optcore.run(new_program_job(102.375))
    assert settle() is True
    assert gone() is None  # garbage is collected, never frozen with the survivors
    assert held() is not None
    del kept  # a frozen cycle let go of: left alone by the collector's own passes
    gc.collect()
    assert held() is not None
    optcore.run(new_program_job(103.625))
    assert settle() is True
    assert held() is None  # the next settle unfroze it and collected it: nothing leaks
