"""A sweep's runs: each value is checked once, and every combination's config is the one
resolving that combination on its own gives (labels, seeds, static variants included)."""

from __future__ import annotations

import itertools

import pytest

from optcore import SpecError, optimizers
from optcore.spec import parse_job, validate_model
from optcore.sweeps import labels_distinct

SWEEP = {
    "learning_rate": [1e-3, 0.02, 1],  # an int, held as a float
    "b1": [0.5, 0.9],
    "seed": [3, 4],
}


def job(sweep: dict, optimizer: str = "adam", **hyperparameters) -> dict:
    return {
        "objective": {"name": "rosenbrock"},
        "steps": 10,
        "runs": [{"optimizer": optimizer, "hyperparameters": hyperparameters, "sweep": sweep}],
    }


def test_each_combination_is_what_resolving_it_alone_gives():
    runs = parse_job(job(SWEEP, eps=1e-6)).runs
    combos = list(itertools.product(*SWEEP.values()))
    assert len(runs) == len(combos) == 12
    for run, (lr, b1, seed) in zip(runs, combos, strict=True):
        alone = optimizers.resolve(
            {"optimizer": "adam", "hyperparameters": {"eps": 1e-6, "learning_rate": lr, "b1": b1}}
        )
        assert run.config == alone
        assert run.seed == seed
        assert run.label == f"adam(learning_rate={lr:g}, b1={b1:g}, seed={seed})"
    assert isinstance(runs[2].config["hyperparameters"]["learning_rate"], float)


def test_a_shard_gets_the_same_runs_as_the_whole():
    whole = parse_job(job(SWEEP)).runs
    part = parse_job(job(SWEEP), only=range(5, 9)).runs
    assert [(r.label, r.config, r.seed) for r in part] == [
        (r.label, r.config, r.seed) for r in whole[5:9]
    ]


@pytest.mark.parametrize(
    ("sweep", "field", "message"),
    [
        ({"learning_rate": [0.1, -1.0]}, "runs[0].sweep.learning_rate", "must lie in"),
        ({"b1": [0.9, "x"]}, "runs[0].sweep.b1", "must be a number"),
        ({"bogus": [1]}, "runs[0].sweep.bogus", "unknown hyperparameter"),
        ({"seed": [1, -2]}, "runs[0].sweep.seed", "seeds are integers"),
    ],
)
def test_a_bad_swept_value_names_the_sweep_field(sweep, field, message):
    with pytest.raises(SpecError) as caught:
        parse_job(job(sweep))
    assert any(f == field and message in m for f, m in caught.value.errors), caught.value.errors


def two_specs(first: list, second: list) -> dict:
    """Two adam sweeps: with equal shown values their labels repeat and get ``#n``."""
    return {
        "objective": {"name": "rosenbrock"},
        "steps": 10,
        "runs": [
            {"optimizer": "adam", "sweep": {"learning_rate": first, "b1": [0.5, 0.9]}},
            {"optimizer": "adam", "sweep": {"learning_rate": second}},
            {"optimizer": "sgd", "label": "adam(learning_rate=0.1)"},
        ],
    }


@pytest.mark.parametrize(
    "doc",
    [
        two_specs([0.1, 0.2, 0.3], [0.1, 0.2]),  # labels repeat across specs
        job({"learning_rate": [0.1, 0.1000001, 0.2], "seed": [1, 2]}),  # equal at 6 digits
        job({"learning_rate": [0.1, 0.2, 0.3], "b1": [0.5, 0.9]}),  # all distinct
        {  # unswept runs before a window, whose labels come again after it
            "objective": {"name": "rosenbrock"},
            "runs": [
                {"optimizer": "sgd", "label": "adam(learning_rate=0.1)"},
                {"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.2]}},
                {"optimizer": "adam"},
                {"optimizer": "adam"},
            ],
        },
    ],
)
def test_every_window_gets_the_runs_of_the_whole(doc):
    whole = parse_job(doc)
    labels = [r.label for r in whole.runs]
    assert whole.total_runs == len(whole.runs)
    if len(doc["runs"]) == 3:
        assert {"adam(learning_rate=0.1, b1=0.5)", "adam(learning_rate=0.1) #2"} <= set(labels)
    if len(doc["runs"]) == 4:
        again = ["adam(learning_rate=0.1) #2", "adam(learning_rate=0.2)", "adam", "adam #2"]
        assert labels[1:] == again
    for lo in range(len(labels) + 1):
        for hi in range(lo, len(labels) + 1):
            part = parse_job(doc, only=range(lo, hi))
            assert part.total_runs == whole.total_runs
            assert [(r.label, r.config, r.seed, r.spec_index) for r in part.runs] == [
                (r.label, r.config, r.seed, r.spec_index) for r in whole.runs[lo:hi]
            ]


def test_checking_without_building_finds_a_bad_value_at_the_end():
    rates = [1e-3] * 5000 + [-1.0]
    with pytest.raises(SpecError) as caught:
        parse_job(job({"learning_rate": rates}), 10_000, only=range(0))
    assert ("runs[0].sweep.learning_rate", "must lie in (0, inf], not -1.0") in caught.value.errors
    checked = parse_job(job({"learning_rate": rates[:-1], "b1": [0.5, 0.9]}), 20_000, range(0))
    assert checked.runs == [] and checked.total_runs == 10_000


@pytest.mark.parametrize("name", optimizers.names())
def test_checking_values_together_agrees_with_one_by_one(name):
    """Each bound of each number hyperparameter is hit exactly, and just past it."""
    for hyper in optimizers.entry(name).hypers:
        if hyper.kind != "number":
            continue
        edges = [b for b in (hyper.minimum, hyper.maximum) if b is not None]
        for value in [x for b in edges for x in (float(b), b - 1e-9, b + 1e-9)] + [0.5]:
            try:
                one = [hyper.validate(value, "f")]
            except SpecError as exc:
                with pytest.raises(SpecError) as together:
                    hyper.validate_all([value], "f")
                assert together.value.errors == exc.errors
            else:
                assert hyper.validate_all([value], "f") == one


@pytest.mark.parametrize(
    ("runs", "distinct"),
    [
        ([{"optimizer": "adam"}, {"optimizer": "sgd"}], True),
        ([{"optimizer": "adam"}, {"optimizer": "sgd", "label": "adam"}], False),
        ([{"optimizer": "adam"}, {"optimizer": "sgd", "label": "adam(learning_rate=1)"}], False),
        ([{"optimizer": "adam", "label": "x(y"}, {"optimizer": "sgd", "label": "x"}], False),
        ([{"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.10000001]}}], False),
        ([{"optimizer": "adam", "sweep": {"learning_rate": [0.1, 0.2], "seed": [1, 2]}}], True),
    ],
)
def test_labels_are_distinct_only_when_no_two_runs_can_share_one(runs, distinct):
    spec = validate_model({"objective": {"name": "rosenbrock"}, "runs": runs})
    assert labels_distinct(spec.runs) is distinct
    labels = [r.label for r in parse_job(spec).runs]
    assert len(set(labels)) == len(labels)  # numbered apart when they could meet
