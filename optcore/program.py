"""The compiled program of one group: a call runs up to ``blocks_per_call`` fixed-length blocks.

One call takes ``taken`` steps (a traced count: ``n`` blocks, or the steps left before the
limit) from step ``t0`` as one loop over its records (``stride`` steps each, the last ones
fewer at the step limit); the step limit is traced too and the loops have traced trip
counts, so jobs of any length share the program and no step is ever masked. One loop, not a
loop of blocks of records: every loop level adds XLA kernels (its buffers, its counters, its
copies), which cost compile time and a fixed time per call.
A call runs first on a fast path: plain steps, like a hand-written ``lax.scan``, that only
note whether something happened (a non-finite value, a stopping rule met). Only when that is
so for a run still going does the runner run the call again on the exact path, which checks
every step and freezes a run at the step it stops. Stopping is therefore exact while the
common case costs what a bare scan costs: a data-dependent ``where`` on every carried value,
or on a step's outputs, costs as much as the step itself at a few hundred runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar, cast

import jax
import jax.flatten_util
import jax.numpy as jnp
import optax

from .carry import (
    CONVERGED,
    DIVERGED,
    FLAT,
    NO_SNAPSHOT,
    RUNNING,
    VECTOR,
    CallState,
    Carry,
    Limits,
    Records,
    Starts,
)
from .groups import (
    VALUE_AXES,
    Group,
    StateFacts,
    Update,
    init_of,
    select_runs,
    state_facts,
    update_of,
)
from .objectives import AnyObjective, Objective
from .steps import (
    LossAndGrad,
    all_finite,
    best_recorded,
    distance_moved,
    first_params,
    grad_norm,
    loss_and_grad_of,
    where_tree,
)
from .trees import PyTree, Values

State = TypeVar("State")  # what a call's steps carry
Memo = TypeVar("Memo")
StepOutputs: TypeAlias = tuple[jax.Array, jax.Array, jax.Array]  # loss, grad norm, live
Columns: TypeAlias = tuple[jax.Array, ...]
# a call's records (``Records``): the series' columns [B, R] each (loss, grad norm, held-out
# loss when there is one), valid records [B] (a prefix of the slots), the snapshot's columns
CallOutputs: TypeAlias = tuple[Columns, jax.Array, Columns]
CallResult: TypeAlias = tuple[Carry[jax.Array], CallOutputs, jax.Array]  # and its events
Moved: TypeAlias = tuple[PyTree, PyTree]  # the params and optimizer state after a call
# a call's step counts and flag: [steps (the limit), t0, taken, fresh] int32, and its
# thresholds: [tolerance, grad_tolerance, target_loss] in the job's dtype
Counts: TypeAlias = jax.Array
Thresholds: TypeAlias = jax.Array
# the fast path's step state: params, optimizer state, step, best loss, its step, event
FastState: TypeAlias = tuple[PyTree, PyTree, jax.Array, jax.Array, jax.Array, jax.Array]


@dataclass(frozen=True)
class Program:
    """Pure functions of one group structure, jitted and compiled once per cache key."""

    objective: AnyObjective
    group: Group  # its structure; members play no part in the program
    stride: int  # steps between records
    records_per_block: int
    blocks_per_call: int
    snapshot: str  # what of the params is recorded: VECTOR (<= 3-D), FLAT (for a plane), none
    stopping: tuple[bool, bool, bool]  # which of tolerance, grad_tolerance, target_loss apply
    narrow: bool  # its step loop is one kernel (``Layout.narrow``)
    # what is worked out once per program (its shapes are fixed): ``_once``
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _once(self, name: str, build: Callable[[], Memo]) -> Memo:
        if name not in self._memo:
            self._memo[name] = build()
        return cast(Memo, self._memo[name])

    @property
    def record_params(self) -> bool:
        return self.snapshot != NO_SNAPSHOT

    @property
    def block_len(self) -> int:
        return self.stride * self.records_per_block

    def _snap(self, params: PyTree) -> jax.Array:
        if self.snapshot == VECTOR:
            return cast(jax.Array, params)  # a vector objective's params are one array
        if self.snapshot == FLAT:
            return jax.flatten_util.ravel_pytree(params)[0]
        return jnp.zeros((0,), jax.tree.leaves(params)[0].dtype)

    def _held_out(self, params: PyTree) -> jax.Array:
        objective = self.objective
        if objective.has_validation and not isinstance(objective, Objective):  # a network
            return objective.validation(params)
        return jnp.zeros((0,), jax.tree.leaves(params)[0].dtype)  # nothing to record

    def _first_params(self, x0: jax.Array, key: jax.Array) -> PyTree:
        return first_params(self.objective, x0, key)

    def _facts(self, values: Values, params: PyTree) -> StateFacts:
        """The optimizer's ``StateFacts``; ``params``: the batched params (any pytree), for
        their shapes."""

        def build() -> StateFacts:
            spec: Callable[..., jax.ShapeDtypeStruct] = jax.ShapeDtypeStruct
            shared, varying = values
            one_run = (spec(shared.shape, shared.dtype), spec(varying.shape[1:], varying.dtype))
            one_params = jax.tree.map(lambda a: spec(a.shape[1:], a.dtype), params)
            return state_facts(self.group, self.objective, one_run, one_params)

        return self._once("facts", build)

    def carry_axes(self, values: Values, params: PyTree) -> Carry[int]:
        """vmap axes of the carry, from the batched ``params``' shapes."""
        return Carry(0, self._facts(values, params).axes, 0, 0, 0, 0, 0, 0)

    def _update(self, values: Values, params: PyTree) -> Update:
        """One run's update, ``(values, grad, state, params, loss) -> (updates, state)``:
        shared by every program of the optimizer (``update_of``) unless it evaluates the
        objective, which is this program's own."""
        evaluates = self._facts(values, params).evaluates
        return update_of(self.group, self.objective.value if evaluates else None)

    def init(self, values: Values, starts: jax.Array, keys: jax.Array) -> Carry[jax.Array]:
        """The runs' first carry. Jitted once per program, so that the runner's query of the
        carry's shapes and the call's ``start`` trace it once between them."""
        init = self._once("init", lambda: jax.jit(self._first_carry))
        return cast(Carry[jax.Array], init(values, starts, keys))

    def _first_carry(self, values: Values, starts: jax.Array, keys: jax.Array) -> Carry[jax.Array]:
        def one(v: Values, x0: jax.Array, key: jax.Array) -> Carry[jax.Array]:
            params = self._first_params(x0, key)
            zero = jnp.zeros([], jnp.int32)
            inf = jnp.asarray(jnp.inf, x0.dtype)
            state = init_of(self.group)(v, params)
            return Carry(params, state, key, zero, zero, zero - 1, inf, zero)

        params = jax.eval_shape(jax.vmap(self._first_params), starts, keys)
        return jax.vmap(one, in_axes=(VALUE_AXES, 0, 0), out_axes=self.carry_axes(values, params))(
            values, starts, keys
        )

    def start(
        self, carry: Carry[jax.Array], values: Values, fresh: jax.Array, starts: Starts
    ) -> Carry[jax.Array]:
        """The carry a call starts from: ``init``'s when ``fresh`` (the job's first call,
        which passes zeros for ``carry``), else ``carry``. Part of the call's program, so a
        group compiles one program, not two."""
        x0, keys = starts
        return cast(
            Carry[jax.Array],
            jax.lax.cond(fresh, lambda: self.init(values, x0, keys), lambda: carry),
        )

    def _held_width(self, params: PyTree) -> int:
        """Held-out losses a record keeps, from one run's ``params`` (shapes)."""
        return int(jax.eval_shape(self._held_out, params).size)

    def finals_width(self, params: PyTree) -> int:
        """Columns of a call's ``Records.finals``, from one run's ``params`` (shapes)."""
        return 3 + self._held_width(params)

    @staticmethod
    def _unpacked(
        state: CallState[jax.Array], counts: Counts, thresholds: Thresholds, keys: jax.Array
    ) -> tuple[Carry[jax.Array], Limits[jax.Array], jax.Array, jax.Array, jax.Array]:
        step, status, diverged_at, best_step = (state.counters[:, i] for i in range(4))
        best = state.finals[:, 2]
        carry = Carry(
            state.params, state.opt_state, keys, step, status, diverged_at, best, best_step
        )
        limits = Limits(counts[0], thresholds[0], thresholds[1], thresholds[2])
        return carry, limits, counts[1], counts[2], counts[3] != 0

    def call(
        self,
        exact: bool,
        state: CallState[jax.Array],
        values: Values,
        counts: Counts,
        thresholds: Thresholds,
        starts: Starts,
    ) -> tuple[Moved, Records[jax.Array], jax.Array]:
        """The fast path (``exact``: the exact path) as the runner calls it, with fewer
        arrays crossing the call: 13 inputs and 12 outputs for one Adam run, against 21 and
        18 (its fixed cost: about 25 us less). The carry comes from ``CallState``, the counts
        and thresholds packed; ``needs_exact`` is False on the exact path."""
        carry, limits, t0, taken, fresh = self._unpacked(state, counts, thresholds, starts[1])
        if exact:
            moved, records = self.exact(carry, values, limits, t0, taken, fresh, starts)
            needs_exact = jnp.zeros((), bool)
        else:
            moved, records, needs_exact = self.fast(carry, values, limits, t0, taken, fresh, starts)
        return (moved.params, moved.opt_state), records, needs_exact

    def fast(
        self,
        carry: Carry[jax.Array],
        values: Values,
        limits: Limits[jax.Array],
        t0: jax.Array,
        taken: jax.Array,
        fresh: jax.Array,
        starts: Starts,
    ) -> tuple[Carry[jax.Array], Records[jax.Array], jax.Array]:
        """The fast path over ``taken`` steps from step ``t0`` (the runner's count: a
        call's blocks, or the steps left before the limit): ``(carry, records,
        needs_exact)``."""
        carry = self.start(carry, values, fresh, starts)
        moved, (series, live, xs), events = self._fast_path(carry, values, limits, t0, taken)
        # The runner calls a group only while one of its runs is going: a lone run is, so
        # nothing is masked or put back (Figure 1's programs: a third fewer kernels).
        if carry.step.shape[0] > 1:
            active = (carry.status == RUNNING) & (carry.step < limits.steps)
            events &= active
            axes = self.carry_axes(values, carry.params)
            moved = select_runs(active, moved, carry, axes)  # runs stopped before stay put
            live = jnp.where(active, live, 0)
        return moved, self._records(moved, series, live, xs, shared_step=True), jnp.any(events)

    def exact(
        self,
        carry: Carry[jax.Array],
        values: Values,
        limits: Limits[jax.Array],
        t0: jax.Array,
        taken: jax.Array,
        fresh: jax.Array,
        starts: Starts,
    ) -> tuple[Carry[jax.Array], Records[jax.Array]]:
        """The exact path over the same steps, from the same carry."""
        carry = self.start(carry, values, fresh, starts)
        carry, out, _ = self._exact_path(carry, values, limits, taken)
        return carry, self._records(carry, *out)

    def _call_outputs(self, params: PyTree) -> CallOutputs:
        """A call's record buffers, zeros (``CallOutputs``, ``Records``), shaped from the
        batched ``params`` without tracing a step: [B, R] columns, or [B, R, d] for a
        flattened snapshot."""
        first = jax.tree.leaves(params)[0]
        one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), params)
        snap = jax.eval_shape(self._snap, one)
        br = (first.shape[0], self.blocks_per_call * self.records_per_block)
        series = tuple(jnp.zeros(br, first.dtype) for _ in range(2 + self._held_width(one)))
        if self.snapshot == FLAT:
            xs: Columns = (jnp.zeros((*br, *snap.shape), snap.dtype),)
        else:
            xs = tuple(jnp.zeros(br, snap.dtype) for _ in range(snap.size))
        return series, jnp.zeros(br[:1], jnp.int32), xs

    def _snapshot_columns(self, params: PyTree) -> Columns:
        """What a record keeps of the batched ``params``, as ``_call_outputs`` lays it out."""
        snap = jax.vmap(self._snap)(params)
        if self.snapshot == FLAT:
            return (snap,)
        return tuple(snap[:, i] for i in range(snap.shape[1]))

    def _records(
        self,
        carry: Carry[jax.Array],
        series: Columns,
        valid: jax.Array,
        xs: Columns,
        shared_step: bool = False,
    ) -> Records[jax.Array]:
        """A call's records and finals. ``shared_step``: the path's steps pass one step count
        for all runs (the fast path), so the finals do too."""
        if self.objective.stochastic:  # the finals are of the objective's full value
            final_loss, final_grad = jax.vmap(jax.value_and_grad(self.objective.value))(
                carry.params
            )
        else:  # the steps' own loss and gradient (which ignores the step), batched as the
            # steps batch it, so that its batched trace is reused, not made again
            step, axis = (carry.step[0], None) if shared_step else (carry.step, 0)
            final_loss, final_grad = jax.vmap(self._loss_and_grad(), in_axes=(0, 0, axis))(
                carry.params, carry.key, step
            )
        final_held = jax.vmap(self._held_out)(carry.params).reshape(len(final_loss), -1)
        finals = (
            final_loss[:, None],
            jax.vmap(grad_norm)(final_grad)[:, None],
            carry.best_loss[:, None],
            final_held,
        )
        counters = (carry.step, carry.status, carry.diverged_at, carry.best_step)
        return Records(
            series, valid, xs, jnp.concatenate(finals, axis=1), jnp.stack(counters, axis=1)
        )

    def _recorded(
        self,
        step: Callable[[State], tuple[State, StepOutputs]],
        peek: Callable[[State], StepOutputs],
        state: State,
        params_of: Callable[[State], PyTree],
        steps: jax.Array,
        live_if_reached: bool = False,
    ) -> tuple[State, CallOutputs]:
        """A call's ``steps`` (traced) steps, recording every ``stride``: what ``peek`` sees
        at the record's first step (the loss and gradient there, once more), then the steps
        in a loop of traced length. The loops take exactly the steps left, so no step needs
        a mask, and no step keeps its outputs (a select per step, which costs as much as the
        step at a few hundred runs). Record r lands at [:, r] of the call's buffers; a run's
        valid records are a prefix of them (a run that stops stays stopped), so a count per
        run says which: slots not reached, or after its stop, are past it.

        Each recorded value has a buffer of its own (the series' and the snapshot's
        columns). XLA's CPU runtime runs a program's kernels in turn on the calling thread
        when none touches a buffer over 512 bytes, and hands them to its thread pool
        otherwise. One Adam run recorded every 100 steps keeps 128 records a call: 512
        bytes a float32 column, 1 KB as rows of two. Columns take its 10k-step job from
        0.76x a bare scan to 0.83x (``bench_speed.py``, width 1).

        ``live_if_reached``: every record reached is valid (the fast path), so the count is
        set once after the loop instead of added to with each record."""
        buffers = self._call_outputs(params_of(state))
        records = (steps + self.stride - 1) // self.stride

        def put(buffers: Columns, values: Columns, r: jax.Array) -> Columns:
            return tuple(
                jax.lax.dynamic_update_index_in_dim(b, v, r, 1)
                for b, v in zip(buffers, values, strict=True)
            )

        def record(r: jax.Array, carry: tuple[State, CallOutputs]) -> tuple[State, CallOutputs]:
            s, (series, live, xs) = carry
            params = params_of(s)
            if self.stride == 1:
                s, (loss, gnorm, alive) = step(s)
            else:
                loss, gnorm, alive = peek(s)
                taken = jnp.minimum(self.stride, steps - r * self.stride)
                s = jax.lax.fori_loop(0, taken, lambda i, s: step(s)[0], s)
            held = jax.vmap(self._held_out)(params).reshape(len(loss), -1)
            series = put(series, (loss, gnorm, *held.T), r)
            live = live if live_if_reached else live + alive.astype(jnp.int32)
            return s, (series, live, put(xs, self._snapshot_columns(params), r))

        state, (series, live, xs) = jax.lax.fori_loop(0, records, record, (state, buffers))
        if live_if_reached:
            live = jnp.broadcast_to(records, live.shape).astype(jnp.int32)
        return state, (series, live, xs)

    def _loss_and_grad(self) -> LossAndGrad:
        """(params, data key, step) -> loss, gradient; a network's batches come from the key
        and the step, a noisy objective's draws too. Its uses (a step, a record's first
        step, the finals) trace and lower it once, and it is shared with the other programs
        of the objective (``loss_and_grad_of``)."""
        return loss_and_grad_of(self.objective)

    def _fast_path(
        self,
        c: Carry[jax.Array],
        values: Values,
        limits: Limits[jax.Array],
        t0: jax.Array,
        taken: jax.Array,
    ) -> CallResult:
        """``taken`` plain steps, as a hand-written scan would take them, noting (not acting
        on) what the exact path must look at: a non-finite value or a stopping rule met.
        The step count is one scalar, ``t0`` on: every run still going is at step ``t0``
        (the others' results are dropped), and a count per run costs a kernel a step."""
        loss_and_grad = self._loss_and_grad()
        use_tol, use_gtol, use_target = self.stopping
        axes = self.carry_axes(values, c.params)
        state_axes = (axes.params, axes.opt_state, None, 0, 0, 0)
        # A narrow program's loop is one kernel: it checks every step's loss there, where
        # that costs next to nothing, rather than its records after the loop (16,384 when
        # every step is recorded: half of a call's fixed time; and kernels to compile). A
        # wide program checks the records after its loop, and tracks the best there when
        # every step is recorded: in its loop that costs two kernels a step.
        in_loop = self.narrow
        track_best = self.stride > 1 or in_loop

        update = self._update(values, c.params)

        def step(s: FastState, v: Values, key: jax.Array) -> tuple[FastState, StepOutputs]:
            x, opt_state, t, best, best_t, event = s
            loss, grad = loss_and_grad(x, key, t)
            gnorm = grad_norm(grad)
            updates, opt_state = update(v, grad, opt_state, x, loss)
            x_next = optax.apply_updates(x, updates)
            met = jnp.zeros((), bool)
            if use_target:
                met |= loss <= limits.target_loss
            if use_gtol:
                met |= gnorm <= limits.grad_tolerance
            if use_tol:
                met |= distance_moved(x_next, x) <= limits.tolerance
            if in_loop:
                met |= ~jnp.isfinite(loss)
            if track_best:
                improved = loss < best
                best, best_t = jnp.where(improved, loss, best), jnp.where(improved, t, best_t)
            live = jnp.ones((), bool)
            return (x_next, opt_state, t + 1, best, best_t, event | met), (loss, gnorm, live)

        def peek(s: FastState, key: jax.Array) -> StepOutputs:
            loss, grad = loss_and_grad(s[0], key, s[2])
            return loss, grad_norm(grad), jnp.ones((), bool)

        steps = jax.vmap(step, in_axes=(state_axes, VALUE_AXES, 0), out_axes=(state_axes, 0))
        peeks = jax.vmap(peek, in_axes=(state_axes, 0))
        events = jnp.zeros(c.step.shape, bool)
        state = (c.params, c.opt_state, t0, c.best_loss, c.best_step, events)
        state, (series, live, xs) = self._recorded(
            lambda s: steps(s, values, c.key),
            lambda s: peeks(s, c.key),
            state,
            lambda s: s[0],
            taken,
            live_if_reached=True,
        )
        x, opt_state, t, best, best_t, event = state
        loss = series[0]
        reached = jnp.arange(loss.shape[1]) < live[:, None]  # [B, R]: the records taken
        if not track_best:
            best, best_t = best_recorded(loss, reached, best, best_t, t0)
        # Non-finite values, checked once per call rather than per step (which cost 40% in
        # a wide program): a NaN or Inf loss or gradient reaches the params (and stays: an
        # update of a non-finite param is non-finite), the recorded losses (every step's, in
        # a narrow program's loop) or the best.
        event = event | ~jax.vmap(all_finite)(x) | ~jnp.isfinite(best)
        if not in_loop:
            event |= ~jnp.all(jnp.isfinite(loss) | ~reached, axis=1)
        at = jnp.broadcast_to(t, c.step.shape)
        moved = Carry(x, opt_state, c.key, at, c.status, c.diverged_at, best, best_t)
        return moved, (series, live, xs), event

    def _exact_path(
        self, c: Carry[jax.Array], values: Values, limits: Limits[jax.Array], taken: jax.Array
    ) -> CallResult:
        """Every step checked: a run freezes at the step it converges or diverges."""
        loss_and_grad = self._loss_and_grad()
        use_tol, use_gtol, use_target = self.stopping
        axes = self.carry_axes(values, c.params)
        update = self._update(values, c.params)

        def step(c: Carry[jax.Array], v: Values) -> tuple[Carry[jax.Array], StepOutputs]:
            active = (c.status == RUNNING) & (c.step < limits.steps)
            x = c.params
            loss, grad = loss_and_grad(x, c.key, c.step)
            gnorm = grad_norm(grad)
            updates, opt_state = update(v, grad, c.opt_state, x, loss)
            x_next = optax.apply_updates(x, updates)
            bad_here = ~jnp.isfinite(loss)
            bad = bad_here | ~all_finite(x_next)
            at_target = jnp.zeros((), bool)
            if use_target:
                at_target |= loss <= limits.target_loss
            if use_gtol:
                at_target |= gnorm <= limits.grad_tolerance
            proceed = active & ~bad & ~at_target
            stop = active & ~bad_here & at_target
            if use_tol:
                stop |= proceed & (distance_moved(x_next, x) <= limits.tolerance)
            improved = active & ~bad_here & (loss < c.best_loss)
            new = Carry(
                params=where_tree(proceed, x_next, x),
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

        def peek(c: Carry[jax.Array]) -> StepOutputs:
            loss, grad = loss_and_grad(c.params, c.key, c.step)
            active = (c.status == RUNNING) & (c.step < limits.steps)
            return loss, grad_norm(grad), active

        steps = jax.vmap(step, in_axes=(axes, VALUE_AXES), out_axes=(axes, 0))
        c, out = self._recorded(
            lambda c: steps(c, values),
            jax.vmap(peek, in_axes=(axes,)),
            c,
            lambda s: s.params,
            taken,
        )
        return c, out, jnp.zeros(c.step.shape, bool)
