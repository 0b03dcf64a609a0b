"""A sweep's runs: each value is checked once, and every combination's config is the one
resolving that combination on its own gives (labels, seeds, static variants included)."""

from __future__ import annotations

import itertools

import pytest

from optcore import SpecError, optimizers
from optcore.spec import parse_job

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
