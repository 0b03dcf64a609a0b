"""A run's result does not depend on how many runs share its program.

A job alone runs in a program of one lane; batched with other jobs (worker.batching) or swept,
the same run is a lane of a wider program, which XLA compiles differently (docs/scale-out.md,
"The same results as alone"). For the optimizers below, recorded every few steps, the two
give the same trajectory bit for bit; that is what "the same results as when each runs
alone" rests on. RMSProp and Nesterov are left out: there the one-lane and the eight-lane
code differ by float32 rounding in some settings (measured; the docs say which), as does
any run recorded every step.
"""

from __future__ import annotations

import numpy as np
import pytest

import optcore

WIDTH_STABLE = (
    "gd",
    "momentum",
    "adagrad",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "lars",
    "lamb",
    "ranger",
    "ranger_lars",
    "paratrooper",
)
RATES = [0.013, 0.0021, 0.045, 0.0007, 0.11, 0.006, 0.3]  # 7 runs: a program of 8 lanes
JOB = {
    "objective": {"name": "rosenbrock"},
    "steps": 3000,
    "record": {"every": 7},
    "init": {"point": [-1.2, 1.5]},
}


@pytest.mark.parametrize("name", WIDTH_STABLE)
def test_a_run_recorded_every_few_steps_is_the_same_alone_and_as_a_lane(name: str) -> None:
    swept = optcore.run({**JOB, "runs": [{"optimizer": name, "sweep": {"learning_rate": RATES}}]})
    for rate, lane in zip(RATES, swept["runs"], strict=True):
        assert lane["hyperparameters"]["learning_rate"] == rate
        run = {"optimizer": name, "hyperparameters": {"learning_rate": rate}}
        alone = optcore.run({**JOB, "runs": [run]})["runs"][0]
        assert (alone["status"], alone["steps"]) == (lane["status"], lane["steps"]), rate
        np.testing.assert_array_equal(alone["trajectory"], lane["trajectory"], err_msg=str(rate))
        np.testing.assert_array_equal(alone["loss"], lane["loss"], err_msg=str(rate))
