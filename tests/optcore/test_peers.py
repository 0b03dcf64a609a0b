"""Where OPTIMIZERS.md's rule coincides with torch.optim's, the iterates agree to 1e-12.

torch is a test-only dependency (``make test`` installs the CPU build); without it these tests
skip. Each case runs 60 float64 steps from the same start through ``optimizers.get`` and
through the torch optimizer, on Rosenbrock (one leaf) and on a two-leaf least-squares pytree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optcore import optimizers

from .test_optimizer_equations import (
    START,
    STEPS,
    W0,
    X_DATA,
    Y_DATA,
    jax_trajectory,
    pytree_loss_jax,
    rosenbrock_jax,
)

torch = pytest.importorskip("torch", reason="torch.optim is the peer: pip install torch==2.13.0")

# (our name and hyperparameters, torch class name and arguments)
PEERS = [
    (("gd", {"learning_rate": 1e-3}), ("SGD", {"lr": 1e-3})),
    (
        ("momentum", {"learning_rate": 1e-3, "momentum": 0.8}),
        ("SGD", {"lr": 1e-3, "momentum": 0.8}),
    ),
    (
        ("nesterov", {"learning_rate": 1e-3, "momentum": 0.9}),
        ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    ),
    (("adagrad", {"learning_rate": 0.1}), ("Adagrad", {"lr": 0.1})),
    (
        ("adagrad", {"learning_rate": 0.1, "eps": 1e-6, "initial_accumulator_value": 0.5}),
        ("Adagrad", {"lr": 0.1, "eps": 1e-6, "initial_accumulator_value": 0.5}),
    ),
    (
        ("rmsprop", {"learning_rate": 1e-2, "decay": 0.95, "initial": "zero"}),
        ("RMSprop", {"lr": 1e-2, "alpha": 0.95, "eps": 1e-8}),
    ),
    (
        ("adam", {"learning_rate": 0.02, "b1": 0.85, "b2": 0.99}),
        ("Adam", {"lr": 0.02, "betas": (0.85, 0.99)}),
    ),
    (
        ("adamw", {"learning_rate": 0.02, "weight_decay": 0.1}),
        ("AdamW", {"lr": 0.02, "weight_decay": 0.1}),
    ),
    (
        ("radam", {"learning_rate": 0.02, "eps": 0.0, "b2": 0.99}),
        ("RAdam", {"lr": 0.02, "eps": 0.0, "betas": (0.9, 0.99)}),
    ),
    (
        ("radam", {"learning_rate": 0.02, "eps": 0.0, "weight_decay": 0.05}),
        (
            "RAdam",
            {"lr": 0.02, "eps": 0.0, "weight_decay": 0.05, "decoupled_weight_decay": True},
        ),
    ),
]


def _id(case):
    (name, hp), (peer, _) = case
    return f"{name}-vs-{peer}-" + "-".join(f"{k}={v}" for k, v in hp.items())


def torch_rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def torch_pytree_loss(w, b):
    r = torch.from_numpy(X_DATA) @ w + b - torch.from_numpy(Y_DATA)
    return torch.mean(torch.sum(r * r, dim=1)) + 0.05 * torch.sum(w**4)


def torch_path(peer, args, leaves, loss):
    params = [torch.tensor(np.asarray(x, np.float64), requires_grad=True) for x in leaves]
    opt = getattr(torch.optim, peer)(params, **args)
    path = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss(*params).backward()
        opt.step()
        path.append([p.detach().numpy().copy() for p in params])
    return path


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", PEERS, ids=_id)
def test_iterates_equal_torch_optim_on_rosenbrock(case):
    (name, hp), (peer, args) = case
    theirs = torch_path(peer, args, [np.array(START)], lambda x: torch_rosenbrock(x))
    with jax.enable_x64(True):
        ours = jax_trajectory(
            optimizers.get(name, **hp), jnp.asarray(START, jnp.float64), rosenbrock_jax
        )
    _close(ours, [p[0] for p in theirs])
    assert np.linalg.norm(np.asarray(ours[-1]) - START) > 1e-3, "the run must move"


@pytest.mark.parametrize("case", PEERS, ids=_id)
def test_iterates_equal_torch_optim_on_a_two_leaf_pytree(case):
    (name, hp), (peer, args) = case
    theirs = torch_path(peer, args, [W0, np.zeros(2)], torch_pytree_loss)
    with jax.enable_x64(True):
        params0 = {"W": jnp.asarray(W0), "b": jnp.zeros(2, jnp.float64)}
        ours = jax_trajectory(optimizers.get(name, **hp), params0, pytree_loss_jax)
    _close(ours["W"], [p[0] for p in theirs])
    _close(ours["b"], [p[1] for p in theirs])


def test_the_documented_differences_are_real():
    """RMSProp's seed start and RAdam's eps placement do differ from torch, as the catalog says."""
    seeded = ("rmsprop", {"learning_rate": 1e-2, "decay": 0.9})
    torch_rms = torch_path(
        "RMSprop", {"lr": 1e-2, "alpha": 0.9}, [np.array(START)], torch_rosenbrock
    )
    with jax.enable_x64(True):
        ours = jax_trajectory(
            optimizers.get(seeded[0], **seeded[1]), jnp.asarray(START, jnp.float64), rosenbrock_jax
        )
    first_ours = np.linalg.norm(np.asarray(ours[0]) - START)
    first_torch = np.linalg.norm(torch_rms[0][0] - START)
    assert first_torch / first_ours == pytest.approx(1 / np.sqrt(1 - 0.9), rel=1e-6)  # 3.16x
    with jax.enable_x64(True):
        params0 = {"W": jnp.asarray(W0), "b": jnp.zeros(2, jnp.float64)}
        tx = optimizers.get("radam", learning_rate=0.02, eps=0.1)
        ours = jax_trajectory(tx, params0, pytree_loss_jax)["W"]
    theirs = torch_path("RAdam", {"lr": 0.02, "eps": 0.1}, [W0, np.zeros(2)], torch_pytree_loss)
    _close(ours[:5], [p[0] for p in theirs[:5]])  # identical before rectification (t < 6)
    step_ours = np.linalg.norm(np.asarray(ours[5] - ours[4]))
    step_torch = np.linalg.norm(theirs[5][0] - theirs[4][0])
    assert step_torch < 0.5 * step_ours  # torch's eps/sqrt(1-b2^t) = 12.9 eps damps step 6
