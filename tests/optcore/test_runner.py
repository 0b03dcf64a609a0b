"""The fused runner: sweeps, compilation reuse, stopping, divergence, records."""

from __future__ import annotations

import contextlib
import json

import jax
import numpy as np
import pytest

import optcore
from optcore.runner import JobRunner
from optcore.spec import parse_job

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compilations():
    """Counts XLA backend compilations, as JAX itself reports them."""
    events: list[str] = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def job(runs, **extra):
    doc = {"objective": {"name": "rosenbrock"}, "runs": runs, "steps": 300, "record": {"every": 1}}
    doc.update(extra)
    return doc


def test_a_sweep_equals_the_same_runs_one_by_one():
    rates = [1e-3, 3e-3, 1e-2]
    swept = optcore.run(
        job([{"optimizer": "adam", "sweep": {"learning_rate": rates, "b1": [0.8, 0.9]}}])
    )["runs"]
    assert len(swept) == 6
    assert swept[0]["label"] == "adam(learning_rate=0.001, b1=0.8)"
    i = 0
    for lr in rates:
        for b1 in (0.8, 0.9):
            alone = optcore.run(
                job([{"optimizer": "adam", "hyperparameters": {"learning_rate": lr, "b1": b1}}])
            )["runs"][0]
            assert swept[i]["hyperparameters"] == alone["hyperparameters"]
            np.testing.assert_allclose(swept[i]["trajectory"], alone["trajectory"], rtol=1e-6)
            np.testing.assert_allclose(swept[i]["loss"], alone["loss"], rtol=1e-5)
            i += 1


def test_a_new_learning_rate_seed_start_or_tolerance_compiles_nothing():
    runs = [
        {"optimizer": "ranger_lars", "hyperparameters": {"learning_rate": 0.01}},
        {"optimizer": "rmsprop", "sweep": {"learning_rate": [1e-3, 1e-2]}},
        {"optimizer": "lookahead", "inner": {"optimizer": "nesterov"}},
    ]
    first = job(runs, seed=1, init={"point": [-1.5, 2.0]}, stopping={"tolerance": 1e-12})
    with count_compilations() as warmup:
        a = optcore.run(first)
    assert len(warmup) >= 1  # the first job compiles: the counter sees compilations
    second = job(
        [
            {**runs[0], "hyperparameters": {"learning_rate": 0.02, "b1": 0.9}},
            {**runs[1], "sweep": {"learning_rate": [5e-4, 2e-3]}},
            {**runs[2], "hyperparameters": {"sync_period": 9, "slow_step_size": 0.3}},
        ],
        seed=7,
        init={"point": [0.5, -0.5]},
        stopping={"tolerance": 1e-9},
    )
    with count_compilations() as again:
        b = optcore.run(second)
    assert again == []
    assert b["timing"]["compile_ms"] == 0.0 and b["timing"]["programs_compiled"] == 0
    assert b["runs"][0]["trajectory"][0].tolist() == [0.5, -0.5]
    assert a["runs"][0]["final"] != b["runs"][0]["final"]


def test_divergence_ends_one_run_with_the_step_and_spares_its_group():
    result = optcore.run(job([{"optimizer": "gd", "sweep": {"learning_rate": [0.1, 1e-4]}}]))
    blown, fine = result["runs"]
    assert blown["status"] == "diverged"
    assert 0 < blown["diverged_at"] < 20
    assert blown["steps"] <= blown["diverged_at"]
    wire = json.loads(optcore.dumps(result))  # finite floats only: NaN and Inf are null
    assert all(v is None or np.isfinite(v) for v in wire["runs"][0]["loss"])
    json.dumps(wire, allow_nan=False)
    assert fine["status"] == "max_steps" and fine["steps"] == 300
    alone = optcore.run(job([{"optimizer": "gd", "hyperparameters": {"learning_rate": 1e-4}}]))
    np.testing.assert_allclose(fine["trajectory"], alone["runs"][0]["trajectory"], rtol=1e-6)
    assert fine["best"]["step"] == alone["runs"][0]["best"]["step"]


def test_a_loss_that_overflows_while_the_params_stay_finite_ends_the_run_as_diverged():
    # gd at lr 3 on |x|^2 / 2 maps x to -2x: in float64 the loss overflows at step 513 and the
    # params only near step 1,025. A job of 700 steps ends with finite params and a finite best,
    # so only the check on the loss sees it: a run alone with every step recorded (a narrow
    # program, which checks in its loop), in a group (after the loop, over the records), or
    # recorded every 3rd step.
    x, t = np.array([0.75, -0.5]), 0
    with np.errstate(over="ignore"):
        while np.isfinite(0.5 * np.sum(x**2)):  # numpy float64 transcription of the run
            x, t = x - 3.0 * x, t + 1
    assert np.all(np.isfinite(x)) and 0 < t < 700
    base = {
        "objective": {"name": "quadratic", "params": {"condition": 1.0}},
        "init": {"point": [0.75, -0.5]},
        "steps": 700,
        "dtype": "float64",
    }
    alone = [{"optimizer": "gd", "hyperparameters": {"learning_rate": 3.0}}]
    grouped = [{"optimizer": "gd", "sweep": {"learning_rate": [3.0, 0.1, 0.2, 0.3]}}]
    for runs, every in ((alone, 1), (grouped, 1), (alone, 3), (grouped, 3)):
        blown = optcore.run({**base, "runs": runs, "record": {"every": every}})["runs"][0]
        assert (blown["status"], blown["diverged_at"], blown["steps"]) == ("diverged", t, t)


