"""The seed's optimizers as typed optax recipes, with the defaults of OPTIMIZERS.md.

Each recipe is a plain function, ``paratrooper(learning_rate=1e-3, b1=0.95, ...)``, returning an
``optax.GradientTransformation``; its catalog entry (``seed_catalog.py``) reads names, defaults
and types from the signature and only adds ranges and meanings, so no default is written twice.
Where optax computes exactly the seed's rule it is used as is; the rest is in ``transforms.py``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import jax
import jax.numpy as jnp
import optax

from . import transforms as tx

Scalar: TypeAlias = float | jax.Array  # a number, or a traced array when the runner vmaps
Count: TypeAlias = int | jax.Array
LearningRate: TypeAlias = optax.ScalarOrSchedule


def _with_lr(
    direction: optax.GradientTransformation, learning_rate: LearningRate
) -> optax.GradientTransformation:
    return optax.chain(direction, optax.scale_by_learning_rate(learning_rate))


def gd(learning_rate: LearningRate = 1e-3) -> optax.GradientTransformation:
    """Plain gradient descent: a fixed step against the gradient."""
    return optax.scale_by_learning_rate(learning_rate)


def sgd(learning_rate: LearningRate = 1e-3) -> optax.GradientTransformation:
    """Stochastic gradient descent: the gd rule on minibatch gradients."""
    return optax.scale_by_learning_rate(learning_rate)


def momentum(
    learning_rate: LearningRate = 1e-3, momentum: Scalar = 0.9
) -> optax.GradientTransformation:
    """Heavy-ball momentum (Polyak), the seed's form."""
    return optax.chain(optax.scale_by_learning_rate(learning_rate), optax.trace(momentum))


def nesterov(
    learning_rate: LearningRate = 1e-3, momentum: Scalar = 0.9
) -> optax.GradientTransformation:
    """Nesterov momentum in the seed's reparametrised form (no shifted gradient)."""
    return optax.chain(
        optax.scale_by_learning_rate(learning_rate), optax.trace(momentum, nesterov=True)
    )


def adagrad(
    learning_rate: LearningRate = 1e-2,
    eps: Scalar = 1e-10,
    initial_accumulator_value: Scalar = 0.0,
) -> optax.GradientTransformation:
    """Adagrad: per-parameter steps scaled by the accumulated squared gradients."""
    return _with_lr(tx.scale_by_accumulated_rms(initial_accumulator_value, eps), learning_rate)


def rmsprop(
    learning_rate: LearningRate = 1e-3,
    decay: Scalar = 0.9,
    eps: Scalar = 1e-8,
    initial: Literal["gradient", "zero"] = "gradient",
) -> optax.GradientTransformation:
    """RMSProp: steps scaled by a moving average of squared gradients."""
    return _with_lr(tx.scale_by_rms_seeded(decay, eps, initial), learning_rate)


def adam(
    learning_rate: LearningRate = 1e-3, b1: Scalar = 0.9, b2: Scalar = 0.999, eps: Scalar = 1e-8
) -> optax.GradientTransformation:
    """Adam: bias-corrected first and second moment estimates."""
    return _with_lr(optax.scale_by_adam(b1, b2, eps), learning_rate)


def adamw(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 1e-2,
) -> optax.GradientTransformation:
    """AdamW: Adam with decoupled weight decay."""
    return optax.chain(
        optax.scale_by_adam(b1, b2, eps),
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_learning_rate(learning_rate),
    )


def _radam_direction(
    b1: Scalar, b2: Scalar, eps: Scalar, weight_decay: Scalar, threshold: Scalar
) -> optax.GradientTransformation:
    return optax.chain(
        tx.scale_by_rectified_adam(b1, b2, eps, threshold), optax.add_decayed_weights(weight_decay)
    )


def radam(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-8,
    weight_decay: Scalar = 0.0,
    threshold: Scalar = 5.0,
) -> optax.GradientTransformation:
    """Rectified Adam: Adam with variance rectification, SGD-momentum before it is tractable."""
    return _with_lr(_radam_direction(b1, b2, eps, weight_decay, threshold), learning_rate)


def lookahead(
    inner: optax.GradientTransformation, sync_period: Count = 5, slow_step_size: Scalar = 0.5
) -> optax.GradientTransformation:
    """Lookahead: k fast steps of an inner optimizer, then the slow weights move part of the way."""
    return tx.lookahead(inner, sync_period, slow_step_size)


