"""Programs belong to groups, not jobs: what a follow-up job compiles, and padded lanes."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params

import optcore
from optcore.compiled import CACHE
from optcore.layout import bucket
from optcore.objectives import Objective
from optcore.runner import JobRunner
from optcore.spec import parse_job

FIGURE1 = json.loads((Path(__file__).parents[2] / "examples" / "figure1.json").read_text())


@pytest.fixture(scope="module")
def figure1() -> dict:
    CACHE.clear()  # another test in this process may have run Figure 1 already
    return optcore.run(FIGURE1)


def compiled(doc: dict) -> int:
    return optcore.run(doc)["timing"]["programs_compiled"]


def test_a_first_job_counts_what_it_compiles(figure1):
    timing = figure1["timing"]
    assert timing["programs_compiled"] > 0 or timing["programs_from_disk"] > 0
    assert set(timing) >= {"compile_ms", "programs_compiled", "run_ms", "landscape_ms"}


@pytest.mark.parametrize("steps", [3001, 12345])
def test_other_step_counts_compile_nothing(figure1, steps):
    result = optcore.run({**FIGURE1, "steps": steps})
    assert result["timing"]["programs_compiled"] == 0
    assert max(run["steps"] for run in result["runs"]) == steps  # gd runs to the limit


def test_subsets_and_reorderings_of_the_optimizers_compile_nothing(figure1):
    runs = FIGURE1["runs"]
    assert compiled({**FIGURE1, "runs": runs[::-1]}) == 0
    assert compiled({**FIGURE1, "runs": [runs[4], runs[1]]}) == 0
    assert compiled({**FIGURE1, "runs": runs[2:5]}) == 0


def test_a_reordered_job_gives_each_run_the_same_result(figure1):
    again = optcore.run({**FIGURE1, "runs": FIGURE1["runs"][::-1]})
    for a, b in zip(figure1["runs"], again["runs"][::-1], strict=True):
        assert (a["label"], a["status"], a["steps"]) == (b["label"], b["status"], b["steps"])
        # the calls differ (the first job's first call is one block, to time it), so a call
        # redone on the exact path covers other steps; the exact and fast paths are two XLA
        # programs and may round a step differently (by an ulp; Nesterov's first records
        # on Rosenbrock then differ by 4e-6 relative)
        np.testing.assert_allclose(a["trajectory"], b["trajectory"], rtol=1e-5)


def sweep(n: int) -> dict:
    rates = np.geomspace(1e-4, 1e-2, n).tolist()
    return {
        "objective": {"name": "rosenbrock"},
        "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
        "steps": 500,
        "record": {"every": 10},
    }


def test_run_counts_share_a_bucket():
    assert [bucket(n) for n in (1, 2, 3, 5, 8, 9, 17, 64, 65, 1000, 1017, 1024)] == [
        1,
        2,
        4,
        8,
        8,
        16,
        24,
        64,
        128,
        1024,
        1024,
        1024,
    ]
    optcore.run(sweep(20))
    assert compiled(sweep(23)) == 0  # both in the bucket of 24


def test_padded_lanes_change_nothing_and_are_dropped():
    padded = JobRunner(parse_job(sweep(5)))  # 5 runs in a program of 8 lanes
    assert padded.groups[0].layout.runs == 8
    runs = padded.run()["runs"]
    assert len(runs) == 5
    # the same five runs unpadded: three more real runs fill the lanes the padding took
    rates = [r["hyperparameters"]["learning_rate"] for r in runs] + [0.2, 0.3, 0.4]
    full = optcore.run(
        {**sweep(8), "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}]}
    )
    for a, b in zip(runs, full["runs"][:5], strict=True):
        np.testing.assert_array_equal(a["loss"], b["loss"])
        np.testing.assert_array_equal(a["trajectory"], b["trajectory"])
    alone = optcore.run({**sweep(1), "runs": [{"optimizer": "adam", **_rate(runs[3])}]})
    np.testing.assert_array_equal(runs[3]["loss"], alone["runs"][0]["loss"])
    np.testing.assert_array_equal(runs[3]["trajectory"], alone["runs"][0]["trajectory"])
    assert runs[0]["loss"].shape == full["runs"][0]["loss"].shape == (51,)


def _rate(run: dict) -> dict:
    return {"hyperparameters": {"learning_rate": run["hyperparameters"]["learning_rate"]}}


def test_dumps_writes_the_document_with_nulls_for_non_finite_values():
    result = optcore.run(
        {
            "objective": {"name": "rosenbrock"},
            "runs": [{"optimizer": "gd", "hyperparameters": {"learning_rate": 0.1}}],
            "steps": 50,
        }
    )
    wire = json.loads(optcore.dumps(result))
    assert wire["runs"][0]["status"] == "diverged"
    in_process = result["runs"][0]["loss"]  # float32: written in float32's shortest form
    assert [None if v is None else np.float32(v) for v in wire["runs"][0]["loss"]] == [
        v if np.isfinite(v) else None for v in in_process
    ]
    assert wire["runs"][0]["trajectory"][0] == [-1.5, 2.0]


def test_a_race_traces_its_objective_once_for_all_its_programs(monkeypatch):
    """Three optimizers, three programs, one objective: its gradient is traced once and
    shared (``steps.loss_and_grad_of``), not once per program."""
    traces = []
    value = Objective.value

    def counted(self, x):
        traces.append(self.params["b"])
        return value(self, x)

    monkeypatch.setattr(Objective, "value", counted)
    b = 123.25  # an objective no other test has traced
    job = {
        "objective": {"name": "rosenbrock", "params": {"b": b}},
        "steps": 50,
        "runs": [{"optimizer": name} for name in ("gd", "rmsprop", "adam")],
    }
    timing = optcore.run(job)["timing"]
    assert timing["programs_compiled"] + timing["programs_from_disk"] == 3  # three programs
    assert traces == [b]


def test_gd_runs_in_the_momentum_program_and_computes_gd():
    """gd is momentum 0 (``optimizers.general_form``): a job of both compiles one program,
    a later gd job compiles none (so does Lookahead over momentum after Lookahead over gd),
    and gd's steps there are gd's rule, against a float64 transcription of it."""
    b, lr, start = 117.5, 5e-4, np.array([-1.5, 2.0])  # an objective no other test compiles
    both = {
        "objective": {"name": "rosenbrock", "params": {"b": b}},
        "init": {"point": start.tolist()},
        "steps": 400,
        "runs": [
            {"optimizer": "momentum", "hyperparameters": {"learning_rate": 5e-4}},
            {"optimizer": "gd", "hyperparameters": {"learning_rate": 8e-4}},
        ],
    }
    timing = optcore.run(both)["timing"]
    assert timing["programs_compiled"] + timing["programs_from_disk"] == 1
    gd = {**both, "runs": [{"optimizer": "gd", "hyperparameters": {"learning_rate": lr}}]}
    result = optcore.run(gd)
    assert result["timing"]["programs_compiled"] == 0
    lookahead = {"optimizer": "lookahead", "inner": {"optimizer": "gd"}}
    inner_momentum = {**lookahead, "inner": {"optimizer": "momentum"}}
    assert compiled({**both, "runs": [lookahead]}) == 1
    assert compiled({**both, "runs": [inner_momentum]}) == 0

    x, expected = start.copy(), []
    for _ in range(400):
        expected.append(x.copy())
        inner = x[1] - x[0] ** 2
        grad = np.array([-2 * (1 - x[0]) - 4 * b * x[0] * inner, 2 * b * inner])
        x = x - lr * grad
    expected.append(x)
    np.testing.assert_allclose(result["runs"][0]["trajectory"], np.array(expected), rtol=2e-5)
    assert result["runs"][0]["hyperparameters"] == {"learning_rate": lr}


def _calls(jaxpr, name: str) -> set[int]:
    """The distinct jaxprs of the jitted calls named ``name`` anywhere in ``jaxpr``."""
    found: set[int] = set()
    for eqn in jaxpr.eqns:
        if eqn.params.get("name") == name:
            found.add(id(eqn.params["jaxpr"]))
        for inner in jaxprs_in_params(eqn.params):
            found |= _calls(inner, name)
    return found


@pytest.mark.parametrize("runs", [1, 3])
def test_a_programs_steps_and_finals_share_one_batched_gradient(runs):
    """The steps, the records' peeks and the finals call the objective's jitted loss and
    gradient batched alike, so a program holds one batched trace of it (the finals once
    batched the runs' step counts, which the steps share: a second trace in every program)."""
    rates = [0.01, 0.02, 0.03][:runs]
    job = JobRunner(
        parse_job(
            {
                "objective": {"name": "rosenbrock"},
                "steps": 50,
                "runs": [{"optimizer": "adam", "sweep": {"learning_rate": rates}}],
                "record": {"every": 5},
            }
        )
    )
    g = job.groups[0]
    program = jax.make_jaxpr(partial(g.program.call, False))(*job.call_shapes(g))
    assert len(_calls(program.jaxpr, "loss_and_grad")) == 1
