"""Groups: runs that share one optimizer structure, and what of their state is per run.

A group's structure (the optimizer config with its traced numbers blanked, and which of them
differ between runs) is what a compiled program is keyed by; members only say which runs of
a job it carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import jax.extend.core
import jax.numpy as jnp
import optax

from . import optimizers
from .objectives import Objective

if TYPE_CHECKING:
    from .spec import Job, PlannedRun

TRACED = "<traced>"


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


def with_value(config: dict, path: tuple[str, ...], value) -> dict:
    head, *rest = path
    out = dict(config)
    out[head] = value if not rest else with_value(config[head], tuple(rest), value)
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
            config, v = with_value(config, path, varying[v]), v + 1
        else:
            config, s = with_value(config, path, shared[s]), s + 1
    return optax.with_extra_args_support(optimizers.build(config))


VALUE_AXES = (None, 0)  # vmap axes of (shared, varying)


def select_runs(mask: jax.Array, new, old, axes):
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


def value_at(config: dict, path: tuple[str, ...]):
    for part in path:
        config = config[part]
    return config


def _frozen(config: Any, traced: set, path: tuple = ()) -> Any:
    """A hashable copy of a config with its traced numbers blanked: the group's identity."""
    if path in traced:
        return TRACED
    if isinstance(config, dict):
        return tuple((k, _frozen(v, traced, (*path, k))) for k, v in sorted(config.items()))
    if isinstance(config, list):
        return tuple(_frozen(v, traced, path) for v in config)
    return config


def group_runs(runs: list[PlannedRun]) -> list[Group]:
    """Runs grouped by optimizer structure: the config with its traced numbers blanked."""
    members: dict[Any, list[int]] = {}
    first: dict[Any, tuple[dict, tuple]] = {}
    known: dict[tuple, Any] = {}  # runs of one sweep share a structure unless `variant` differs
    for i, run in enumerate(runs):
        if (run.spec_index, run.variant) not in known:
            paths = tuple(optimizers.traced_paths(run.config))
            key = _frozen(run.config, set(paths))
            known[run.spec_index, run.variant] = key
            first.setdefault(key, (run.config, paths))
        members.setdefault(known[run.spec_index, run.variant], []).append(i)
    groups = []
    for key, idx in members.items():
        config, paths = first[key]
        template = config
        for path in paths:
            template = with_value(template, path, TRACED)
        varying = tuple(len({value_at(runs[i].config, p) for i in idx}) > 1 for p in paths)
        groups.append(Group(template, paths, tuple(idx), varying))
    return groups


def structure_key(job: Job) -> str | None:
    """What a job's programs are compiled for, without compiling (the compile cache's group
    keys with the run counts left out), and the job-wide values its runs share (steps,
    stopping, records): jobs with equal keys can run as one program, whose runs are theirs
    put end to end, each run keeping its own hyperparameters, seed and start. None for a
    job that cannot: one with a landscape or a tuning search."""
    spec = job.spec
    if spec.record.landscape is not None or any(run.tune is not None for run in spec.runs):
        return None
    templates = sorted(json.dumps(g.template, sort_keys=True) for g in group_runs(job.runs))
    parts = (
        job.objective.cache_key(),
        templates,
        job.snapshot,
        spec.steps,
        spec.record.every,
        spec.stopping.model_dump(),
        spec.dtype,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