def ranger(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.95,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-5,
    weight_decay: Scalar = 0.0,
    threshold: Scalar = 5.0,
    sync_period: Count = 6,
    slow_step_size: Scalar = 0.5,
) -> optax.GradientTransformation:
    """Ranger: lookahead around RAdam(W)."""
    inner = radam(learning_rate, b1, b2, eps, weight_decay, threshold)
    return tx.lookahead(inner, sync_period, slow_step_size)


def lars(
    learning_rate: LearningRate = 1.0,
    momentum: Scalar = 0.9,
    weight_decay: Scalar = 0.0,
    trust_coefficient: Scalar = 1e-3,
    exclude_bias: bool = False,
) -> optax.GradientTransformation:
    """LARS: momentum SGD with a per-layer trust ratio (seed form)."""
    direction = tx.scale_by_layerwise_momentum(
        momentum, weight_decay, trust_coefficient, exclude_bias
    )
    return _with_lr(direction, learning_rate)


def lamb(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.9,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-6,
    weight_decay: Scalar = 0.0,
    weight_norm_clip: Scalar | None = None,
    exclude_bias: bool = False,
) -> optax.GradientTransformation:
    """LAMB: Adam direction plus decay, scaled per layer by ||theta|| / ||update||."""
    return optax.chain(
        optax.scale_by_adam(b1, b2, eps),
        optax.add_decayed_weights(weight_decay),
        tx.scale_by_weight_trust_ratio(weight_norm_clip, exclude_bias),
        optax.scale_by_learning_rate(learning_rate),
    )


def _rectified_trust(
    learning_rate: LearningRate,
    b1: Scalar,
    b2: Scalar,
    eps: Scalar,
    weight_decay: Scalar,
    threshold: Scalar,
    lower: tx.Bound,
    upper: tx.Bound,
    sync_period: Count,
    slow_step_size: Scalar,
) -> optax.GradientTransformation:
    inner = optax.chain(
        _radam_direction(b1, b2, eps, weight_decay, threshold),
        tx.scale_by_bounded_trust_ratio(lower, upper),
        optax.scale_by_learning_rate(learning_rate),
    )
    return tx.lookahead(inner, sync_period, slow_step_size)


def ranger_lars(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.95,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-6,
    weight_decay: Scalar = 0.0,
    threshold: Scalar = 5.0,
    trust_clip: Scalar = 10.0,
    sync_period: Count = 6,
    slow_step_size: Scalar = 0.5,
) -> optax.GradientTransformation:
    """RangerLARS (Over9000): RAdam direction with a clipped per-layer trust ratio, in lookahead."""
    return _rectified_trust(
        learning_rate,
        b1,
        b2,
        eps,
        weight_decay,
        threshold,
        lambda t: 0.0,
        lambda t: trust_clip,
        sync_period,
        slow_step_size,
    )


def paratrooper_cap(
    t: jax.Array, b1: Scalar, b2: Scalar, threshold: Scalar, trust_clip: Scalar
) -> jax.Array:
    """C_t = 1 / (r_t b_t) while rectification is active, trust_clip before it."""
    active, r = tx.rectification(t, b2, threshold, t.dtype)
    rb = r * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    usable = active & (rb > 0)
    return jnp.where(usable, 1.0 / jnp.where(usable, rb, 1.0), trust_clip)


def paratrooper(
    learning_rate: LearningRate = 1e-3,
    b1: Scalar = 0.95,
    b2: Scalar = 0.999,
    eps: Scalar = 1e-6,
    weight_decay: Scalar = 0.0,
    threshold: Scalar = 5.0,
    trust_clip: Scalar = 10.0,
    sync_period: Count = 6,
    slow_step_size: Scalar = 0.5,
) -> optax.GradientTransformation:
    """Paratrooper: RangerLARS whose trust ratio is max(1, min(C_t, ratio)), Ranger over time."""
    return _rectified_trust(
        learning_rate,
        b1,
        b2,
        eps,
        weight_decay,
        threshold,
        lambda t: 1.0,
        lambda t: paratrooper_cap(t, b1, b2, threshold, trust_clip),
        sync_period,
        slow_step_size,
    )
