"""``best`` ranges over every evaluated point, the final one included.

The runner records the loss at theta_0 .. theta_{T-1} (the points where it takes gradients) and
evaluates theta_T only for ``final``; a run that improves on its last step reported a ``best``
worse than its ``final``. The fix belongs to optcore/results.py (see the marker's reason).
"""

from __future__ import annotations

import numpy as np
import pytest

import optcore

FIX = (
    "results.py must fold the final point into best: if final_loss[b] < best_loss[b], report "
    "best = {loss: final_loss[b], step: final_step}"
)


@pytest.mark.xfail(strict=True, reason=FIX)
def test_best_is_never_worse_than_final_and_points_at_the_last_step():
    result = optcore.run(
        {
            "objective": {"name": "rosenbrock"},
            "runs": [
                {"optimizer": "gd", "hyperparameters": {"learning_rate": 1e-3}},
                {"optimizer": "adam", "hyperparameters": {"learning_rate": 0.01}},
            ],
            "init": {"point": [-1.5, 2.0]},
            "steps": 25,
            "dtype": "float64",
        }
    )
    for run in result["runs"]:
        # both descend monotonically here, so the last point is the best one
        assert np.all(np.diff(run["loss"]) < 0)
        assert run["best"]["loss"] <= run["final"]["loss"]
        assert run["best"]["loss"] == run["final"]["loss"]
        assert run["best"]["step"] == run["steps"] == 25
