"""The optax-style transforms that optax itself lacks, written from the seed's equations.

Each ``scale_by_*`` returns a direction (positive, like optax's); a recipe in ``seed.py`` chains it
with ``optax.scale_by_learning_rate``. Every hyperparameter may be a traced array, so a sweep is a
``vmap`` and a new value never recompiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

ArrayLike = jax.typing.ArrayLike
Bound = Callable[[jax.Array], ArrayLike]  # a trust-ratio bound as a function of the step t


class CountState(NamedTuple):
    """State of a transform that only needs the step number."""

    # ``count`` shadows tuple.count, as in optax's own states
    count: jax.Array  # type: ignore[assignment]  # updates applied so far (t - 1 during step t)


class AccumulatorState(NamedTuple):
    """A per-parameter accumulator and the step count."""

    count: jax.Array  # type: ignore[assignment]
    acc: Any  # same pytree as the params


class MomentsState(NamedTuple):
    """First and second moment estimates (Adam family)."""

    count: jax.Array  # type: ignore[assignment]
    mu: Any
    nu: Any


class LookaheadState(NamedTuple):
    """Lookahead: the inner optimizer's state and the slow weights."""

    inner: Any
    slow: Any  # phi: the slow weights, phi_0 = theta_0
    count: jax.Array  # type: ignore[assignment]  # fast steps taken


def _safe_div(num: ArrayLike, den: jax.Array) -> jax.Array:
    """num / den where den != 0, else 0; no NaN in either branch (gradients stay finite)."""
    nonzero = den != 0
    return jnp.where(nonzero, num / jnp.where(nonzero, den, 1), 0)


def _dtype(tree: Any) -> jnp.dtype:
    dtype: jnp.dtype = jnp.dtype(jax.tree.leaves(tree)[0].dtype)
    return dtype


def _norm(x: jax.Array) -> jax.Array:
    norm: jax.Array = optax.safe_norm(x, 0.0)
    return norm


def _zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def scale_by_accumulated_rms(
    initial_accumulator_value: ArrayLike = 0.0, eps: ArrayLike = 1e-10
) -> optax.GradientTransformation:
    """Adagrad (Duchi et al. 2011), the seed's form: s += g^2; direction g / (sqrt(s) + eps).

    Unlike ``optax.scale_by_rss`` the eps sits outside the root, and an entry with
    sqrt(s) + eps == 0 gets no update instead of a NaN.
    """

    def init_fn(params: Any) -> AccumulatorState:
        acc = jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        return AccumulatorState(count=_zero_count(), acc=acc)

    def update_fn(
        updates: Any, state: AccumulatorState, params: Any = None
    ) -> tuple[Any, AccumulatorState]:
        del params
        acc = jax.tree.map(lambda s, g: s + g * g, state.acc, updates)
        updates = jax.tree.map(lambda g, s: _safe_div(g, jnp.sqrt(s) + eps), updates, acc)
        return updates, AccumulatorState(optax.safe_increment(state.count), acc)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_rms_seeded(
    decay: ArrayLike = 0.9, eps: ArrayLike = 1e-8, initial: str = "gradient"
) -> optax.GradientTransformation:
    """RMSProp (Hinton 2012): s = decay s + (1 - decay) g^2; direction g / (sqrt(s) + eps).

    ``initial="gradient"`` is the seed's sigma_0 = |g_0|: the first step sets s = g^2.
    ``initial="zero"`` starts from s_0 = 0 as torch and optax do.
    """
    if initial not in ("gradient", "zero"):
        raise ValueError(f"initial must be 'gradient' or 'zero', not {initial!r}")

    def init_fn(params: Any) -> AccumulatorState:
        return AccumulatorState(count=_zero_count(), acc=optax.tree.zeros_like(params))

    def update_fn(
        updates: Any, state: AccumulatorState, params: Any = None
    ) -> tuple[Any, AccumulatorState]:
        del params
        acc = optax.tree.update_moment_per_elem_norm(updates, state.acc, decay, 2)
        if initial == "gradient":
            first = state.count == 0
            acc = jax.tree.map(lambda s, g: jnp.where(first, g * g, s), acc, updates)
        updates = jax.tree.map(lambda g, s: _safe_div(g, jnp.sqrt(s) + eps), updates, acc)
        return updates, AccumulatorState(optax.safe_increment(state.count), acc)

    return optax.GradientTransformation(init_fn, update_fn)


