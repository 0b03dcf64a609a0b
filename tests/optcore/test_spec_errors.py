"""Bad job documents: each problem is a SpecError that names its field."""

from __future__ import annotations

import pytest

import optcore
from optcore.spec import parse_job

GOOD = {"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "adam"}]}


def fields_of(doc) -> dict[str, str]:
    with pytest.raises(optcore.SpecError) as info:
        parse_job(doc)
    return dict(info.value.errors)


@pytest.mark.parametrize(
    "change,field,words",
    [
        ({"runs": [{"optimizer": "adamx"}]}, "runs[0].optimizer", "unknown optimizer"),
        (
            {"runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": -0.1}}]},
            "runs[0].hyperparameters.learning_rate",
            "(0, inf]",
        ),
        (
            {"runs": [{"optimizer": "adam", "hyperparameters": {"lr": 0.1}}]},
            "runs[0].hyperparameters.lr",
            "allowed: learning_rate",
        ),
        (
            {"runs": [{"optimizer": "adam", "hyperparameters": {"b2": "big"}}]},
            "runs[0].hyperparameters.b2",
            "must be a number",
        ),
        (
            {"runs": [{"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.0]}}]},
            "runs[0].sweep.learning_rate",
            "(0, inf]",
        ),
        (
            {"runs": [{"optimizer": "adam", "sweep": {"learning_rate": []}}]},
            "runs[0].sweep.learning_rate",
            "at least one",
        ),
        ({"runs": [{"optimizer": "lookahead"}]}, "runs[0].inner", "wraps another optimizer"),
        (
            {
                "runs": [
                    {
                        "optimizer": "lookahead",
                        "inner": {"optimizer": "sgd", "hyperparameters": {"momentum": 0.9}},
                    }
                ]
            },
            "runs[0].inner.hyperparameters.momentum",
            "unknown",
        ),
        ({"init": {"point": [1.0, 2.0, 3.0]}}, "init.point", "3 coordinates"),
        ({"steps": -5}, "steps", "greater than or equal to 1"),
        ({"steps": 10**9}, "steps", "less than or equal to"),
        ({"objective": {"name": "rosenbrok"}}, "objective.name", "unknown objective"),
        (
            {"objective": {"name": "rosenbrock", "params": {"dim": 1}}},
            "objective.params.dim",
            "[2, 10000]",
        ),
        ({"record": {"every": 0}}, "record.every", "greater than or equal to 1"),
        ({"record": {"landscape": {"resolution": 1000}}}, "record.landscape.resolution", "501"),
        (
            {"record": {"landscape": {"bounds": [[1, 0], [0, 1]]}}},
            "record.landscape.bounds",
            "low < high",
        ),
        ({"dtype": "float16"}, "dtype", "float32"),
        ({"runs": []}, "runs", "at least 1"),
        ({"surprise": 1}, "surprise", "not permitted"),
        (
            {"runs": [{"optimizer": "adam", "schedule": {"kind": "sawtooth"}}]},
            "runs[0].schedule.kind",
            "unknown schedule",
        ),
        ({"stopping": {"tolerance": 0}}, "stopping.tolerance", "greater than 0"),
    ],
)
def test_bad_field_is_named_with_the_reason(change, field, words):
    errors = fields_of({**GOOD, **change})
    assert field in errors, errors
    assert words in errors[field]


def test_several_problems_are_reported_together():
    errors = fields_of(
        {
            **GOOD,
            "init": {"point": [0.0]},
            "runs": [{"optimizer": "nope"}, {"optimizer": "adam", "hyperparameters": {"eps": -1}}],
        }
    )
    assert {"init.point", "runs[0].optimizer", "runs[1].hyperparameters.eps"} <= set(errors)


def test_a_grid_landscape_needs_a_two_dimensional_objective():
    errors = fields_of(
        {
            **GOOD,
            "objective": {"name": "rosenbrock", "params": {"dim": 3}},
            "record": {"landscape": {"kind": "grid"}},
        }
    )
    assert "2-D" in errors["record.landscape.kind"]


def test_a_non_object_job_is_refused():
    assert fields_of([1, 2]) == {"": "the job must be a JSON object"}


def test_spec_error_is_a_value_error_for_plain_python_callers():
    with pytest.raises(ValueError):
        optcore.run({"objective": {"name": "rosenbrock"}, "runs": [{"optimizer": "x"}]})
