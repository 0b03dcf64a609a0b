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


# -- every min / max / clip / where of a rule, made to bind ----------------------------------

U0 = np.array([[0.5, -1.0], [2.0, 0.3]])  # a leaf the loss ignores: its gradient is exactly 0


def three_leaf_grad_np(params):
    w, b, u = params
    return [*pytree_grad_np([w, b]), np.zeros_like(u)]


def three_leaf_loss_jax(p):
    return pytree_loss_jax(p) + 0.0 * jnp.sum(p["u"])


ROSENBROCK, TWO_LEAVES, THREE_LEAVES = "rosenbrock", "two leaves", "three leaves"

# (name, hyperparameters, objective, start, branches of the rule that must decide some step)
BINDING_CASES = [
    # b2 < b1 makes r_t b_t > 1, so C_t < 1 and T = max(1, min(C_t, ratio)) = 1 (not C_t)
    (
        "paratrooper",
        {"learning_rate": 0.01, "b1": 0.99, "b2": 0.9},
        ROSENBROCK,
        START,
        {"lower_over_C_t"},
    ),
    (
        "paratrooper",
        {"learning_rate": 0.01, "b1": 0.99, "b2": 0.9},
        TWO_LEAVES,
        None,
        {"lower_over_C_t", "zero_norm"},
    ),
    (
        "paratrooper",
        {"learning_rate": 0.05, "b1": 0.9, "b2": 0.99, "threshold": 4.5},
        ROSENBROCK,
        START,
        {"upper_C_t", "lower", "sgd_fallback", "rectified"},
    ),
    # near the minimum ||theta|| / ||s|| is large: trust_clip bounds T before rectification
    (
        "paratrooper",
        {"learning_rate": 0.01, "trust_clip": 2.0},
        ROSENBROCK,
        [0.99, 0.98],
        {"upper_trust_clip"},
    ),
    (
        "ranger_lars",
        {"learning_rate": 0.01, "trust_clip": 0.5},
        TWO_LEAVES,
        None,
        {"upper_trust_clip", "ratio", "zero_norm"},
    ),
    (
        "lars",
        {"learning_rate": 1.0, "weight_decay": 0.01, "trust_coefficient": 0.01},
        THREE_LEAVES,
        None,
        {"zero_grad_norm", "zero_weight_norm"},
    ),
    ("lars", {"learning_rate": 0.01, "exclude_bias": True}, TWO_LEAVES, None, {"bias_excluded"}),
    (
        "lamb",
        {"learning_rate": 0.01, "weight_norm_clip": 1.0},
        ROSENBROCK,
        START,
        {"weight_norm_clip"},
    ),
    (
        "lamb",
        {"learning_rate": 0.01, "exclude_bias": True},
        THREE_LEAVES,
        None,
        {"bias_excluded", "zero_update_norm"},
    ),
    (
        "lamb",
        {"learning_rate": 0.01, "weight_decay": 0.1},
        THREE_LEAVES,
        None,
        {"zero_weight_norm"},
    ),
    # the start lies on y = x^2: dF/dy = 0, so with eps = 0 the y entry has sqrt(s) + eps = 0
    ("adagrad", {"learning_rate": 0.1, "eps": 0.0}, ROSENBROCK, [-1.5, 2.25], {"zero_denominator"}),
    # rho_inf = 19 with b2 = 0.9: a threshold of 18.9 is not reached in 60 steps
    (
        "radam",
        {"learning_rate": 1e-4, "b2": 0.9, "threshold": 18.9},
        ROSENBROCK,
        START,
        {"sgd_fallback"},
    ),
    # rho_5 = 4.996 with b2 = 0.999: on at t = 5 for 4.99, at t = 6 for 5
    (
        "radam",
        {"learning_rate": 0.02, "threshold": 4.99},
        ROSENBROCK,
        START,
        {"sgd_fallback", "rectified"},
    ),
]


def _binding_run(name, hp, objective, start):
    if objective == ROSENBROCK:
        np0, grad, loss = [np.array(start)], rosenbrock_grad_np, rosenbrock_jax
        jax0 = np.array(start)
    elif objective == TWO_LEAVES:
        np0, grad, loss = [W0, np.zeros(2)], pytree_grad_np, pytree_loss_jax
        jax0 = {"W": W0, "b": np.zeros(2)}
    else:
        np0, grad, loss = [W0, np.zeros(2), U0], three_leaf_grad_np, three_leaf_loss_jax
        jax0 = {"W": W0, "b": np.zeros(2), "u": U0}
    opt = _reference(name, hp)
    expected = ref.trajectory(opt, np0, grad, STEPS)
    with jax.enable_x64(True):
        params0 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), jax0)
        path = jax_trajectory(optimizers.get(name, **hp), params0, loss)
    return ref.hits_of(opt), expected, path


@pytest.mark.parametrize("case", BINDING_CASES, ids=lambda c: _case_id(c[:2]) + f"-{c[2]}")
def test_every_bound_of_a_rule_binds_and_matches_numpy(case):
    name, hp, objective, start, must_bind = case
    hits, expected, path = _binding_run(name, hp, objective, start)
    assert must_bind <= hits, f"{name}: {must_bind - hits} never decided a step"
    if objective == ROSENBROCK:
        _assert_paths_equal(path, [p[0] for p in expected[1:]])
    else:
        for index, leaf in enumerate(["W", "b", "u"][: len(expected[0])]):
            _assert_paths_equal(path[leaf], [p[index] for p in expected[1:]])
    assert np.all(np.isfinite(np.asarray(expected[-1][0])))
