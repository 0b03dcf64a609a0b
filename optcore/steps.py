"""What a program's steps are made of, apart from the optimizer: the objective's loss and
gradient and the gradient norm, each jitted once and shared by every program (JAX traces a
jitted function once per argument shapes), a run's starting params, and the checks a call
makes of its steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, cast

import jax
import jax.numpy as jnp
import optax

from .memo import Remembered
from .objectives import AnyObjective
from .trees import PyTree


def best_recorded(
    loss: jax.Array, live: jax.Array, best: jax.Array, best_t: jax.Array, t0: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The best loss and its step, from a call's record of every step (slot r is step
    t0 + r) and the best before it: what tracking ``loss < best`` step by step gives (the
    first of equal losses; NaN never best)."""
    seen = jnp.where(live & ~jnp.isnan(loss), loss, jnp.inf)
    at = jnp.argmin(seen, axis=1)
    lowest = jnp.take_along_axis(seen, at[:, None], axis=1)[:, 0]
    improved = lowest < best
    return jnp.where(improved, lowest, best), jnp.where(improved, t0 + at, best_t).astype(
        best_t.dtype
    )


# a gradient's norm, traced once per shape for every program (a step, a record's peek, the
# finals); a step's move keeps optax's inline norm, which a tolerance stop was measured with
grad_norm = jax.jit(optax.tree.norm)


def all_finite(tree: PyTree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def where_tree(cond: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def distance_moved(new: PyTree, old: PyTree) -> jax.Array:
    return cast(jax.Array, optax.tree.norm(jax.tree.map(jnp.subtract, new, old)))


def first_params(objective: AnyObjective, x0: jax.Array, key: jax.Array) -> PyTree:
    """A run's starting params: its start point ``x0``, or a network's initialisation drawn
    from the run's key (``x0`` then only gives the dtype)."""
    if objective.vector:
        return x0
    return objective.init_params(jax.random.fold_in(key, 0), x0.dtype)


LossAndGrad: TypeAlias = Callable[[PyTree, jax.Array, jax.Array], tuple[jax.Array, PyTree]]
_LOSS_AND_GRAD: Remembered[LossAndGrad] = Remembered(64)  # per objective


def loss_and_grad_of(objective: AnyObjective) -> LossAndGrad:
    """The objective's jitted (params, data key, step) -> loss, gradient, one per objective
    (its ``cache_key``) for every program: JAX traces a jitted function once per argument
    shapes, so a race's programs (six optimizers on one objective in Figure 1) trace the
    gradient once between them, not once each (a sixth of their tracing). Two threads
    building the first programs of an objective at once may each make one; one is kept."""
    return _LOSS_AND_GRAD.get(objective.cache_key(), lambda: _jitted_loss_and_grad(objective))


def _jitted_loss_and_grad(objective: AnyObjective) -> LossAndGrad:
    value_and_grad = jax.value_and_grad(objective.loss)

    def loss_and_grad(x: PyTree, key: jax.Array, t: jax.Array) -> tuple[jax.Array, PyTree]:
        if objective.stochastic:
            return cast(tuple[jax.Array, PyTree], value_and_grad(x, jax.random.fold_in(key, 1), t))
        return cast(tuple[jax.Array, PyTree], value_and_grad(x))

    jitted: LossAndGrad = jax.jit(loss_and_grad)
    return jitted
