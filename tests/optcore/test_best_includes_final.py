"""``best`` ranges over every evaluated point, the final one included.

The runner records the loss at theta_0 .. theta_{T-1} (the points where it takes gradients) and
evaluates theta_T only for ``final``; a run that improves on its last step reported a ``best``
worse than its ``final``. optcore/results.py folds the final point into ``best``.
"""

from __future__ import annotations

import numpy as np

import optcore


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
    improved_last = 0
    for run in result["runs"]:
        losses = np.asarray(run["loss"])  # every step recorded, the final point last
        assert run["step"][-1] == run["steps"] == 25 and len(losses) == 26
        assert run["best"]["loss"] <= run["final"]["loss"]
        assert run["best"]["loss"] == losses.min()
        assert losses[run["step"].tolist().index(run["best"]["step"])] == run["best"]["loss"]
        improved_last += bool(losses[-1] < losses[:-1].min())
    assert improved_last  # a run whose final point is its best: the case the fix is for
