"""The compiled program of one job structure: per group, a scan over blocks of steps.

A chunk runs first on a fast path: plain steps, like a hand-written ``lax.scan``, that only
note whether something happened (a non-finite value, a stopping rule met, the last step
passed). Only when that is so for a run still going does the runner run the chunk again on
the exact path, which checks every step and freezes a run at the step it stops. Stopping is
therefore exact while the common case costs what a bare scan costs: a data-dependent ``where``
on every step breaks XLA's fusion (several times slower), and even one ``lax.cond`` per chunk
costs more than a host round trip here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.extend.core
import jax.flatten_util
import jax.numpy as jnp
import optax

from . import optimizers
from .objectives import Objective

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
TRACED = "<traced>"


class Carry(NamedTuple):
    """Per-run state between blocks."""

    params: jax.Array
    opt_state: Any
    key: jax.Array
    step: jax.Array  # updates applied
    status: jax.Array  # RUNNING | CONVERGED | DIVERGED
    diverged_at: jax.Array  # step where a non-finite value appeared, -1 if none
    best_loss: jax.Array
    best_step: jax.Array


class Limits(NamedTuple):
    """Job-wide stopping rules, traced so that changing them never recompiles."""

    steps: jax.Array
    tolerance: jax.Array  # on ||x_{t+1} - x_t||
    grad_tolerance: jax.Array
    target_loss: jax.Array


class Records(NamedTuple):
    """What a chunk records every ``every`` steps, and the value after it ([B, ...] each)."""

    loss: jax.Array  # [B, R]
    grad_norm: jax.Array  # [B, R]
    valid: jax.Array  # [B, R] the run was still going at that step
    params: jax.Array  # [B, R, d]: the params (or flattened) when recorded, else d = 0
    validation: jax.Array  # [B, R] held-out loss ([B, R] zeros when none)
    final_loss: jax.Array  # [B] value at the params after the chunk
    final_validation: jax.Array  # [B] held-out loss there (zeros when none)
    final_grad_norm: jax.Array  # [B]


@dataclass(frozen=True)
class Group:
    """Runs that share one optimizer structure."""

    template: dict  # the config with traced numbers replaced by TRACED
    paths: tuple[tuple[str, ...], ...]
    members: tuple[int, ...]  # indices into the job's runs
    varying: tuple[bool, ...]  # per path: differs between members (else one shared value)

    @property
    def key(self) -> tuple:
        return json.dumps(self.template, sort_keys=True), self.varying


def _with(config: dict, path: tuple[str, ...], value) -> dict:
    head, *rest = path
    out = dict(config)
    out[head] = value if not rest else _with(config[head], tuple(rest), value)
    return out


def optimizer_of(group: Group, values) -> optax.GradientTransformationExtraArgs:
    """The group's optimizer with traced numbers: ``values = (shared, varying)``.

    Shared values are the same for every run of the group and are passed unbatched, so work
    that depends only on them (Adam's bias correction b2**t) is done once, not once per run.
    """
    shared, varying = values
    config, s, v = group.template, 0, 0
    for path, varies in zip(group.paths, group.varying, strict=True):
        if varies:
            config, v = _with(config, path, varying[v]), v + 1
        else:
            config, s = _with(config, path, shared[s]), s + 1
    return optax.with_extra_args_support(optimizers.build(config))


VALUE_AXES = (None, 0)  # vmap axes of (shared, varying)


def _select(mask: jax.Array, new, old, axes):
    """Per run: the new pytree where mask, else the old; leaves shared by the group (axis
    None, such as step counts, which advance in lockstep) are always the new."""

    def leaf(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    def pick(axis, a, b):  # an axis may stand for a whole subtree (the params)
        return a if axis is None else jax.tree.map(leaf, a, b)

    return jax.tree.map(pick, axes, new, old, is_leaf=lambda x: x is None)


def _depends(fn, args, batched: list[bool]) -> list[bool]:
    """Which outputs of ``fn(*args)`` depend on the batched inputs (flattened order).

    A forward pass over the jaxpr that counts an equation's outputs as dependent when any
    input is: conservative, so it may say batched where a value is shared, never the reverse.
    """
    closed = jax.make_jaxpr(fn)(*args)
    dep: dict[Any, bool] = dict(zip(closed.jaxpr.invars, batched, strict=True))

    def of(v) -> bool:
        return not isinstance(v, jax.extend.core.Literal) and dep.get(v, False)

    for eqn in closed.jaxpr.eqns:
        d = any(of(v) for v in eqn.invars)
        for out in eqn.outvars:
            dep[out] = d
    return [of(v) for v in closed.jaxpr.outvars]


def state_axes(group: Group, objective: Objective, values, x0):
    """vmap axes of the optimizer state: 0 for per-run leaves, None for leaves shared by the
    group, such as step counts. Shared counts keep bias corrections (powers) scalar.
    ``values`` is one run's (shared, varying); ``x0`` one run's params (shapes suffice)."""

    def init(v, x):
        return optimizer_of(group, v).init(x)

    state = jax.eval_shape(init, values, x0)
    leaves, treedef = jax.tree.flatten(state)
    per_run = len(jax.tree.leaves(x0))
    value_flags = [False, True]  # shared, varying
    batched = _depends(init, (values, x0), value_flags + [True] * per_run)
    loss = jax.ShapeDtypeStruct((), jax.tree.leaves(x0)[0].dtype)

    def update(v, x, g, value, *st):
        return optimizer_of(group, v).update(
            g, treedef.unflatten(st), x, value=value, grad=g, value_fn=objective.value
        )[1]

    while True:  # the state's own leaves feed back: iterate to a fixed point
        flags = value_flags + [True] * (2 * per_run + 1) + batched
        new = _depends(update, (values, x0, x0, loss, *leaves), flags)
        merged = [a or b for a, b in zip(batched, new, strict=True)]
        if merged == batched:
            return treedef.unflatten([0 if b else None for b in batched])
        batched = merged


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _where(cond, new, old):
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _moved(new, old) -> jax.Array:
    return optax.tree.norm(jax.tree.map(jnp.subtract, new, old))


NO_SNAPSHOT, VECTOR, FLAT = "none", "vector", "flat"


def first_params(objective, x0, key):
    """A run's starting params: its start point ``x0``, or a network's initialisation drawn
    from the run's key (``x0`` then only gives the dtype)."""
    if objective.vector:
        return x0
    return objective.init_params(jax.random.fold_in(key, 0), x0.dtype)


@dataclass(frozen=True)
class Program:
    """Pure functions of one job structure, jitted and compiled once by the runner."""

    objective: Objective
    groups: tuple[Group, ...]
    every: int
    records_per_block: int
    blocks_per_chunk: int
    snapshot: str  # what of the params is recorded: VECTOR (<= 3-D), FLAT (for a plane), none
    stopping: tuple[bool, bool, bool]  # which of tolerance, grad_tolerance, target_loss apply

    @property
    def record_params(self) -> bool:
        return self.snapshot != NO_SNAPSHOT

    def _snap(self, params) -> jax.Array:
        if self.snapshot == VECTOR:
            return params
        if self.snapshot == FLAT:
            return jax.flatten_util.ravel_pytree(params)[0]
        return jnp.zeros((0,), jax.tree.leaves(params)[0].dtype)

    def _held_out(self, params) -> jax.Array:
        if self.objective.has_validation:
            return self.objective.validation(params)
        return jnp.zeros((), jax.tree.leaves(params)[0].dtype)

    def _first_params(self, x0, key):
        return first_params(self.objective, x0, key)

    @property
    def block_len(self) -> int:
        return self.every * self.records_per_block

    @property
    def chunk_len(self) -> int:
        return self.block_len * self.blocks_per_chunk

    def carry_axes(self, group: Group, values, params) -> Carry:
        """``params``: the batched params (any pytree), for their shapes."""
        spec = jax.ShapeDtypeStruct
        shared, varying = values
        one_run = (spec(shared.shape, shared.dtype), spec(varying.shape[1:], varying.dtype))
        one_params = jax.tree.map(lambda a: spec(a.shape[1:], a.dtype), params)
        axes = state_axes(group, self.objective, one_run, one_params)
        return Carry(0, axes, 0, 0, 0, 0, 0, 0)

    def init(self, hparams, starts, keys):
        def one(group, values, x0, key):
            params = self._first_params(x0, key)
            zero = jnp.zeros([], jnp.int32)
            inf = jnp.asarray(jnp.inf, x0.dtype)
            state = optimizer_of(group, values).init(params)
            return Carry(params, state, key, zero, zero, zero - 1, inf, zero)

        out = []
        for g, hp, x0, key in zip(self.groups, hparams, starts, keys, strict=True):
            params = jax.eval_shape(jax.vmap(self._first_params), x0, key)
            out.append(
                jax.vmap(
                    lambda v, x, k, g=g: one(g, v, x, k),
                    in_axes=(VALUE_AXES, 0, 0),
                    out_axes=self.carry_axes(g, hp, params),
                )(hp, x0, key)
            )
        return tuple(out)

    def chunk(self, carries, hparams, limits: Limits):
        """The fast path over one chunk: ``(carries, records, needs_exact)``."""
        outs = [
            self._fast_chunk(g, carry, hp, limits)
            for g, carry, hp in zip(self.groups, carries, hparams, strict=True)
        ]
        return (
            tuple(o[0] for o in outs),
            tuple(o[1] for o in outs),
            jnp.any(jnp.stack([o[2] for o in outs])),
        )

    def exact_chunk(self, carries, hparams, limits: Limits):
        """The exact path over the same chunk, from the same carries."""
        outs = [
            self._exact_chunk(g, carry, hp, limits)
            for g, carry, hp in zip(self.groups, carries, hparams, strict=True)
        ]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs)

    def _blocks(self, group: Group, carry: Carry, values, limits: Limits, block):
        axes = self.carry_axes(group, values, carry.params)
        return axes, jax.vmap(
            lambda c, v: block(group, c, v, limits),
            in_axes=(axes, VALUE_AXES),
            out_axes=(axes, 0, 0),
        )

    def _fast_chunk(self, group: Group, carry: Carry, values, limits: Limits):
        axes, fast = self._blocks(group, carry, values, limits, self._fast_block)
        active = (carry.status == RUNNING) & (carry.step < limits.steps)
        moved, ((loss, gnorm, held, xs), events) = jax.lax.scan(
            lambda c, _: (lambda m, r, e: (m, (r, e)))(*fast(c, values)),
            carry,
            length=self.blocks_per_chunk,
        )
        crosses = carry.step + self.chunk_len > limits.steps
        needs_exact = jnp.any(active & (jnp.any(events, axis=0) | crosses))
        valid = jnp.broadcast_to(active[None, :, None], loss.shape)
        moved = _select(active, moved, carry, axes)  # runs stopped before stay put
        return moved, self._records(moved, loss, gnorm, valid, xs, held), needs_exact

    def _exact_chunk(self, group: Group, carry: Carry, values, limits: Limits):
        _, exact = self._blocks(group, carry, values, limits, self._exact_block)
        carry, (loss, gnorm, valid, held, xs) = jax.lax.scan(
            lambda c, _: (lambda m, r, _e: (m, r))(*exact(c, values)),
            carry,
            length=self.blocks_per_chunk,
        )
        return carry, self._records(carry, loss, gnorm, valid, xs, held)

    def _records(self, carry: Carry, loss, gnorm, valid, xs, held) -> Records:
        def runs_first(a):  # [blocks, B, R, ...] -> [B, blocks * R, ...]
            a = jnp.moveaxis(a, 1, 0)
            return a.reshape(a.shape[0], a.shape[1] * a.shape[2], *a.shape[3:])

        final_loss, final_grad = jax.vmap(jax.value_and_grad(self.objective.value))(carry.params)
        return Records(
            runs_first(loss),
            runs_first(gnorm),
            runs_first(valid),
            runs_first(xs),
            runs_first(held),
            final_loss,
            jax.vmap(self._held_out)(carry.params),
            jax.vmap(optax.tree.norm)(final_grad),
        )

    def _recorded(self, step, state, params_of):
        """A block: ``records_per_block`` times, record the first step, then take the rest
        of ``every`` steps without outputs. (A scan with per-step outputs inside the record
        loop costs a copy of them per record: three times a bare scan for a sweep.)"""

        def record(s, _):
            params = params_of(s)
            s, first = step(s)
            if self.every > 1:
                s = jax.lax.fori_loop(0, self.every - 1, lambda i, s: step(s)[0], s)
            return s, (*first, self._held_out(params), self._snap(params))

        return jax.lax.scan(record, state, length=self.records_per_block)

    def _loss_and_grad(self):
        """(params, data key, step) -> loss, gradient; a network's batches come from the key
        and the step, a noisy objective's draws too."""
        objective = self.objective
        value_and_grad = jax.value_and_grad(objective.loss)
        if objective.stochastic:
            return lambda x, key, t: value_and_grad(x, jax.random.fold_in(key, 1), t)
        return lambda x, key, t: value_and_grad(x)

    def _fast_block(self, group: Group, c: Carry, values, limits: Limits):
        """Plain steps, as a hand-written scan would take them, noting (not acting on) what
        the exact path must look at: a non-finite value or a stopping rule met."""
        opt = optimizer_of(group, values)
        loss_and_grad = self._loss_and_grad()
        use_tol, use_gtol, use_target = self.stopping

        def step(s):
            x, opt_state, t, best, best_t, event = s
            loss, grad = loss_and_grad(x, c.key, t)
            gnorm = optax.tree.norm(grad)
            updates, opt_state = opt.update(
                grad, opt_state, x, value=loss, grad=grad, value_fn=self.objective.value
            )
            x_next = optax.apply_updates(x, updates)
            if use_target:
                event = event | (loss <= limits.target_loss)
            if use_gtol:
                event = event | (gnorm <= limits.grad_tolerance)
            if use_tol:
                event = event | (_moved(x_next, x) <= limits.tolerance)
            improved = loss < best
            best, best_t = jnp.where(improved, loss, best), jnp.where(improved, t, best_t)
            return (x_next, opt_state, t + 1, best, best_t, event), (loss, gnorm)

        state = (c.params, c.opt_state, c.step, c.best_loss, c.best_step, jnp.zeros((), bool))
        state, (loss, gnorm, held, xs) = self._recorded(step, state, lambda s: s[0])
        x, opt_state, t, best, best_t, event = state
        # Non-finite values, checked once per block rather than per step (which cost 40%):
        # a NaN or Inf loss or gradient reaches the params, the recorded losses or the best.
        event = event | ~_all_finite(x) | jnp.any(~jnp.isfinite(loss)) | ~jnp.isfinite(best)
        moved = Carry(x, opt_state, c.key, t, c.status, c.diverged_at, best, best_t)
        return moved, (loss, gnorm, held, xs), event

    def _exact_block(self, group: Group, c: Carry, values, limits: Limits):
        """Every step checked: a run freezes at the step it converges or diverges."""
        opt = optimizer_of(group, values)
        loss_and_grad = self._loss_and_grad()
        use_tol, use_gtol, use_target = self.stopping

        def step(c: Carry):
            active = (c.status == RUNNING) & (c.step < limits.steps)
            x = c.params
            loss, grad = loss_and_grad(x, c.key, c.step)
            gnorm = optax.tree.norm(grad)
            updates, opt_state = opt.update(
                grad, c.opt_state, x, value=loss, grad=grad, value_fn=self.objective.value
            )
            x_next = optax.apply_updates(x, updates)
            bad_here = ~jnp.isfinite(loss)
            bad = bad_here | ~_all_finite(x_next)
            at_target = jnp.zeros((), bool)
            if use_target:
                at_target |= loss <= limits.target_loss
            if use_gtol:
                at_target |= gnorm <= limits.grad_tolerance
            proceed = active & ~bad & ~at_target
            stop = active & ~bad_here & at_target
            if use_tol:
                stop |= proceed & (_moved(x_next, x) <= limits.tolerance)
            improved = active & ~bad_here & (loss < c.best_loss)
            new = Carry(
                params=_where(proceed, x_next, x),
                opt_state=opt_state,  # read only while the run goes on
                key=c.key,
                step=c.step + proceed.astype(jnp.int32),
                status=jnp.where(active & bad, DIVERGED, jnp.where(stop, CONVERGED, c.status)),
                diverged_at=jnp.where(
                    active & bad, c.step + (~bad_here).astype(jnp.int32), c.diverged_at
                ),
                best_loss=jnp.where(improved, loss, c.best_loss),
                best_step=jnp.where(improved, c.step, c.best_step),
            )
            return new, (loss, gnorm, active)

        c, records = self._recorded(step, c, lambda s: s.params)
        return c, records, None
