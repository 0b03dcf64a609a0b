"""Tuning by successive refinement: the budget spent exactly, rounds sharing one program,
and a better optimum than one grid of the same budget when it falls between grid points."""

from __future__ import annotations

import numpy as np
import pytest

import optcore
from optcore.refine import round_sizes, search
from optcore.spec import TuneSpec, parse_job
from optcore.tune import runner_for, searcher

START = np.array([1.0, -2.0])


def _spec(**tune):
    return TuneSpec.model_validate({"method": "refine", **tune})


def _gd_job(tune, steps):
    return {
        "objective": {"expression": "x**2 + y**2"},
        "runs": [{"optimizer": "gd", "tune": tune}],
        "init": {"point": START.tolist()},
        "steps": steps,
        "dtype": "float64",
    }


def _gd_loss(lr, steps):
    """Independent float64 transcription: gd on x^2 + y^2 scales the point by 1 - 2 lr."""
    x = START.copy()
    for _ in range(steps):
        x = x - lr * 2 * x
    return float(np.sum(x**2))


@pytest.mark.parametrize(
    "tune,integers",
    [
        ({"learning_rate": {"log_uniform": [1e-5, 10]}, "candidates": 200}, ()),
        ({"learning_rate": {"log_uniform": [1e-5, 10]}, "candidates": 37, "rounds": 5}, ()),
        (
            {
                "learning_rate": {"log_uniform": [1e-4, 1]},
                "b1": {"uniform": [0.5, 0.99]},
                "k": {"values": [1, 2, 3]},
                "candidates": 100,
            },
            ("k",),
        ),
    ],
)
def test_every_round_together_spends_the_budget_exactly(tune, integers):
    def scores(found):  # a bowl in log lr, the listed values kept apart
        return [abs(np.log(c["learning_rate"] / 3e-3)) + c.get("k", 1) - 1 for c in found]

    done = search(searcher(_spec(**tune), integers), scores)
    found = done.candidates
    assert len(found) == tune["candidates"] == sum(done.sizes)
    assert [len(r) for r in done.rounds] == done.sizes and len(done.sizes) > 1
    assert len({tuple(c.values()) for c in found}) == len(found)  # never evaluated twice
    lr = np.array([c["learning_rate"] for c in found])
    low, high = tune["learning_rate"]["log_uniform"]
    assert lr.min() >= low and lr.max() <= high
    assert {c["k"] for c in found} <= {1.0, 2.0, 3.0} if "k" in tune else True
    assert min(done.all_scores) < min(done.scores[0]) / 5  # zoomed in on 3e-3


def test_integers_are_rounded_and_a_small_space_ends_the_search_early():
    done = search(
        searcher(_spec(k={"uniform": [1, 10]}, candidates=30), {"k"}),
        lambda found: [abs(c["k"] - 4) for c in found],
    )
    assert sorted(c["k"] for c in done.candidates) == [float(k) for k in range(1, 11)]
    assert done.exhausted and done.done


def test_round_sizes_differ_by_at_most_one():
    assert round_sizes(200, 10) == [20] * 10
    assert round_sizes(37, 5) == [8, 8, 7, 7, 7]
    assert round_sizes(3, 5) == [1, 1, 1]


def test_refine_beats_the_grid_between_its_points_and_reuses_the_first_round_program():
    # lr = 0.5 lands on the minimum; the grid's log-spaced points skip it (0.398, 0.631)
    steps, budget = 3, 32
    tune = {"learning_rate": {"log_uniform": [1e-3, 1.0]}, "candidates": budget, "rounds": 4}
    runner = runner_for(parse_job(_gd_job({**tune, "method": "refine"}, steps)))
    progress = [(p.steps_done, p.steps_total) for p in runner.chunks()]
    assert progress[-1] == (5 * steps, 5 * steps)  # four rounds of search, then the race
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    refined = runner.result()["runs"][0]
    grid = optcore.run(_gd_job({**tune, "method": "grid", "rounds": None}, steps))["runs"][0]
    section = refined["tuning"]
    assert section["evaluated"] == len(section["candidates"]) == budget
    assert [r["candidates"] for r in section["rounds"]] == [8, 8, 8, 8]
    assert [r["programs_compiled"] for r in section["rounds"][1:]] == [0, 0, 0]
    assert {c["round"] for c in section["candidates"]} == {0, 1, 2, 3}
    lr = section["chosen"]["learning_rate"]
    best = min(c["score"] for c in section["candidates"])
    np.testing.assert_allclose(best, _gd_loss(lr, steps), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(refined["final"]["loss"], _gd_loss(lr, steps), rtol=1e-9)
    grid_best = min(c["score"] for c in grid["tuning"]["candidates"])
    grid_lr = grid["tuning"]["chosen"]["learning_rate"]
    np.testing.assert_allclose(grid_best, _gd_loss(grid_lr, steps), rtol=1e-9)
    assert best < grid_best / 100 and abs(lr - 0.5) < abs(grid_lr - 0.5) / 10


@pytest.mark.parametrize(
    "tune,field",
    [
        ({"method": "zoom"}, "runs[0].tune.method"),
        ({"method": "grid", "rounds": 3}, "runs[0].tune.rounds"),
        ({"method": "refine", "rounds": 0}, "runs[0].tune.rounds"),
    ],
)
def test_bad_method_or_rounds_name_the_field(tune, field):
    doc = _gd_job({"learning_rate": {"log_uniform": [1e-3, 1.0]}, **tune}, 3)
    with pytest.raises(optcore.SpecError) as err:
        parse_job(doc)
    assert field in [f for f, _ in err.value.errors], err.value.errors