def rectification(
    count: jax.Array, b2: ArrayLike, threshold: ArrayLike, dtype: jnp.dtype
) -> tuple[jax.Array, jax.Array]:
    """RAdam's variance rectification at step t = count (Liu et al. 2019), in ``dtype``.

    Returns ``(active, r_t)``: active where rho_t >= threshold; r_t is 1 where inactive and is
    only ever evaluated at rho_t >= 4, where it is real (the square root is NaN for 2 < rho < 4).
    """
    t = count.astype(dtype)
    b2t = b2**t
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho = rho_inf - 2.0 * t * b2t / (1.0 - b2t)
    active = jnp.asarray(rho >= threshold)
    safe_rho = jnp.where(active & (rho >= 4.0), rho, rho_inf)
    r = jnp.sqrt(
        (safe_rho - 4.0)
        * (safe_rho - 2.0)
        * rho_inf
        / ((rho_inf - 4.0) * (rho_inf - 2.0) * safe_rho)
    )
    return active, jnp.where(active, r, 1.0)


def scale_by_rectified_adam(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8, threshold: ArrayLike = 5.0
) -> optax.GradientTransformation:
    """RAdam: r_t m_hat / (sqrt(v_hat) + eps) while rho_t >= threshold, else m_hat.

    The fallback is SGD with bias-corrected momentum (optax, torch, over9000), not a skipped step.
    """

    def init_fn(params: Any) -> MomentsState:
        zeros = optax.tree.zeros_like(params)
        return MomentsState(count=_zero_count(), mu=zeros, nu=zeros)

    def update_fn(
        updates: Any, state: MomentsState, params: Any = None
    ) -> tuple[Any, MomentsState]:
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu, b2, count)
        active, r = rectification(count, b2, threshold, _dtype(updates))
        updates = jax.tree.map(
            lambda m, v: jnp.where(active, r * m / (jnp.sqrt(v) + eps), m), mu_hat, nu_hat
        )
        return updates, MomentsState(count, mu, nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _is_bias(p: jax.Array) -> bool:
    """The peers' exclusion rule: tensors of at most one dimension (biases, norm scales)."""
    return jnp.ndim(p) <= 1


def scale_by_layerwise_momentum(
    momentum: ArrayLike = 0.9,
    weight_decay: ArrayLike = 0.0,
    trust_coefficient: ArrayLike = 1e-3,
    exclude_bias: bool = False,
) -> optax.GradientTransformation:
    """LARS (You et al. 2017), the seed's form, per layer (pytree leaf).

    m = b1 m + (1 - b1)(g + wd theta); lambda = c ||theta|| / (||g|| + wd ||theta||), 1 where
    ||theta|| or ||g|| is 0 (and, with ``exclude_bias``, on leaves of at most one dimension);
    direction lambda m.
    """

    def init_fn(params: Any) -> AccumulatorState:
        return AccumulatorState(count=_zero_count(), acc=optax.tree.zeros_like(params))

    def update_fn(
        updates: Any, state: AccumulatorState, params: Any = None
    ) -> tuple[Any, AccumulatorState]:
        if params is None:
            raise ValueError("lars needs params in update()")
        decayed = jax.tree.map(lambda g, p: g + weight_decay * p, updates, params)
        m = optax.tree.update_moment(decayed, state.acc, momentum, 1)

        def scale(m_leaf: jax.Array, g: jax.Array, p: jax.Array) -> jax.Array:
            if exclude_bias and _is_bias(p):
                return m_leaf
            p_norm, g_norm = _norm(p), _norm(g)
            ratio = _safe_div(trust_coefficient * p_norm, g_norm + weight_decay * p_norm)
            return jnp.where((p_norm == 0) | (g_norm == 0), 1.0, ratio) * m_leaf

        updates = jax.tree.map(scale, m, updates, params)
        return updates, AccumulatorState(optax.safe_increment(state.count), m)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_weight_trust_ratio(
    weight_norm_clip: ArrayLike | None = None, exclude_bias: bool = False
) -> optax.GradientTransformation:
    """LAMB's trust ratio per layer: u * min(||theta||, clip) / ||u||.

    The ratio is 1 where a norm is 0 and, with ``exclude_bias``, on leaves of at most one
    dimension. ``weight_norm_clip=None`` is the paper's (and optax's) unclamped ||theta||; the
    PyTorch ports clamp it at 10.
    """

    def init_fn(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update_fn(
        updates: Any, state: optax.EmptyState, params: Any = None
    ) -> tuple[Any, optax.EmptyState]:
        if params is None:
            raise ValueError("a trust ratio needs params in update()")

        def scale(u: jax.Array, p: jax.Array) -> jax.Array:
            if exclude_bias and _is_bias(p):
                return u
            p_norm, u_norm = _norm(p), _norm(u)
            weight = p_norm if weight_norm_clip is None else jnp.minimum(p_norm, weight_norm_clip)
            ratio = _safe_div(weight, u_norm)
            return jnp.where((weight == 0) | (u_norm == 0), 1.0, ratio) * u

        return jax.tree.map(scale, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_bounded_trust_ratio(lower: Bound, upper: Bound) -> optax.GradientTransformation:
    """Per layer: multiply the direction s by T = max(lower(t), min(upper(t), ||theta|| / ||s||)).

    T = 1 where a norm is 0. ``lower`` and ``upper`` are functions of the step t (from 1, in the
    updates' dtype), so RangerLARS (constant bounds) and Paratrooper (a bound that tightens over
    time) share it.
    """

    def init_fn(params: Any) -> CountState:
        del params
        return CountState(count=_zero_count())

    def update_fn(updates: Any, state: CountState, params: Any = None) -> tuple[Any, CountState]:
        if params is None:
            raise ValueError("a trust ratio needs params in update()")
        count = optax.safe_increment(state.count)
        t = count.astype(_dtype(updates))
        lo, hi = lower(t), upper(t)

        def scale(s: jax.Array, p: jax.Array) -> jax.Array:
            p_norm, s_norm = _norm(p), _norm(s)
            # max(lower, min(upper, ratio)) as written: jnp.clip would return upper when
            # upper < lower (Paratrooper's C_t < 1), where the rule gives lower.
            ratio = jnp.maximum(lo, jnp.minimum(hi, _safe_div(p_norm, s_norm)))
            return jnp.where((p_norm == 0) | (s_norm == 0), 1.0, ratio) * s

        return jax.tree.map(scale, updates, params), CountState(count)

    return optax.GradientTransformation(init_fn, update_fn)


def lookahead(
    inner: optax.GradientTransformation, sync_period: ArrayLike = 5, slow_step_size: ArrayLike = 0.5
) -> optax.GradientTransformationExtraArgs:
    """Lookahead (Zhang et al. 2019) with the slow weights in the state.

    phi_0 = theta_0; the inner optimizer moves the fast weights; at t = k, 2k, ...:
    phi <- phi + alpha (theta - phi) and theta <- phi. Params stay a plain pytree, so the
    runner treats lookahead like any other optimizer.
    """
    fast_tx = optax.with_extra_args_support(inner)

    def init_fn(params: Any) -> LookaheadState:
        return LookaheadState(inner=fast_tx.init(params), slow=params, count=_zero_count())

    def update_fn(
        updates: Any, state: LookaheadState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, LookaheadState]:
        if params is None:
            raise ValueError("lookahead needs params in update()")
        inner_updates, inner_state = fast_tx.update(updates, state.inner, params, **extra_args)
        fast = optax.apply_updates(params, inner_updates)
        count = optax.safe_increment(state.count)
        sync = count % jnp.asarray(sync_period, jnp.int32) == 0
        slow = jax.tree.map(
            lambda s, f: jnp.where(sync, s + slow_step_size * (f - s), s), state.slow, fast
        )
        target = jax.tree.map(lambda s, f: jnp.where(sync, s, f), slow, fast)
        updates = jax.tree.map(lambda x, p: x - p, target, params)
        return updates, LookaheadState(inner_state, slow, count)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
