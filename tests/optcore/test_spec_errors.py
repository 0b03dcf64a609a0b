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


BIG = 10**400  # beyond any float: float(BIG) raises OverflowError
NETWORK = {"name": "regression", "data": {"x": [[0.0], [1.0], [2.0]], "y": [0.0, 1.0, 2.0]}}


def _classification(labels) -> dict:
    return {"name": "classification", "data": {"x": [[0.0], [1.0]], "y": labels}}


@pytest.mark.parametrize(
    "change,field,words",
    [
        (
            {"runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": BIG}}]},
            "runs[0].hyperparameters.learning_rate",
            "401 digits",
        ),
        (
            {"runs": [{"optimizer": "adam", "sweep": {"learning_rate": [0.1, BIG]}}]},
            "runs[0].sweep.learning_rate[1]",
            "401 digits",
        ),
        (
            {"runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": float("inf")}}]},
            "runs[0].hyperparameters.learning_rate",
            "finite",
        ),
        (
            {"objective": {**NETWORK, "data": {"x": [[0.0], [1.0]], "y": [1.0, BIG]}}},
            "objective.data.y[1]",
            "401 digits",
        ),
        ({"objective": {"expression": f"x + {BIG} * y"}}, "objective.expression", "finite"),
        ({"objective": {"expression": f"x ** {BIG}"}}, "objective.expression", "exponent"),
        ({"objective": {"name": "rosenbrock", "params": {"a": BIG}}}, "objective.params.a", "401"),
        ({"objective": _classification([0, 1e300])}, "objective.data.y", "integer labels"),
        ({"objective": _classification([0, 1.5])}, "objective.data.y", "integer labels"),
        ({"objective": _classification([0, -1])}, "objective.data.y", "integer labels"),
        ({"objective": _classification(["0", "1"])}, "objective.data.y", "numbers only"),
        ({"objective": _classification([True, 0])}, "objective.data.y", "numbers only"),
        (
            {"objective": {**NETWORK, "data": {"x": [[0.0], [1.0, 2.0]], "y": [0, 1]}}},
            "objective.data.x",
            "numbers only",
        ),
        ({"steps": True}, "steps", "valid integer"),
        ({"steps": "100"}, "steps", "valid integer"),
        ({"seed": 1.0}, "seed", "valid integer"),
        ({"record": {"every": False}}, "record.every", "valid integer"),
        ({"stopping": {"tolerance": True}}, "stopping.tolerance", "valid number"),
        (
            {"record": {"landscape": {"bounds": [[-1e308, 1e308], [0, 1]]}}},
            "record.landscape.bounds",
            "wide",
        ),
        (
            {"record": {"landscape": {"bounds": [[0, 1e-300], [0, 1]]}}},
            "record.landscape.bounds",
            "wide",
        ),
        (
            {"objective": {"expression": "x * y", "box": [[0, 1], [0, 2e12]]}},
            "objective.box",
            "wide",
        ),
        (
            {
                "runs": [
                    {
                        "optimizer": "adam",
                        "sweep": {"learning_rate": [0.1] * 300, "b1": [0.9] * 300},
                    }
                ]
            },
            "runs[0].sweep",
            "90,000 combinations",
        ),
        (
            {"runs": [{"optimizer": "adam", "sweep": {"seed": list(range(3000))}}] * 2},
            "runs",
            "6,000 runs after sweeps",
        ),
    ],
)
def test_unrepresentable_numbers_loose_types_and_extreme_boxes_are_named(change, field, words):
    errors = fields_of({**GOOD, **change})
    assert field in errors, errors
    assert words in errors[field]


def test_integral_float_labels_and_narrow_but_valid_boxes_are_accepted():
    job = parse_job(
        {
            **GOOD,
            "objective": _classification([1.0, 0]),
            "record": {"landscape": {"kind": "random", "bounds": [[0, 1e-12], [-1e12, 0]]}},
        }
    )
    assert job.objective.layers[-1] == 2


def test_a_huge_sweep_is_refused_without_being_expanded():
    values = list(range(1, 301))  # 300**4 = 8.1e9 combinations: expanding them cannot finish
    sweep = {"learning_rate": values, "b1": values, "b2": values, "eps": values}
    errors = fields_of({**GOOD, "runs": [{"optimizer": "adam", "sweep": sweep}]})
    assert "8,100,000,000 combinations" in errors["runs[0].sweep"]
