"""Groups: runs that share one optimizer structure, and what of their state is per run.

A group's structure (the optimizer config with its traced numbers blanked, and which of them
differ between runs) is what a compiled program is keyed by; members only say which runs of
a job it carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import jax
import jax.extend.core
import jax.numpy as jnp
import optax

from . import optimizers
from .memo import Remembered
from .objectives import AnyObjective
from .optimizers.config import FrozenConfig, Path, freeze
from .trees import Axes, PyTree, Values, ValueShapes

if TYPE_CHECKING:
    from .spec import Job
    from .sweeps import PlannedRun


@dataclass(frozen=True)
class Group:
    """Runs that share one optimizer structure."""

    template: FrozenConfig  # the config with traced numbers blanked (config.TRACED)
    paths: tuple[Path, ...]
    members: tuple[int, ...]  # indices into the job's runs
    varying: tuple[bool, ...]  # per path: differs between members (else one shared value)
    # per member, its value at each path (read once, when grouping); no part of the structure
    values: tuple[tuple[Any, ...], ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> tuple[FrozenConfig, tuple[bool, ...]]:
        return self.template, self.varying


def optimizer_of(group: Group, values: Values) -> optax.GradientTransformationExtraArgs:
    """The group's optimizer with traced numbers: ``values = (shared, varying)``.

    Shared values are the same for every run of the group and are passed unbatched, so work
    that depends only on them (Adam's bias correction b2**t) is done once, not once per run.
    """
    shared, varying = values
    filled: dict[Path, jax.Array] = {}
    s, v = 0, 0
    for path, varies in zip(group.paths, group.varying, strict=True):
        if varies:
            filled[path], v = varying[v], v + 1
        else:
            filled[path], s = shared[s], s + 1
    return optax.with_extra_args_support(optimizers.build(group.template.fill(filled)))


VALUE_AXES = (None, 0)  # vmap axes of (shared, varying)
Update: TypeAlias = Callable[
    [Values, PyTree, PyTree, PyTree, jax.Array], tuple[PyTree, PyTree]
]  # (values, grad, state, params, loss) -> (updates, state)


def select_runs(mask: jax.Array, new: PyTree, old: PyTree, axes: Axes) -> PyTree:
    """Per run: the new pytree where mask, else the old; leaves shared by the group (axis
    None, such as step counts, which advance in lockstep) are always the new."""

    def leaf(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    # an axis may stand for a whole subtree (the params)
    def pick(axis: int | None, a: PyTree, b: PyTree) -> PyTree:
        return a if axis is None else jax.tree.map(leaf, a, b)

    return jax.tree.map(pick, axes, new, old, is_leaf=lambda x: x is None)


def _depends(closed: jax.extend.core.ClosedJaxpr, batched: list[bool]) -> list[bool]:
    """Which outputs of a traced function depend on its batched inputs (flattened order).

    A forward pass over the jaxpr that counts an equation's outputs as dependent when any
    input is: conservative, so it may say batched where a value is shared, never the reverse.
    """
    dep: dict[jax.extend.core.Var, bool] = dict(zip(closed.jaxpr.invars, batched, strict=True))

    def of(v: jax.extend.core.Var | jax.extend.core.Literal) -> bool:
        return not isinstance(v, jax.extend.core.Literal) and dep.get(v, False)

    for eqn in closed.jaxpr.eqns:
        d = any(of(v) for v in eqn.invars)
        for out in eqn.outvars:
            dep[out] = d
    return [of(v) for v in closed.jaxpr.outvars]


@dataclass(frozen=True)
class StateFacts:
    """What tracing an optimizer once tells: which leaves of its state are per run, and
    whether its update evaluates the objective (``value_fn``: a line search)."""

    axes: Axes  # vmap axes of the state: 0 per run, None shared by the group
    evaluates: bool


PER_STRUCTURE_KEPT = 1024
_STATE_FACTS: Remembered[StateFacts] = Remembered(PER_STRUCTURE_KEPT)
_SHARED: Remembered[Any] = Remembered(PER_STRUCTURE_KEPT)


def state_facts(
    group: Group, objective: AnyObjective, values: ValueShapes, x0: PyTree
) -> StateFacts:
    """``StateFacts`` of the group's optimizer. ``values`` is one run's (shared, varying);
    ``x0`` one run's params (shapes suffice). Remembered per optimizer structure and
    shapes: the objective plays no part (an optimizer that evaluates it does so at per-run
    params), so a known optimizer on a new objective (another Rosenbrock ``b``) traces
    nothing here. Shared counts keep bias corrections (powers) scalar."""
    shapes = tuple((a.shape, a.dtype) for a in jax.tree.leaves((values, x0)))
    key = (group.key, jax.tree.structure(x0), shapes)
    return _STATE_FACTS.get(key, lambda: _traced_facts(group, objective, values, x0))


def _shared_jit(kind: str, group: Group, fn: Callable[..., Any]) -> Any:
    """``jax.jit(fn)``, made once per ``kind`` and group structure. JAX traces a jitted
    function once per argument shapes (and batches it once under ``vmap``), so the programs
    of a known optimizer on a new objective reuse its trace (Figure 1 with a new Rosenbrock
    ``b``: 127 -> 86 ms of tracing, with the state's axes remembered and the gradient norm
    shared too)."""
    return _SHARED.get((kind, group.key), lambda: jax.jit(fn))


def update_of(group: Group, value_fn: Callable[[PyTree], jax.Array] | None = None) -> Update:
    """The group's update, ``(values, grad, state, params, loss) -> (updates, state)``:
    shared (``_shared_jit``), or, for an optimizer that evaluates the objective
    (``StateFacts.evaluates``), the caller's own, evaluating ``value_fn``."""
    extra = {} if value_fn is None else {"value_fn": value_fn}

    def update(
        v: Values, grad: PyTree, state: PyTree, x: PyTree, loss: jax.Array
    ) -> tuple[PyTree, PyTree]:
        out = optimizer_of(group, v).update(grad, state, x, value=loss, grad=grad, **extra)
        return cast(tuple[PyTree, PyTree], out)

    return update if value_fn is not None else cast(Update, _shared_jit("update", group, update))


def _init(group: Group) -> Callable[[Values, PyTree], PyTree]:
    def init(v: Values, x: PyTree) -> PyTree:
        return optimizer_of(group, v).init(x)

    return init


def init_of(group: Group) -> Callable[[Values, PyTree], PyTree]:
    """The group's ``(values, params) -> state``, shared (``_shared_jit``)."""
    return cast(Callable[[Values, PyTree], PyTree], _shared_jit("init", group, _init(group)))


def _traced_facts(
    group: Group, objective: AnyObjective, values: ValueShapes, x0: PyTree
) -> StateFacts:
    """``state_facts`` from the optimizer's init and update, traced once each (a build's
    tracing is part of its compile time); the fixed point iterates over their jaxprs."""

    traced_init, state = jax.make_jaxpr(_init(group), return_shape=True)(values, x0)
    leaves, treedef = jax.tree.flatten(state)
    per_run = len(jax.tree.leaves(x0))
    value_flags = [False, True]  # shared, varying
    batched = _depends(traced_init, value_flags + [True] * per_run)
    loss = jax.ShapeDtypeStruct((), jax.tree.leaves(x0)[0].dtype)
    evaluated: list[bool] = []

    def value_fn(x: PyTree) -> jax.Array:
        evaluated.append(True)
        return objective.value(x)

    def update(v: Values, x: PyTree, g: PyTree, value: jax.Array, *st: jax.Array) -> PyTree:
        return optimizer_of(group, v).update(
            g, jax.tree.unflatten(treedef, st), x, value=value, grad=g, value_fn=value_fn
        )[1]

    traced_update = jax.make_jaxpr(update)(values, x0, x0, loss, *leaves)
    while True:  # the state's own leaves feed back: iterate to a fixed point
        flags = value_flags + [True] * (2 * per_run + 1) + batched
        new = _depends(traced_update, flags)
        merged = [a or b for a, b in zip(batched, new, strict=True)]
        if merged == batched:
            axes = jax.tree.unflatten(treedef, [0 if b else None for b in batched])
            return StateFacts(axes, bool(evaluated))
        batched = merged


def value_at(config: Mapping[str, Any], path: Path) -> Any:
    value: Any = config
    for part in path:
        value = value[part]
    return value


@lru_cache(maxsize=PER_STRUCTURE_KEPT)
def row_reader(paths: tuple[Path, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Reads a config's values at ``paths`` as a tuple. When they all sit in one mapping
    (the usual ``hyperparameters``), one ``itemgetter`` reads them: a 1,024-run sweep's
    values cost 1,024 calls instead of one walk per value. Made once per ``paths``."""
    if paths and all(len(p) == 2 and p[0] == paths[0][0] for p in paths):
        parent, get = paths[0][0], itemgetter(*(p[1] for p in paths))
        if len(paths) == 1:
            return lambda config: (get(config[parent]),)
        return lambda config: get(config[parent])
    return lambda config: tuple(value_at(config, p) for p in paths)


_STRUCTURES: Remembered[tuple[tuple[Path, ...], FrozenConfig]] = Remembered(4096)


def structure_of(config: Mapping[str, Any]) -> tuple[tuple[Path, ...], FrozenConfig]:
    """A config's traced paths and its template (the config with them blanked), remembered
    by the config's ``repr``: freezing and blanking cost 50 us, most of a one-run job's
    set-up. ``repr`` tells 1, 1.0 and True apart, as the frozen config does."""

    def build() -> tuple[tuple[Path, ...], FrozenConfig]:
        paths = tuple(optimizers.traced_paths(config))
        return paths, freeze(config).blank(paths)

    return _STRUCTURES.get(repr(config), build)


def program_form(group: Group) -> Group:
    """The group as its program sees it. An optimizer that is a special case of another
    (``optimizers.general_form``: gd is momentum 0) takes that one's structure, with the
    values that make it the case as shared values, so that gd and momentum groups share
    one compiled program; any other group is itself."""
    general = optimizers.general_form(group.template)
    if general is group.template:
        return group
    paths, template = structure_of(general)
    index = {p: i for i, p in enumerate(group.paths)}
    fixed = {p: value_at(general, p) for p in paths if p not in index}
    values = tuple(
        tuple(row[index[p]] if p in index else fixed[p] for p in paths) for row in group.values
    )
    varying = tuple(group.varying[index[p]] if p in index else False for p in paths)
    return Group(template, paths, group.members, varying, values)


def group_runs(runs: list[PlannedRun]) -> list[Group]:
    """Runs grouped by optimizer structure: the config with its traced numbers blanked."""
    members: dict[FrozenConfig, list[int]] = {}
    paths_of: dict[FrozenConfig, tuple[Path, ...]] = {}
    # runs of one sweep share a structure unless `variant` differs
    known: dict[tuple[int, tuple[tuple[str, Any], ...]], FrozenConfig] = {}
    for i, run in enumerate(runs):
        if (run.spec_index, run.variant) not in known:
            paths, key = structure_of(run.config)
            known[run.spec_index, run.variant] = key
            paths_of.setdefault(key, paths)
        members.setdefault(known[run.spec_index, run.variant], []).append(i)
    groups = []
    for template, idx in members.items():
        paths = paths_of[template]
        read = row_reader(paths)
        values = tuple(read(runs[i].config) for i in idx)
        if len(idx) == 1:
            varying = (False,) * len(paths)
        else:
            varying = tuple(len(set(column)) > 1 for column in zip(*values, strict=True))
        groups.append(Group(template, paths, tuple(idx), varying, values))
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
    templates = sorted(repr(g.template) for g in group_runs(job.runs))  # sorted fields
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
