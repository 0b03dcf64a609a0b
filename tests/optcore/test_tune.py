"""Tuned races: candidates, scoring, the choice (ties, divergence), errors, progress."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import optcore
from optcore.spec import TuneSpec, parse_job
from optcore.tune import TunedRunner, candidates, choose, runner_for, score

START = [1.0, -2.0]


def _job(tune, steps=30, optimizer="gd", objective=None):
    return {
        "objective": objective or {"expression": "x**2 + y**2"},
        "runs": [{"optimizer": optimizer, "tune": tune}, {"optimizer": "gd"}],
        "init": {"point": START},
        "steps": steps,
        "dtype": "float64",
    }


def test_grid_and_random_candidates():
    grid = candidates(
        TuneSpec.model_validate({"learning_rate": {"log_uniform": [1e-4, 1]}, "candidates": 5})
    )
    np.testing.assert_allclose([c["learning_rate"] for c in grid], [1e-4, 1e-3, 1e-2, 1e-1, 1])
    two = candidates(
        TuneSpec.model_validate(
            {
                "learning_rate": {"uniform": [0.1, 0.4]},
                "b1": {"values": [0.8, 0.9]},
                "candidates": 16,
            }
        )
    )
    assert len(two) == 16 * 2  # 16 learning rates (the one ranged axis) x 2 listed values
    spec = {"learning_rate": {"log_uniform": [1e-5, 1]}, "candidates": 300, "method": "random"}
    drawn = candidates(TuneSpec.model_validate({**spec, "seed": 3}))
    again = candidates(TuneSpec.model_validate({**spec, "seed": 3}))
    other = candidates(TuneSpec.model_validate({**spec, "seed": 4}))
    lr = np.array([c["learning_rate"] for c in drawn])
    assert drawn == again and drawn != other
    assert lr.min() >= 1e-5 and lr.max() <= 1 and len(set(lr)) == 300
    assert 0.3 < np.mean(np.log10(lr) < -2.5) < 0.7  # log-uniform: half below the middle


def test_choice_skips_non_finite_and_breaks_ties_by_smallest_values():
    cands = [{"learning_rate": v} for v in (0.3, 0.1, 0.2, 0.05)]
    assert choose(cands, [1.0, 0.5, 0.5, None]) == 1  # 0.1 and 0.2 tie: the smaller wins
    assert choose(cands, [None, None, 2.0, None]) == 2
    assert choose(cands, [None] * 4) is None


def test_tuned_race_picks_the_exact_step_and_never_a_diverged_candidate():
    # gd on x^2 + y^2 multiplies x by (1 - 2 lr): lr = 0.5 lands on the minimum in one step,
    # 1.5 oscillates with factor -2, 1e20 overflows (diverges) and must not win.
    tune = {"learning_rate": {"values": [0.1, 0.5, 1.5, 1e20]}, "steps": 20}
    result = optcore.run(_job(tune))
    tuned, plain = result["runs"]
    scores = [c["score"] for c in tuned["tuning"]["candidates"]]
    r2 = START[0] ** 2 + START[1] ** 2
    np.testing.assert_allclose(scores[0], 0.8**40 * r2, rtol=1e-10)
    np.testing.assert_allclose(scores[2], 2.0**40 * r2, rtol=1e-10)
    assert scores[1] == 0.0 and scores[3] is None
    assert tuned["tuning"]["chosen"] == {"learning_rate": 0.5}
    assert tuned["hyperparameters"]["learning_rate"] == 0.5
    assert tuned["steps"] == 30 and tuned["final"]["loss"] == 0.0  # raced with the job's steps
    assert plain["hyperparameters"]["learning_rate"] == 1e-3 and "tuning" not in plain
    assert result["timing"]["search_ms"] > 0


def test_a_search_never_compiles_the_exact_path_for_a_diverging_candidate():
    # gd on x^2 + 3 y^2 (a structure no other test compiles) multiplies y by (1 - 6 lr):
    # lr = 10 overflows within 200 steps. The search has no stopping rules, so the exact
    # path, which would only place the divergence, is neither compiled nor run.
    objective = {"expression": "x**2 + 3*y**2 + 0.25*x*y"}
    tune = {"learning_rate": {"values": [0.01, 0.05, 10.0]}, "steps": 300}
    result = optcore.run(_job(tune, steps=5, objective=objective))
    section = result["runs"][0]["tuning"]
    assert [c["score"] is None for c in section["candidates"]] == [False, False, True]
    assert section["chosen"] == {"learning_rate": 0.05}
    assert section["rounds"][0]["programs_compiled"] == 1  # the fast path alone


def test_best_loss_and_distance_scores_and_all_diverged():
    tune = {"learning_rate": {"values": [1e-5, 1e-4]}, "score": "distance_to_minimum"}
    result = optcore.run(_job(tune, steps=50, objective={"name": "rosenbrock"}))
    cands = result["runs"][0]["tuning"]["candidates"]
    for cand in cands:  # checked against the race of the same value below
        lr = cand["values"]["learning_rate"]
        raced = optcore.run(
            {
                "objective": {"name": "rosenbrock"},
                "runs": [{"optimizer": "gd", "hyperparameters": {"learning_rate": lr}}],
                "init": {"point": START},
                "steps": 50,
                "dtype": "float64",
            }
        )["runs"][0]
        distance = np.linalg.norm(np.array(raced["final"]["params"]) - [1.0, 1.0])
        np.testing.assert_allclose(cand["score"], distance, rtol=1e-12)
    doomed = optcore.run(_job({"learning_rate": {"values": [1e20, 1e30]}, "steps": 20}))
    tuning = doomed["runs"][0]["tuning"]
    assert tuning["chosen"] is None and "kept its own values" in tuning["note"]
    assert doomed["runs"][0]["hyperparameters"]["learning_rate"] == 1e-3


@pytest.mark.parametrize(
    "tune,field",
    [
        ({"bogus": {"values": [1.0]}}, "runs[0].tune.bogus"),
        ({"b1": {"uniform": [0.5, 1.0]}}, "runs[0].tune.b1"),
        ({"learning_rate": {"log_uniform": [0.0, 1.0]}}, "runs[0].tune.learning_rate"),
        (
            {"learning_rate": {"values": [0.1]}, "score": "distance_to_minimum"},
            "runs[0].tune.score",
        ),
        ({"candidates": 4}, "runs[0].tune"),
    ],
)
def test_bad_tuning_is_a_spec_error_naming_the_field(tune, field):
    with pytest.raises(optcore.SpecError) as err:
        parse_job(_job(tune, optimizer="adam"))
    assert field in [f for f, _ in err.value.errors], err.value.errors


def test_progress_covers_the_search_then_the_race():
    job = parse_job(_job({"learning_rate": {"values": [0.1, 0.2]}, "steps": 40}, steps=60))
    runner = runner_for(job, chunk_seconds=0.05)
    assert isinstance(runner, TunedRunner)
    seen = []  # (the runner's phase, the progress's phase, steps done)
    for p in runner.chunks():
        assert p.steps_total == 100
        seen.append((runner.phase, p.phase, p.steps_done))
    search = [s for s in seen if s[0] == "search"]
    race = [s for s in seen if s[0] == "race"]
    assert seen == search + race and search and race  # the search, then the race
    assert {s[1] for s in search} <= {"compiling", "tuning"} and search[-1][1] == "tuning"
    assert {s[1] for s in race} <= {"compiling", "running"} and race[-1][1] == "running"
    done = [s[2] for s in seen]
    assert done == sorted(done) and search[-1][2] == 40 and done[-1] == 100
    assert runner.result()["runs"][0]["tuning"]["chosen"] == {"learning_rate": 0.2}


def test_a_far_but_finite_final_point_has_a_finite_distance():
    # a plain norm squares 1e200 to inf (an overflow warning, and a score that cannot win)
    job = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "gd"}], "steps": 1}
    objective = parse_job(job).objective  # its minimum: (1, 1)
    far = {"status": "max_steps", "final": {"loss": 1.0, "params": [1e200, -3e200]}}
    at_minimum = {"status": "max_steps", "final": {"loss": 0.0, "params": [1.0, 1.0]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = score(far, "distance_to_minimum", objective)
    assert got == pytest.approx(math.hypot(1e200 - 1.0, -3e200 - 1.0), rel=1e-12)
    assert score(at_minimum, "distance_to_minimum", objective) == 0.0


def test_a_race_runs_in_its_search_program_and_repeats_its_winner_exactly():
    # A Rastrigin-like surface, whose end point is chaotic in the learning rate (an ulp of
    # difference can end a run in another basin), and a structure no other test compiles. The
    # job records and runs as its search does, so the race runs in the search's program: it
    # compiles nothing, and the tuned run ends exactly where its candidate ended in the search.
    objective = {"expression": "20 + x**2 - 10*cos(2*pi*x) + y**2 - 10*cos(2*pi*y) + 0.01*y"}
    tune = {"learning_rate": {"log_uniform": [1e-4, 1.0]}, "candidates": 40, "score": "final_loss"}
    job = {
        "objective": objective,
        "runs": [{"optimizer": "adam", "tune": tune}],
        "init": {"point": [-2.0, 3.5]},
        "steps": 200,
        "dtype": "float64",
    }
    result = optcore.run(job)
    tuned = result["runs"][0]
    section = tuned["tuning"]
    assert result["timing"]["search_programs_compiled"] >= 1
    assert result["timing"]["programs_compiled"] == 0  # the race: 1 on a one-lane program
    won = [c for c in section["candidates"] if c["values"] == section["chosen"]]
    assert tuned["final"]["loss"] == won[0]["score"]  # bit for bit
    assert len(tuned["loss"]) == 201 and tuned["steps"] == 200


def test_a_race_unlike_its_search_compiles_its_own_narrow_program():
    # The race runs 400 steps, the search 50: the race is not padded to the search's width,
    # nor compiled as a latency program (which would run a long race several times slower).
    objective = {"expression": "x**2 + 2*y**2 + 0.3*x*y + 0.02*x"}
    tune = {"learning_rate": {"log_uniform": [1e-3, 0.3]}, "candidates": 20, "steps": 50}
    job = parse_job(
        {
            "objective": objective,
            "runs": [{"optimizer": "adam", "tune": tune}],
            "init": {"point": [1.0, -1.0]},
            "steps": 400,
        }
    )
    runner = TunedRunner(job)
    result = runner.run()
    assert result["timing"]["programs_compiled"] == 1
    assert runner.fit == {}
    (race_group,) = runner.race.groups
    assert race_group.layout.runs == 1 and race_group.layout.opt_level is None