def test_fast_and_exact_paths_agree_on_records_and_best_step():
    """A diverging neighbour sends its group down the exact path; a run alone takes the
    fast one. Both must report the same records, best loss and best step."""
    mixed = JobRunner(
        parse_job(
            job([{"optimizer": "momentum", "sweep": {"learning_rate": [2e-4, 0.1]}}], steps=512)
        )
    )
    alone = JobRunner(
        parse_job(
            job([{"optimizer": "momentum", "hyperparameters": {"learning_rate": 2e-4}}], steps=512)
        )
    )
    a, b = mixed.run()["runs"][0], alone.run()["runs"][0]
    assert mixed.exact_calls > 0 and alone.exact_calls == 0
    assert a["step"].tolist() == b["step"].tolist()
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    assert a["best"]["step"] == b["best"]["step"]
    losses = np.asarray(b["loss"])  # every step recorded and the final point: best is their min
    assert b["best"]["step"] == b["step"][int(np.argmin(losses))]
    assert b["best"]["loss"] == pytest.approx(float(losses.min()), rel=1e-6)


def test_tolerance_stops_a_run_when_a_step_moves_less_than_it():
    result = optcore.run(
        job(
            [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
            steps=20000,
            dtype="float64",
            stopping={"tolerance": 1e-9},
            record={"every": 1},
        )
    )
    run = result["runs"][0]
    assert run["status"] == "converged" and run["steps"] < 20000
    last_move = np.linalg.norm(np.subtract(run["trajectory"][-1], run["trajectory"][-2]))
    assert last_move <= 1e-9
    moves = np.linalg.norm(np.diff(np.asarray(run["trajectory"][:-1]), axis=0), axis=1)
    assert np.all(moves > 1e-9)  # it did not stop earlier than it should


def test_float64_shows_convergence_to_1e_12():
    run = optcore.run(
        job(
            [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
            steps=20000,
            dtype="float64",
            stopping={"target_loss": 1e-12},
        )
    )["runs"][0]
    assert run["status"] == "converged"
    assert run["final"]["loss"] <= 1e-12
    np.testing.assert_allclose(run["final"]["params"], [1.0, 1.0], atol=1e-5)


def test_gradient_tolerance_stops_before_the_update():
    run = optcore.run(
        job(
            [{"optimizer": "adam", "hyperparameters": {"learning_rate": 0.05}}],
            steps=5000,
            stopping={"grad_tolerance": 1e-1},
        )
    )["runs"][0]
    assert run["status"] == "converged"
    assert run["grad_norm"][-1] <= 1e-1
    assert all(g > 1e-1 for g in run["grad_norm"][:-1])


def test_records_every_nth_step_and_the_final_one():
    run = optcore.run(job([{"optimizer": "adam"}], steps=95, record={"every": 10}))["runs"][0]
    assert run["step"].tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert len(run["loss"]) == len(run["grad_norm"]) == len(run["trajectory"]) == 11
    assert run["trajectory"][0].tolist() == [-1.5, 2.0]
    assert run["trajectory"][-1].tolist() == run["final"]["params"]
    assert run["loss"][-1] == run["final"]["loss"]


def stopping_sweep(rates: list[float], steps: int, every: int) -> dict:
    """Adam runs in float64 that stop at a target loss, at different steps."""
    return job(
        [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        steps=steps,
        dtype="float64",
        stopping={"target_loss": 1e-8},
        record={"every": every},
    )


def test_records_kept_every_thousand_steps_end_at_each_runs_own_stop():
    """Every 1,000 steps the program records every 250th (its block) and keeps every 4th;
    a call says how many of its records are valid (a prefix of its slots), so each run's
    series are the steps it reached, 0, 1000, ..., and its last, across calls and stops."""
    doc = stopping_sweep([0.05, 0.02, 0.004], steps=7000, every=1000)
    runs = JobRunner(parse_job(doc), chunk_seconds=1e-9).run()["runs"]  # a block a call
    assert len({r["steps"] for r in runs}) >= 2
    for run in runs:
        last = run["steps"]
        expected = list(range(0, last + 1, 1000))
        expected += [] if expected[-1] == last else [last]
        assert run["step"].tolist() == expected
        assert len(run["loss"]) == len(run["trajectory"]) == len(expected)
        assert run["loss"][-1] == run["final"]["loss"]


def test_runs_stopping_in_different_chunks_match_their_solo_runs():
    rates = [0.05, 0.02, 0.01]
    doc = stopping_sweep(rates, steps=6000, every=10)
    runner = JobRunner(parse_job(doc), chunk_seconds=1e-9)  # one block a chunk
    swept = runner.run()["runs"]
    stopped_at = {r["steps"] for r in swept if r["status"] == "converged"}
    assert len(stopped_at) >= 2  # they stop at different steps
    for lr, run in zip(rates, swept, strict=True):
        solo = optcore.run(
            {**doc, "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": lr}}]}
        )["runs"][0]
        assert (run["status"], run["steps"]) == (solo["status"], solo["steps"])
        np.testing.assert_allclose(run["final"]["params"], solo["final"]["params"], rtol=1e-9)
        if run["status"] == "converged":
            assert run["final"]["loss"] <= 1e-8 < run["loss"][-2]


