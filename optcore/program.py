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
    params: jax.Array  # [B, R, d] (d = 0 when not recorded)
    final_loss: jax.Array  # [B] value at the params after the chunk
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

    def pick(axis, a, b):
        if axis is None:
            return a
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

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
    group, such as step counts. Shared counts keep bias corrections (powers) scalar."""

    def init(v, x):
        return optimizer_of(group, v).init(x)

    state = jax.eval_shape(init, values, x0)
    leaves, treedef = jax.tree.flatten(state)
    batched = _depends(init, (values, x0), [False, True, True])

    def update(v, x, g, loss, st):
        return optimizer_of(group, v).update(
            g, st, x, value=loss, grad=g, value_fn=objective.value
        )[1]

    while True:  # the state's own leaves feed back: iterate to a fixed point
        flags = [False, True, True, True, True, *batched]
        new = _depends(
            lambda v, x, g, loss, *st: update(v, x, g, loss, treedef.unflatten(st)),
            (values, x0, x0, jnp.zeros((), x0.dtype), *leaves),
            flags,
        )
        merged = [a or b for a, b in zip(batched, new, strict=True)]
        if merged == batched:
            return treedef.unflatten([0 if b else None for b in batched])
        batched = merged


def _all_finite(x) -> jax.Array:
    return jnp.all(jnp.isfinite(x))


@dataclass(frozen=True)
class Program:
    """Pure functions of one job structure, jitted and compiled once by the runner."""

    objective: Objective
    groups: tuple[Group, ...]
    every: int
    records_per_block: int
    blocks_per_chunk: int
    record_params: bool
    stopping: tuple[bool, bool, bool]  # which of tolerance, grad_tolerance, target_loss apply

    @property
    def block_len(self) -> int:
        return self.every * self.records_per_block

    @property
    def chunk_len(self) -> int:
        return self.block_len * self.blocks_per_chunk

    def carry_axes(self, group: Group, values, x0) -> Carry:
        spec = jax.ShapeDtypeStruct
        shared, varying = values
        one_run = (spec(shared.shape, shared.dtype), spec(varying.shape[1:], varying.dtype))
        axes = state_axes(group, self.objective, one_run, spec(x0.shape[1:], x0.dtype))
        return Carry(0, axes, 0, 0, 0, 0, 0, 0)

    def init(self, hparams, starts, keys):
        def one(group, values, x0, key):
            opt = optimizer_of(group, values)
            zero = jnp.zeros([], jnp.int32)
            return Carry(
                x0, opt.init(x0), key, zero, zero, zero - 1, jnp.asarray(jnp.inf, x0.dtype), zero
            )

        return tuple(
            jax.vmap(
                lambda v, x, k, g=g: one(g, v, x, k),
                in_axes=(VALUE_AXES, 0, 0),
                out_axes=self.carry_axes(g, hp, x0),
            )(hp, x0, key)
            for g, hp, x0, key in zip(self.groups, hparams, starts, keys, strict=True)
        )

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
        moved, ((loss, gnorm, xs), events) = jax.lax.scan(
            lambda c, _: (lambda m, r, e: (m, (r, e)))(*fast(c, values)),
            carry,
            length=self.blocks_per_chunk,
        )
        crosses = carry.step + self.chunk_len > limits.steps
        needs_exact = jnp.any(active & (jnp.any(events, axis=0) | crosses))
        valid = jnp.broadcast_to(active[None, :, None], loss.shape)
        moved = _select(active, moved, carry, axes)  # runs stopped before stay put
        return moved, self._records(moved, loss, gnorm, valid, xs), needs_exact

    def _exact_chunk(self, group: Group, carry: Carry, values, limits: Limits):
        _, exact = self._blocks(group, carry, values, limits, self._exact_block)
        carry, (loss, gnorm, valid, xs) = jax.lax.scan(
            lambda c, _: (lambda m, r, _e: (m, r))(*exact(c, values)),
            carry,
            length=self.blocks_per_chunk,
        )
        return carry, self._records(carry, loss, gnorm, valid, xs)

    def _records(self, carry: Carry, loss, gnorm, valid, xs) -> Records:
        def runs_first(a):  # [blocks, B, R, ...] -> [B, blocks * R, ...]
            a = jnp.moveaxis(a, 1, 0)
            return a.reshape(a.shape[0], -1, *a.shape[3:])

        final_loss, final_grad = jax.vmap(jax.value_and_grad(self.objective.value))(carry.params)
        return Records(
            runs_first(loss),
            runs_first(gnorm),
            runs_first(valid),
            runs_first(xs),
            final_loss,
            jax.vmap(optax.tree.norm)(final_grad),
        )

    def _sample(self, key):
        if self.objective.stochastic:
            return jax.random.split(key)
        return key, None

    def _recorded(self, step, state, x_of):
        """A block: ``records_per_block`` times, record the first step, then take the rest
        of ``every`` steps without outputs. (A scan with per-step outputs inside the record
        loop costs a copy of them per record: three times a bare scan for a sweep.)"""

        def record(s, _):
            x = x_of(s)
            s, first = step(s)
            if self.every > 1:
                s = jax.lax.fori_loop(0, self.every - 1, lambda i, s: step(s)[0], s)
            return s, (*first, x if self.record_params else x[:0])

        return jax.lax.scan(record, state, length=self.records_per_block)

    def _fast_block(self, group: Group, c: Carry, values, limits: Limits):
        """Plain steps, as a hand-written scan would take them, noting (not acting on) what
        the exact path must look at: a non-finite value or a stopping rule met."""
        opt = optimizer_of(group, values)
        loss_and_grad = jax.value_and_grad(self.objective.loss)
        use_tol, use_gtol, use_target = self.stopping

        def step(s):
            x, opt_state, key, t, best, best_t, event = s
            key, sample = self._sample(key)
            loss, grad = loss_and_grad(x, sample)
            gnorm = optax.tree.norm(grad)
            updates, opt_state = opt.update(
                grad, opt_state, x, value=loss, grad=grad, value_fn=self.objective.value
            )
            x_next = x + updates
            if use_target:
                event = event | (loss <= limits.target_loss)
            if use_gtol:
                event = event | (gnorm <= limits.grad_tolerance)
            if use_tol:
                event = event | (jnp.linalg.norm(x_next - x) <= limits.tolerance)
            improved = loss < best
            best, best_t = jnp.where(improved, loss, best), jnp.where(improved, t, best_t)
            return (x_next, opt_state, key, t + 1, best, best_t, event), (loss, gnorm)

        state = (
            c.params,
            c.opt_state,
            c.key,
            c.step,
            c.best_loss,
            c.best_step,
            jnp.zeros((), bool),
        )
        state, records = self._recorded(step, state, lambda s: s[0])
        x, opt_state, key, t, best, best_t, event = state
        # Non-finite values, checked once per block rather than per step (which cost 40%):
        # a NaN or Inf loss or gradient reaches the params, the recorded losses or the best.
        event = event | ~_all_finite(x) | jnp.any(~jnp.isfinite(records[0])) | ~jnp.isfinite(best)
        moved = Carry(x, opt_state, key, t, c.status, c.diverged_at, best, best_t)
        return moved, records, event

    def _exact_block(self, group: Group, c: Carry, values, limits: Limits):
        """Every step checked: a run freezes at the step it converges or diverges."""
        opt = optimizer_of(group, values)
        loss_and_grad = jax.value_and_grad(self.objective.loss)
        use_tol, use_gtol, use_target = self.stopping

        def step(c: Carry):
            active = (c.status == RUNNING) & (c.step < limits.steps)
            key, sample = self._sample(c.key)
            x = c.params
            loss, grad = loss_and_grad(x, sample)
            gnorm = optax.tree.norm(grad)
            updates, opt_state = opt.update(
                grad, c.opt_state, x, value=loss, grad=grad, value_fn=self.objective.value
            )
            x_next = x + updates
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
                stop |= proceed & (jnp.linalg.norm(x_next - x) <= limits.tolerance)
            improved = active & ~bad_here & (loss < c.best_loss)
            new = Carry(
                params=jnp.where(proceed, x_next, x),
                opt_state=opt_state,  # read only while the run goes on
                key=key,
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
