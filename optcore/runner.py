"""The fused runner: a job's runs as one jitted program of ``vmap``-ed ``lax.scan``s.

Runs whose optimizer has the same structure (same names, same static options) form a group
and are stacked with ``vmap``; their hyperparameters, starts and seeds are traced arrays, so a
job that differs only in those reuses the compiled program. Steps run in chunks of static
length so progress can be reported and a cancel can land between chunks; a run that stops
(converged, diverged) freezes while the rest of its group goes on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import optimizers
from .objectives import Objective
from .spec import Job, PlannedRun

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
DEFAULT_CHUNK_STEPS = 10_000
TRACED = "<traced>"


class Carry(NamedTuple):
    """Per-run state between steps."""

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
    tolerance: jax.Array  # on ||x_{t+1} - x_t||; negative: off
    grad_tolerance: jax.Array  # negative: off
    target_loss: jax.Array  # -inf: off


class Records(NamedTuple):
    """What one chunk records, every ``every`` steps, and the state after it."""

    loss: jax.Array  # [R]
    grad_norm: jax.Array  # [R]
    valid: jax.Array  # [R] the run was still going at that step
    params: jax.Array  # [R, d] (or [R, 0] when not recorded)
    final_loss: jax.Array  # value at the params after the chunk
    final_grad_norm: jax.Array


@dataclass(frozen=True)
class Group:
    """Runs that share one optimizer structure."""

    template: dict  # the config with traced numbers replaced by TRACED
    paths: tuple[tuple[str, ...], ...]
    members: tuple[int, ...]  # indices into the job's runs

    @property
    def key(self) -> str:
        return json.dumps(self.template, sort_keys=True)


def _get(config: dict, path: tuple[str, ...]):
    for part in path:
        config = config[part]
    return config


def _with(config: dict, path: tuple[str, ...], value) -> dict:
    head, *rest = path
    out = dict(config)
    out[head] = value if not rest else _with(config[head], tuple(rest), value)
    return out


def _template(config: dict, paths) -> dict:
    for path in paths:
        config = _with(config, path, TRACED)
    return config


def group_runs(runs: list[PlannedRun]) -> list[Group]:
    groups: dict[str, list[int]] = {}
    templates: dict[str, tuple[dict, tuple]] = {}
    for i, run in enumerate(runs):
        paths = tuple(optimizers.traced_paths(run.config))
        template = _template(run.config, paths)
        key = json.dumps(template, sort_keys=True)
        groups.setdefault(key, []).append(i)
        templates[key] = (template, paths)
    return [Group(templates[k][0], templates[k][1], tuple(v)) for k, v in groups.items()]


def _optimizer(group: Group, values: jax.Array) -> optax.GradientTransformationExtraArgs:
    config = group.template
    for i, path in enumerate(group.paths):
        config = _with(config, path, values[i])
    return optax.with_extra_args_support(optimizers.build(config))


def _tree_where(cond, new, old):
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _all_finite(x) -> jax.Array:
    return jnp.all(jnp.isfinite(x))


@dataclass(frozen=True)
class Program:
    """Pure functions of one job structure; ``compile`` lowers them once."""

    objective: Objective
    groups: tuple[Group, ...]
    every: int
    records_per_chunk: int
    record_params: bool

    def init(self, hparams, starts, keys):
        def one(group, values, x0, key):
            opt = _optimizer(group, values)
            inf = jnp.asarray(jnp.inf, x0.dtype)
            zero = jnp.zeros([], jnp.int32)
            return Carry(x0, opt.init(x0), key, zero, zero, zero - 1, inf, zero)

        return tuple(jax.vmap(lambda v, x, k, g=g: one(g, v, x, k))(hp, x0, key)
                     for g, hp, x0, key in zip(self.groups, hparams, starts, keys, strict=True))

    def chunk(self, carries, hparams, limits: Limits):
        outs = [jax.vmap(lambda c, v, g=g: self._chunk_one(g, c, v, limits))(carry, hp)
                for g, carry, hp in zip(self.groups, carries, hparams, strict=True)]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs)

    def _chunk_one(self, group: Group, carry: Carry, values, limits: Limits):
        opt = _optimizer(group, values)
        step = self._step_fn(opt, limits)

        def block(c, _):
            c2, (loss, gnorm, active) = jax.lax.scan(step, c, length=self.every)
            x = c.params if self.record_params else c.params[:0]
            return c2, (loss[0], gnorm[0], active[0], x)

        carry, (loss, gnorm, valid, xs) = jax.lax.scan(block, carry,
                                                       length=self.records_per_chunk)
        final_loss, final_grad = jax.value_and_grad(self.objective.value)(carry.params)
        return carry, Records(loss, gnorm, valid, xs, final_loss, optax.tree.norm(final_grad))

    def _step_fn(self, opt, limits: Limits):
        objective = self.objective
        loss_and_grad = jax.value_and_grad(objective.loss)

        def step(c: Carry, _):
            active = (c.status == RUNNING) & (c.step < limits.steps)
            if objective.stochastic:
                key, sample = jax.random.split(c.key)
            else:
                key, sample = c.key, None
            x = c.params
            loss, grad = loss_and_grad(x, sample)
            gnorm = optax.tree.norm(grad)
            updates, opt_state = opt.update(grad, c.opt_state, x, value=loss, grad=grad,
                                            value_fn=objective.value)
            x_next = x + updates
            bad_here = ~(jnp.isfinite(loss) & jnp.isfinite(gnorm))
            bad_next = ~_all_finite(x_next)
            at_target = (loss <= limits.target_loss) | (gnorm <= limits.grad_tolerance)
            diverge = active & (bad_here | bad_next)
            stop_here = active & ~bad_here & at_target
            proceed = active & ~bad_here & ~at_target & ~bad_next
            settled = proceed & (jnp.linalg.norm(x_next - x) <= limits.tolerance)
            improved = active & ~bad_here & (loss < c.best_loss)
            new = Carry(
                params=jnp.where(proceed, x_next, x),
                opt_state=_tree_where(proceed, opt_state, c.opt_state),
                key=key,
                step=c.step + proceed.astype(jnp.int32),
                status=jnp.where(diverge, DIVERGED,
                                 jnp.where(stop_here | settled, CONVERGED, c.status)),
                diverged_at=jnp.where(diverge, c.step + (~bad_here).astype(jnp.int32),
                                      c.diverged_at),
                best_loss=jnp.where(improved, loss, c.best_loss),
                best_step=jnp.where(improved, c.step, c.best_step),
            )
            return new, (loss, gnorm, active)

        return step


class CompileCache:
    """Compiled programs by job structure; ``misses`` counts compilations."""

    def __init__(self):
        self._programs: dict[Any, tuple] = {}
        self.misses = 0

    def get(self, key, build: Callable[[], tuple]) -> tuple[tuple, float]:
        if key in self._programs:
            return self._programs[key], 0.0
        t0 = time.perf_counter()
        compiled = build()
        self.misses += 1
        self._programs[key] = compiled
        return compiled, (time.perf_counter() - t0) * 1e3


CACHE = CompileCache()


@dataclass
class Progress:
    steps_done: int
    steps_total: int
    chunk: int
    chunks: int
    running: int


class JobRunner:
    """Runs a parsed job chunk by chunk: iterate ``chunks()`` for progress, then ``result()``."""

    def __init__(self, job: Job, chunk_steps: int = DEFAULT_CHUNK_STEPS):
        self.job = job
        spec = job.spec
        self.dtype = jnp.float64 if spec.dtype == "float64" else jnp.float32
        self.groups = tuple(group_runs(job.runs))
        every = spec.record.every
        self.n_chunks = max(1, math.ceil(spec.steps / chunk_steps))
        per_chunk = math.ceil(spec.steps / self.n_chunks)
        self.program = Program(job.objective, self.groups, every, math.ceil(per_chunk / every),
                               job.records_trajectory)
        self.chunk_len = every * self.program.records_per_chunk
        self.timing = {"compile_ms": 0.0, "run_ms": 0.0}
        self._records: list[tuple] = []
        self._carries = None

    def _x64(self):
        return jax.enable_x64(self.dtype == jnp.float64)

    def _inputs(self):
        runs, dt = self.job.runs, self.dtype
        hparams = tuple(
            jnp.asarray([[float(_get(runs[i].config, p)) for p in g.paths] for i in g.members],
                        dt).reshape(len(g.members), len(g.paths)) for g in self.groups)
        starts = tuple(jnp.asarray([runs[i].start for i in g.members], dt) for g in self.groups)
        keys = tuple(jnp.stack([jax.random.PRNGKey(runs[i].seed) for i in g.members])
                     for g in self.groups)
        stop = self.job.spec.stopping
        limits = Limits(
            steps=jnp.asarray(self.job.spec.steps, jnp.int32),
            tolerance=jnp.asarray(-1.0 if stop.tolerance is None else stop.tolerance, dt),
            grad_tolerance=jnp.asarray(-1.0 if stop.grad_tolerance is None
                                       else stop.grad_tolerance, dt),
            target_loss=jnp.asarray(-jnp.inf if stop.target_loss is None else stop.target_loss,
                                    dt))
        return hparams, starts, keys, limits

    def _compile(self, hparams, starts, keys, limits):
        p = self.program
        shapes = tuple((len(g.members), len(g.paths)) for g in self.groups)
        key = (p.objective.cache_key(), tuple(g.key for g in self.groups), shapes, p.every,
               p.records_per_chunk, p.record_params, str(jnp.dtype(self.dtype)))

        def build():
            init = jax.jit(p.init).lower(hparams, starts, keys).compile()
            carries = jax.eval_shape(p.init, hparams, starts, keys)
            chunk = jax.jit(p.chunk).lower(carries, hparams, limits).compile()
            return init, chunk

        (init, chunk), ms = CACHE.get(key, build)
        self.timing["compile_ms"] += ms
        return init, chunk

    def chunks(self) -> Iterator[Progress]:
        """Run chunk by chunk, yielding progress after each; stops early when all runs stop."""
        with self._x64():
            hparams, starts, keys, limits = self._inputs()
            init, chunk = self._compile(hparams, starts, keys, limits)
            t0 = time.perf_counter()
            carries = init(hparams, starts, keys)
            for c in range(self.n_chunks):
                carries, records = chunk(carries, hparams, limits)
                records = jax.device_get(records)
                self._records.append(records)
                status = np.concatenate([np.asarray(cr.status) for cr in carries])
                steps = np.concatenate([np.asarray(cr.step) for cr in carries])
                running = int(np.sum((status == RUNNING) & (steps < self.job.spec.steps)))
                self._carries = carries
                self.timing["run_ms"] = (time.perf_counter() - t0) * 1e3
                yield Progress(min((c + 1) * self.chunk_len, self.job.spec.steps),
                               self.job.spec.steps, c + 1, self.n_chunks, running)
                if running == 0:
                    break
            self._carries = jax.device_get(carries)
            self.timing["run_ms"] = (time.perf_counter() - t0) * 1e3

    def run(self) -> dict:
        for _ in self.chunks():
            pass
        return self.result()

    def result(self) -> dict:
        from .results import assemble

        return assemble(self)
