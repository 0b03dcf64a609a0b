"""The cost estimate: what a job records and holds, against real runs, and the limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import optcore
from optcore import cost
from optcore.spec import parse_job
from tests.e2e.stack import long_job
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings()
LIMITS = cost.Limits(SETTINGS.max_recorded_values, SETTINGS.max_parameters, SETTINGS.max_job_flops)
BIG_NET = {"name": "sine_regression", "params": {"hidden": [1024, 900]}}


def estimate(doc: dict) -> cost.Cost:
    job = parse_job(doc)
    return cost.estimate(job.spec, job.objective)


def numbers_in(result: dict) -> int:
    """Every number of the result's per-step records and its landscape."""
    total = 0
    for run in result["runs"]:
        for key in ("step", "loss", "grad_norm", "validation_loss"):
            total += len(run.get(key) or [])
        total += sum(len(p) for p in run.get("trajectory") or [])
    land = result.get("landscape") or {}
    total += len(land.get("x", [])) + len(land.get("y", []))
    total += sum(len(row) if isinstance(row, list) else 1 for row in land.get("z", []))
    return total


@pytest.mark.parametrize(
    "doc",
    [
        {
            "objective": {"name": "rosenbrock"},
            "runs": [{"optimizer": "adam", "sweep": {"learning_rate": [0.01, 0.02, 0.03]}}],
            "steps": 100,
            "record": {"every": 7, "landscape": {"resolution": [11, 9]}},
        },
        {
            "objective": {"name": "sine_regression", "params": {"hidden": [8], "samples": 40}},
            "runs": [{"optimizer": "sgd"}, {"optimizer": "adam"}],
            "steps": 60,
            "record": {"every": 5, "landscape": {"kind": "interpolation", "resolution": 13}},
        },
    ],
)
def test_recorded_values_match_what_a_real_run_records(doc):
    """The estimate covers the result's numbers and is not far above them."""
    actual = numbers_in(json.loads(optcore.dumps(optcore.run(doc))))  # as served
    estimated = estimate(doc).recorded_values
    assert actual <= estimated <= actual * 1.15


def test_runs_parameters_and_sweep_product_are_counted_arithmetically():
    doc = {
        "objective": {"name": "rosenbrock", "params": {"dim": 50}},
        "runs": [
            {"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.2, 0.3], "b1": [0.8, 0.9]}},
            {"optimizer": "sgd"},
        ],
    }
    c = estimate(doc)
    assert (c.runs, c.parameters, c.parameter_memory) == (7, 50, 350)


def test_flops_grow_with_steps_and_landscape_points():
    doc = {
        "objective": {"name": "sine_regression", "params": {"hidden": [16, 16]}},
        "runs": [{"optimizer": "adam"}],
        "steps": 1000,
        "record": {"every": 10, "landscape": {"kind": "random", "resolution": 21}},
    }
    base = estimate(doc)
    longer = estimate({**doc, "steps": 2000})
    finer = estimate({**doc, "record": {"every": 10, "landscape": {"resolution": 42}}})
    assert longer.step_flops == pytest.approx(2 * base.step_flops, rel=0.01)
    assert finer.landscape_flops == pytest.approx(4 * base.landscape_flops, rel=0.01)
    # one forward pass over the 256 samples per point: 2 FLOPs per multiply-add
    macs = 1 * 16 + 16 * 16 + 16 * 1
    assert base.landscape_flops >= 21 * 21 * 256 * 2 * macs


@pytest.mark.parametrize(
    "doc,limit,field",
    [
        (  # the 7 KB request of the issue: a 501 x 501 plane of a 0.93M-parameter network
            {
                "objective": BIG_NET,
                "runs": [{"optimizer": "adam"}],
                "steps": 10,
                "record": {"landscape": {"kind": "random", "resolution": 501}},
            },
            "job_flops",
            "record.landscape.resolution",
        ),
        (  # 80 runs x 100k steps, every step recorded: 718 MB of JSON
            {
                "objective": {"name": "rosenbrock"},
                "runs": [{"optimizer": "adam", "sweep": {"seed": list(range(80))}}],
                "steps": 100_000,
            },
            "recorded_values",
            "record.every",
        ),
        (  # 128 runs of a 0.93M-parameter network: 4.8 GB
            {
                "objective": BIG_NET,
                "runs": [{"optimizer": "adam", "sweep": {"seed": list(range(128))}}],
                "steps": 10,
            },
            "parameters",
            "runs",
        ),
    ],
)
def test_the_issues_costly_jobs_pass_the_default_limits(doc, limit, field):
    over = {o.limit: o for o in cost.overruns(estimate(doc), LIMITS)}
    assert limit in over
    assert over[limit].field == field and over[limit].value > over[limit].maximum


@pytest.mark.parametrize(
    "doc",
    [
        json.loads((ROOT / "examples" / "figure1.json").read_text()),
        json.loads((ROOT / "examples" / "figure2.json").read_text()),
        long_job(),
    ],
)
def test_the_examples_and_the_test_suites_long_job_fit_the_default_limits(doc):
    assert cost.overruns(estimate(doc), LIMITS) == []


def test_a_tuning_search_counts_every_candidate_before_the_race():
    doc = {
        "objective": {"name": "sine_regression", "params": {"hidden": [16, 16]}},
        "runs": [{"optimizer": "adam"}],
        "steps": 1000,
        "record": {"every": 1000},
    }
    plain = estimate(doc)
    tune = {"learning_rate": {"log_uniform": [1e-4, 1e-1]}, "candidates": 64, "steps": 500}
    tuned = estimate({**doc, "runs": [{"optimizer": "adam", "tune": tune}]})
    # 64 candidates x 500 steps searched, then the race's 1,000 steps: 33x the plain steps
    assert tuned.step_flops == pytest.approx(33 * plain.step_flops, rel=0.01)
    assert tuned.parameter_memory == 64 * plain.parameter_memory
