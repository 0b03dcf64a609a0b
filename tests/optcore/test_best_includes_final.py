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


def _first_lowest(losses: np.ndarray) -> tuple[float, int]:
    """numpy transcription of the rule: the first step whose loss is strictly lower than every
    loss before it and no later loss is lower; NaN never counts."""
    best, at = np.inf, -1
    for t, loss in enumerate(losses):
        if loss < best:  # False for NaN
            best, at = loss, t
    return best, at


def test_the_best_of_every_step_recorded_is_the_first_lowest_loss_as_when_tracked_per_step():
    # sgd on |x|^2 / 2 at lr 2: x -> -x, so the loss repeats exactly (ties at every step); at
    # lr 1 it is 0 from step 1 on; at lr 0.5 it halves until the loss underflows to 0 (ties); at
    # lr 3 it doubles in size until it overflows. Every step recorded finds the best in the records
    # (steps.py: best_recorded); every 2nd tracks it per step, and so does a run alone with
    # every step recorded (a narrow program checks in its loop: Layout.narrow). All must agree
    # with numpy. A long job spans several calls, so a later call must keep an earlier call's
    # best.
    runs = [
        {"optimizer": "sgd", "hyperparameters": {"learning_rate": lr}}
        for lr in (2.0, 1.0, 0.5, 3.0)
    ]
    base = {
        "objective": {"name": "quadratic", "params": {"condition": 1.0}},
        "runs": runs,
        "init": {"point": [0.75, -0.5]},
        "steps": 40_000,
        "dtype": "float64",
    }
    every_step = optcore.run({**base, "record": {"every": 1}})
    every_other = optcore.run({**base, "record": {"every": 2}})
    alone = [optcore.run({**base, "runs": [r], "record": {"every": 1}})["runs"][0] for r in runs]
    for one, two, single in zip(every_step["runs"], every_other["runs"], alone, strict=True):
        losses = np.asarray(one["loss"], dtype=float)
        best, at = _first_lowest(losses)
        assert (one["best"]["loss"], one["best"]["step"]) == (best, at)
        assert (two["best"]["loss"], two["best"]["step"]) == (best, at)
        own = _first_lowest(np.asarray(single["loss"], dtype=float))
        assert (single["best"]["loss"], single["best"]["step"]) == own
        assert (single["status"], single["diverged_at"]) == (one["status"], one["diverged_at"])
    ties, at_once, halving, grows = every_step["runs"]
    assert ties["best"]["step"] == 0  # equal losses: the first
    assert at_once["best"]["step"] == 1 and at_once["best"]["loss"] == 0.0
    assert halving["best"]["loss"] == 0.0 and 500 < halving["best"]["step"] < 600
    assert grows["status"] == "diverged" and grows["best"]["step"] == 0