def test_a_noisy_run_draws_its_own_noise_after_its_neighbour_diverged():
    # the fast path counts steps once for the group (every run still going is at the call's
    # first step): a run that stopped must not shift the others' step, which seeds the noise
    rates = [0.5, 0.005]
    doc = {
        "objective": {"name": "noisy_quadratic"},
        "steps": 3000,
        "seed": 5,
        "record": {"every": 10},
        "runs": [{"optimizer": "sgd", "sweep": {"learning_rate": rates}}],
    }
    swept = JobRunner(parse_job(doc), chunk_seconds=1e-9).run()["runs"]  # calls of one block
    assert swept[0]["status"] == "diverged" and swept[0]["steps"] < 100
    solo = optcore.run(
        {**doc, "runs": [{"optimizer": "sgd", "hyperparameters": {"learning_rate": rates[1]}}]}
    )["runs"][0]
    assert (
        (swept[1]["status"], swept[1]["steps"])
        == ("max_steps", 3000)
        == (
            solo["status"],
            solo["steps"],
        )
    )
    np.testing.assert_allclose(swept[1]["loss"], solo["loss"], rtol=1e-5)


def test_chunks_report_progress_and_give_the_same_result_as_one_chunk():
    doc = job([{"optimizer": "adam"}, {"optimizer": "lamb"}], steps=1000, record={"every": 25})
    runner = JobRunner(parse_job(doc), chunk_seconds=1e-9)  # one block a chunk
    progress = list(runner.chunks())
    assert progress[0].phase == "compiling" and progress[0].steps_done == 0
    running = [p for p in progress if p.phase == "running"]
    assert [p.chunk for p in running] == list(range(1, len(running) + 1))
    assert len(running) >= 4
    done = [p.steps_done for p in running]
    assert done == sorted(done) and done[-1] == 1000 and running[-1].running == 0
    chunked = runner.result()
    whole = optcore.run(doc)
    for a, b in zip(chunked["runs"], whole["runs"], strict=True):
        assert a["step"].tolist() == b["step"].tolist()
        np.testing.assert_allclose(a["trajectory"], b["trajectory"], rtol=1e-6)


def test_noisy_objective_is_reproducible_by_seed_and_shared_across_runs():
    def noisy(seed, runs):
        return optcore.run(
            {"objective": {"name": "noisy_quadratic"}, "runs": runs, "steps": 200, "seed": seed}
        )["runs"]

    sgd = {"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.05}}
    a, b, c = noisy(3, [sgd])[0], noisy(3, [sgd])[0], noisy(4, [sgd])[0]
    assert np.array_equal(a["loss"], b["loss"])
    assert not np.array_equal(a["loss"], c["loss"])
    swept = noisy(0, [{**sgd, "sweep": {"seed": [3, 4]}}])
    assert swept[0]["loss"] == pytest.approx(a["loss"], rel=1e-5)
    assert swept[1]["loss"] == pytest.approx(c["loss"], rel=1e-5)


def test_result_document_has_the_designed_fields():
    result = optcore.run(
        job(
            [
                {
                    "optimizer": "adam",
                    "label": "fast adam",
                    "hyperparameters": {"learning_rate": 0.01},
                }
            ],
            record={"every": 50, "landscape": {"resolution": [21, 11]}},
        )
    )
    assert set(result) >= {
        "id",
        "status",
        "objective",
        "runs",
        "landscape",
        "timing",
        "device",
        "versions",
    }
    run = result["runs"][0]
    assert run["label"] == "fast adam"
    assert run["hyperparameters"] == {"learning_rate": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    assert set(run) >= {
        "status",
        "steps",
        "diverged_at",
        "final",
        "best",
        "step",
        "loss",
        "grad_norm",
        "trajectory",
    }
    land = result["landscape"]
    assert land["kind"] == "grid2d" and len(land["x"]) == 21 and len(land["y"]) == 11
    assert len(land["z"]) == 11 and len(land["z"][0]) == 21
    assert land["x"][0] == -2.0 and land["y"][-1] == 3.0  # the objective's default box
    assert result["objective"]["minima"] == [[1.0, 1.0]]
