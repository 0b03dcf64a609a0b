"""Each seed optimizer against the numpy transcription of its rule in OPTIMIZERS.md.

60 steps in float64, on Rosenbrock (one leaf) and on a two-leaf pytree whose bias starts at
zero (so the per-layer rules see a layer of norm 0), both through ``optimizers.get`` and
through the runner with traced hyperparameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optcore
from optcore import optimizers
from optcore.functions import rosenbrock

from . import numpy_reference as ref

STEPS = 60
START = [-1.5, 2.0]

CASES = [
    ("gd", {"learning_rate": 1e-3}),
    ("sgd", {"learning_rate": 2e-3}),
    ("momentum", {"learning_rate": 1e-3, "momentum": 0.8}),
    ("nesterov", {"learning_rate": 1e-3, "momentum": 0.9}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("rmsprop", {"learning_rate": 1e-2}),
    ("rmsprop", {"learning_rate": 1e-2, "decay": 0.95, "initial": "zero"}),
    ("adam", {"learning_rate": 0.02, "b1": 0.85, "b2": 0.99}),
    ("adamw", {"learning_rate": 0.02, "weight_decay": 0.1}),
    ("radam", {"learning_rate": 0.02, "weight_decay": 0.05, "b2": 0.99}),
    ("radam", {"learning_rate": 0.02, "threshold": 4.0}),
    ("ranger", {"learning_rate": 0.02, "weight_decay": 0.01}),
    ("lars", {"learning_rate": 1.0, "weight_decay": 0.01, "trust_coefficient": 0.01}),
    ("lamb", {"learning_rate": 0.01, "weight_decay": 0.01}),
    ("ranger_lars", {"learning_rate": 0.01, "weight_decay": 0.01}),
    ("ranger_lars", {"learning_rate": 0.01, "trust_clip": 0.5, "sync_period": 4}),
    ("paratrooper", {"learning_rate": 0.01, "weight_decay": 0.01}),
    ("paratrooper", {"learning_rate": 0.05, "b1": 0.9, "b2": 0.99, "threshold": 4.5}),
] + [(name, {}) for name in ref.REFERENCES]

LOOKAHEAD_CASES = [
    ({"optimizer": "adam", "hyperparameters": {"learning_rate": 0.02}}, {"sync_period": 5}),
    (
        {"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}},
        {"sync_period": 3, "slow_step_size": 0.8},
    ),
]


def _case_id(case):
    name, hp = case
    return name + "".join(f"-{k}={v}" for k, v in hp.items())


# -- objectives, once in jax and once in numpy ---------------------------------------------


def rosenbrock_grad_np(params):
    ((x, y),) = params
    return [np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])]


RNG = np.random.default_rng(7)
X_DATA = RNG.normal(size=(16, 3))
Y_DATA = RNG.normal(size=(16, 2))
W0 = RNG.normal(size=(3, 2))


def pytree_loss_jax(p):
    r = jnp.asarray(X_DATA) @ p["W"] + p["b"] - jnp.asarray(Y_DATA)
    return jnp.mean(jnp.sum(r * r, axis=1)) + 0.05 * jnp.sum(p["W"] ** 4)


def pytree_grad_np(params):
    w, b = params
    r = X_DATA @ w + b - Y_DATA
    n = X_DATA.shape[0]
    return [2 / n * X_DATA.T @ r + 0.2 * w**3, 2 / n * r.sum(axis=0)]


def jax_trajectory(opt, params0, loss):
    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        return (params, state), params

    @jax.jit
    def run(params):
        _, path = jax.lax.scan(step, (params, opt.init(params)), length=STEPS)
        return path

    return run(params0)


def rosenbrock_jax(p):
    return rosenbrock(p, {"a": 1.0, "b": 100.0})


def _reference(name, hp):
    return ref.REFERENCES[name](**hp)


def _assert_paths_equal(jax_path, np_path):
    np.testing.assert_allclose(np.asarray(jax_path), np.asarray(np_path), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule_matches_numpy_on_rosenbrock(case):
    name, hp = case
    expected = ref.trajectory(_reference(name, hp), [np.array(START)], rosenbrock_grad_np, STEPS)
    with jax.enable_x64(True):
        path = jax_trajectory(
            optimizers.get(name, **hp), jnp.asarray(START, jnp.float64), rosenbrock_jax
        )
    _assert_paths_equal(path, [p[0] for p in expected[1:]])
    assert not np.allclose(expected[-1][0], START), "the run must move"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule_matches_numpy_per_layer_on_a_two_leaf_pytree(case):
    name, hp = case
    expected = ref.trajectory(_reference(name, hp), [W0, np.zeros(2)], pytree_grad_np, STEPS)
    with jax.enable_x64(True):
        params0 = {"W": jnp.asarray(W0), "b": jnp.zeros(2, jnp.float64)}
        path = jax_trajectory(optimizers.get(name, **hp), params0, pytree_loss_jax)
    _assert_paths_equal(path["W"], [p[0] for p in expected[1:]])
    _assert_paths_equal(path["b"], [p[1] for p in expected[1:]])


@pytest.mark.parametrize("inner,hp", LOOKAHEAD_CASES)
def test_lookahead_matches_numpy_with_slow_weights_in_state(inner, hp):
    np_inner = _reference(inner["optimizer"], inner["hyperparameters"])
    expected = ref.trajectory(
        ref.Lookahead(np_inner, **hp), [W0, np.zeros(2)], pytree_grad_np, STEPS
    )
    with jax.enable_x64(True):
        params0 = {"W": jnp.asarray(W0), "b": jnp.zeros(2, jnp.float64)}
        path = jax_trajectory(
            optimizers.get("lookahead", inner=inner, **hp), params0, pytree_loss_jax
        )
    _assert_paths_equal(path["W"], [p[0] for p in expected[1:]])
    _assert_paths_equal(path["b"], [p[1] for p in expected[1:]])


def _runner_job(runs):
    return {
        "objective": {"name": "rosenbrock"},
        "runs": runs,
        "init": {"point": START},
        "steps": STEPS,
        "dtype": "float64",
        "record": {"every": 1},
    }


def test_runner_with_traced_hyperparameters_matches_numpy_for_every_seed_rule():
    runs = [{"optimizer": n, "hyperparameters": hp} for n, hp in CASES]
    runs += [
        {"optimizer": "lookahead", "hyperparameters": hp, "inner": inner}
        for inner, hp in LOOKAHEAD_CASES
    ]
    result = optcore.run(_runner_job(runs))
    for run, (name, hp) in zip(result["runs"], CASES, strict=False):
        expected = ref.trajectory(
            _reference(name, hp), [np.array(START)], rosenbrock_grad_np, STEPS
        )
        _assert_paths_equal(run["trajectory"], [p[0] for p in expected])
        assert run["steps"] == STEPS and run["status"] == "max_steps"
    for run, (inner, hp) in zip(result["runs"][len(CASES) :], LOOKAHEAD_CASES, strict=True):
        np_inner = _reference(inner["optimizer"], inner["hyperparameters"])
        expected = ref.trajectory(
            ref.Lookahead(np_inner, **hp), [np.array(START)], rosenbrock_grad_np, STEPS
        )
        _assert_paths_equal(run["trajectory"], [p[0] for p in expected])
