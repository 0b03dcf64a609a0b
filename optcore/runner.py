"""The runner: a job as the sequence of its groups' compiled programs, in chunks of time.

Runs whose optimizer has the same structure form a group, stacked with ``vmap`` and padded
to a bucketed run count; hyperparameters, starts, seeds and the step limit are traced, so a
program is compiled once per group structure and shared by every job that has the group
(``optcore.compiled.CACHE``). The host loop calls the programs block by block, as many
blocks as fit in about ``chunk_seconds`` (measured on the first blocks), and yields progress
between chunks: ``compiling`` once, then ``running``, then ``landscape``. A cancel or a time
limit raised between yields therefore lands within about a chunk in every phase.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Generator, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeAlias, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.stages import Compiled
from numpy.typing import NDArray

from .carry import RUNNING, CallState, Records
from .compiled import CACHE, PRIORITY, CompileCount, Entry, counting
from .groups import Group, group_runs, program_form
from .landscape import evaluation_for_job
from .layout import Layout, layout
from .memo import Remembered
from .objectives import AnyObjective
from .optimizers.config import FrozenConfig
from .program import Program
from .results import AssembledRuns, assemble_runs, document
from .spec import Job
from .trees import PyTree, to_host

DEFAULT_CHUNK_SECONDS = 1.0
# XLA compiles a job's new groups two at a time while the job's thread traces the next ones
# (``JobRunner.compile``): Figure 1 in 0.96-1.03x a bare compile, 1.37-1.42x on one thread
COMPILE_THREADS = 2
# A job's compilation, off the job's thread: a job given up meanwhile does not wait for it,
# and the next job's need not wait behind it (two threads).
_COMPILING = ThreadPoolExecutor(2, thread_name_prefix="optcore-job-compile")

COMPILING, RUNNING_PHASE, LANDSCAPE = "compiling", "running", "landscape"

Scalar = TypeVar("Scalar", bound=np.generic)
HostArray: TypeAlias = NDArray[Any]  # on the host, in the job's dtype (or int32, uint32)
# a group's program inputs: ((shared [S], varying [B, V]) values, starts [B, d], keys [B, 2])
Inputs: TypeAlias = tuple[tuple[HostArray, HostArray], HostArray, NDArray[np.uint32]]


@dataclass(frozen=True)
class Fit:
    """A group's program shape, for another job to run in: the bucketed run count, which
    traced values vary, and whether it is a latency program (``layout``)."""

    runs: int
    varying: tuple[bool, ...]
    latency: bool


@dataclass
class Progress:
    """What a job has done so far, yielded about every ``chunk_seconds``."""

    steps_done: int
    steps_total: int
    chunk: int  # chunks yielded so far in this phase
    chunks: int  # estimate of this phase's chunks (exact once it ends)
    running: int  # runs still going
    phase: str = RUNNING_PHASE  # "compiling" | "running" | "landscape"
    points_done: int = 0  # landscape points evaluated
    points_total: int = 0


T = TypeVar("T")
Waiting: TypeAlias = Generator[Progress, None, T]  # progress while waiting, then the value


@dataclass
class GroupRun:
    """One group of a job: its inputs, its program and where it stands."""

    group: Group
    layout: Layout
    program: Program
    key: tuple[Hashable, ...]
    inputs: Inputs
    entry: Entry | None = None
    state: CallState[jax.Array] | None = None  # what the next call starts from
    t0: int = 0  # steps every run still going has taken
    live: int = 0  # real (not padded) runs still going
    # per call, host Records cut to what ran
    records: list[Records[HostArray]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.group.members)

    @property
    def compiled(self) -> Entry:
        """The group's programs, once ``JobRunner.compile`` has found or built them."""
        if self.entry is None:
            raise RuntimeError("the group's programs are not compiled yet")
        return self.entry


_LAYOUTS: Remembered[Layout] = Remembered(4096)


def _layout(objective_key: Hashable, objective: AnyObjective, *args: Any) -> Layout:
    """``layout(objective, *args)``, remembered by the objective's cache key."""
    return _LAYOUTS.get((objective_key, *args), lambda: layout(objective, *args))


def _seed_keys(seeds: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """jax.random.PRNGKey of each seed, without a compiled program: [0, seed] (threefry)."""
    keys = np.zeros((len(seeds), 2), np.uint32)
    keys[:, 1] = seeds
    return keys


def _padded(rows: NDArray[Scalar], size: int) -> NDArray[Scalar]:
    """Pad lanes repeat the first run: they compute what it computes and are dropped."""
    if size == len(rows):
        return rows
    return np.concatenate([rows, np.repeat(rows[:1], size - len(rows), axis=0)])


def _zeros(spec: jax.ShapeDtypeStruct) -> Any:
    """A placeholder of a call state leaf for a fresh call: zeros (a key of zeros for a typed
    PRNG key, which an optimizer's state may hold)."""
    if jax.dtypes.issubdtype(spec.dtype, jax.dtypes.prng_key):
        data = jax.eval_shape(jax.random.key_data, spec)
        return jax.random.wrap_key_data(jnp.zeros(data.shape, data.dtype))
    return np.zeros(spec.shape, spec.dtype)


def _spec_of(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), tree)


class JobRunner:
    """Runs a parsed job: iterate ``chunks()`` for progress, then call ``result()``."""

    def __init__(
        self,
        job: Job,
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        exact: bool = True,
        fit: Mapping[FrozenConfig, Fit] | None = None,
        latency: bool = False,
    ) -> None:
        """``exact=False`` keeps the fast path's results when a run meets a non-finite
        value (a tuning search: no stopping rules, and a diverged candidate's non-finite
        final values already rule it out), so no exact program is compiled or run.
        ``fit``: program shapes to reuse, per group structure (another runner's
        ``shapes()``): a group with that structure is padded to at least that run count and
        passes those values as varying, so that it runs in that program (a tuned run's race
        in the program its search compiled) instead of compiling a narrower one.
        ``latency``: programs that compile fast and run slower (``layout``), for short
        jobs such as a tuning search's rounds."""
        self.latency = latency
        self.job = job
        self.chunk_seconds = chunk_seconds
        self.exact = exact
        spec = job.spec
        self.dtype: type[np.floating[Any]] = np.float64 if spec.dtype == "float64" else np.float32
        stop = spec.stopping
        self.stopping = (
            stop.tolerance is not None,
            stop.grad_tolerance is not None,
            stop.target_loss is not None,
        )
        self.every = spec.record.every
        self.timing: dict[str, float] = {"compile_ms": 0.0, "run_ms": 0.0}
        self.count = CompileCount()
        self.exact_calls = 0  # calls redone on the exact path
        self.groups = [self._fitted(g, fit or {}) for g in group_runs(job.runs)]
        self.landscape: dict[str, Any] | None = None
        self._runs: AssembledRuns | None = None
        self._ran = False  # chunks() has ended

    # -- setting up -----------------------------------------------------------------------

    def shapes(self) -> dict[FrozenConfig, Fit]:
        """Each group's program shape, for another runner's ``fit``."""
        return {
            g.group.template: Fit(g.layout.runs, g.group.varying, self.latency) for g in self.groups
        }

    def _fitted(self, group: Group, fit: Mapping[FrozenConfig, Fit]) -> GroupRun:
        """The group's run, in the program shape ``fit`` gives its structure, if any."""
        shape = fit.get(group.template)  # a template fixes the paths, so the lengths agree
        if shape is None:
            return self._group_run(group, len(group.members), self.latency)
        varying = tuple(a or b for a, b in zip(group.varying, shape.varying, strict=True))
        runs = max(len(group.members), shape.runs)
        return self._group_run(dataclasses.replace(group, varying=varying), runs, shape.latency)

    def _group_run(self, group: Group, lanes: int, latency: bool) -> GroupRun:
        job, dt = self.job, self.dtype
        snap_dim = 0 if job.snapshot == "none" else job.objective.dim
        objective_key = job.objective.cache_key()
        shape = _layout(objective_key, job.objective, self.every, lanes, snap_dim, latency)
        runs = [job.runs[i] for i in group.members]
        form = program_form(group)  # gd and momentum: one program
        table = np.array(form.values, dtype=dt).reshape(len(runs), len(form.paths))
        if any(form.varying):
            varies = np.asarray(form.varying, bool)
            values = (table[0, ~varies], _padded(table[:, varies], shape.runs))
        else:  # every value shared by the group's runs
            values = (table[0], np.empty((shape.runs, 0), dt))
        starts = _padded(np.array([r.start for r in runs], dt).reshape(len(runs), -1), shape.runs)
        keys = _padded(_seed_keys(np.array([r.seed for r in runs], np.uint32)), shape.runs)
        structure = Group(form.template, form.paths, (), form.varying)
        program = Program(
            job.objective,
            structure,
            shape.stride,
            shape.records_per_block,
            shape.blocks_per_call,
            job.snapshot,
            self.stopping,
            shape.narrow,
        )
        key = (
            objective_key,
            form.key,
            shape,
            job.snapshot,
            self.stopping,
            dt.__name__,
        )
        return GroupRun(group, shape, program, key, (values, starts, keys), live=len(runs))

    def _thresholds(self) -> HostArray:
        """The stopping rules' thresholds, as ``Program.call`` takes them (a rule not
        in use has one no value meets)."""
        stop = self.job.spec.stopping

        def value(given: float | None, off: float) -> float:
            return off if given is None else given

        return np.array(
            [
                value(stop.tolerance, -1.0),
                value(stop.grad_tolerance, -1.0),
                value(stop.target_loss, -np.inf),
            ],
            self.dtype,
        )

    def call_shapes(self, g: GroupRun) -> tuple[Any, ...]:
        """The shapes of a call's arguments to the group's programs (in the job's dtype)."""
        with jax.enable_x64(self.dtype == np.float64):
            values, starts, keys = _spec_of(g.inputs)
            carry = jax.eval_shape(g.program.init, values, starts, keys)
            runs = starts.shape[0]
            one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), carry)
            finals = (runs, g.program.finals_width(one.params))
            state = CallState(
                carry.params,
                carry.opt_state,
                jax.ShapeDtypeStruct((runs, 4), np.int32),
                jax.ShapeDtypeStruct(finals, carry.best_loss.dtype),
            )
            counts = jax.ShapeDtypeStruct((4,), np.int32)
            return (state, values, counts, _spec_of(self._thresholds()), (starts, keys))

    def _lower(self, g: GroupRun) -> Callable[[], Entry]:
        """Traces and lowers the group's fast path here; the returned function compiles it
        (XLA) and makes the group's ``Entry``."""
        p = g.program
        x64 = self.dtype == np.float64
        options = g.layout.compiler_options(jax.default_backend())
        args = self.call_shapes(g)
        state = args[0]
        with jax.enable_x64(x64):
            lowered = jax.jit(partial(p.call, False)).lower(*args)

        def exact() -> Compiled:
            with jax.enable_x64(x64):
                return jax.jit(partial(p.call, True)).lower(*args).compile(options)

        def build() -> Entry:
            with jax.enable_x64(x64):
                fast = lowered.compile(options)
                blank = jax.device_put(jax.tree.map(_zeros, state))  # a fresh call's state
            return Entry(blank, fast, exact)

        return build

    def compile(self) -> None:
        """Every group's programs: from memory when known, else built. New groups are
        traced and lowered on this thread, one after another, while XLA compiles the ones
        lowered so far on ``COMPILE_THREADS`` threads: tracing and lowering hold the GIL,
        so two threads doing them at once take as long as one (Figure 1 on two threads:
        1.11-1.16x the bare compile when each thread traced, lowered and compiled its
        groups; 0.96-1.03x so). Each thread counts its own compilations."""
        waiting = self._uncompiled()
        if not waiting:
            return
        # one build a program: groups of one rule's special cases (gd, momentum) share it
        todo = list({g.key: g for g in waiting}.values())
        t0 = time.perf_counter()
        # claimed before tracing: a job asking meanwhile (one given up mid-compile, resent)
        # waits for these builds instead of making its own, and this one for theirs
        elsewhere = {g.key: f for g in todo if (f := CACHE.claim(g.key)) is not None}
        mine = [g for g in todo if g.key not in elsewhere]

        def fill(g: GroupRun, build: Callable[[], Entry]) -> CompileCount:
            count = CompileCount()
            with counting(count):
                g.entry = CACHE.fill(g.key, build)
            return count

        try:
            if COMPILE_THREADS > 1 and len(mine) > 1:
                # the longest compiles first, so that none is left to run alone at the end:
                # an optimizer's traced hyperparameters (Ranger-LARS's 9, gd's 1) measure it
                mine.sort(key=lambda g: len(g.group.paths), reverse=True)
                with ThreadPoolExecutor(COMPILE_THREADS) as pool:
                    futures = [pool.submit(fill, g, self._lower(g)) for g in mine]
                    counts = [f.result() for f in futures]
            else:
                counts = [fill(g, self._lower(g)) for g in mine]
        finally:
            CACHE.release(g.key for g in mine)  # those an error left unbuilt
        built = {g.key: g.entry for g in mine}
        built.update((key, f.result()) for key, f in elsewhere.items())
        for g in waiting:
            g.entry = built[g.key]
        for c in counts:
            self.count.add(c)
        self.timing["compile_ms"] += (time.perf_counter() - t0) * 1e3

    def _uncompiled(self) -> list[GroupRun]:
        """The groups whose programs are not in memory; the others get theirs."""
        for g in self.groups:
            g.entry = g.entry or CACHE.cached(g.key)
        return [g for g in self.groups if g.entry is None]

    def _compiling(self) -> Iterator[Progress]:
        """``compile()``, off this thread when a program is new (a network's take seconds;
        a cancel in a fresh-clone CI run waited 2.25 s for a sweep's)."""
        if self._uncompiled():
            yield from self._waiting(self.compile, self._compile_progress)

    def _waiting(self, work: Callable[[], T], progress: Callable[[], Progress]) -> Waiting[T]:
        """``work()`` (a compilation, as a rule) on a thread of its own, its compilations
        counted as this job's, with ``progress()`` every ``chunk_seconds`` meanwhile: a
        cancel or a time limit is seen within a chunk, not once XLA is done. XLA cannot be
        stopped: a job given up meanwhile leaves the work to finish there, into the cache."""
        count = CompileCount()

        def counted() -> T:
            with counting(count):
                return work()

        done = _COMPILING.submit(counted)
        try:
            while True:
                try:
                    return done.result(timeout=self.chunk_seconds)
                except TimeoutError:
                    yield progress()
        finally:
            self.count.add(count)

    # -- running --------------------------------------------------------------------------

    def _start(self) -> None:
        """The first call of each group starts its runs (``fresh``) from zeros of the
        state's shapes, kept on the device with the program (a job's own would be copied
        there at each first call)."""
        for g in self.groups:
            g.state = g.compiled.blank

    def _blocks_for(self, g: GroupRun, seconds: float) -> int:
        left = math.ceil((self.job.spec.steps - g.t0) / g.layout.block_len)
        rate = g.compiled.seconds_per_block
        wanted = 1 if rate is None else int(seconds / max(rate, 1e-9))
        return max(1, min(wanted, g.layout.blocks_per_call, left))

    def _call(self, g: GroupRun, n: int, thresholds: HostArray, chunk: int) -> Iterator[Progress]:
        """Runs ``n`` blocks of group ``g``: fast path, and exact path when a run stops (its
        program compiled off this thread if need be, with chunk ``chunk``'s progress
        meanwhile)."""
        t0 = time.perf_counter()
        values, starts, keys = g.inputs
        steps = self.job.spec.steps
        fresh = g.t0 == 0 and not g.records
        taken = min(n * g.layout.block_len, max(steps - g.t0, 0))
        args = (g.state, values, np.array((steps, g.t0, taken, fresh), np.int32), thresholds)
        x64 = self.dtype == np.float64  # set around calls only, never across a yield
        with _x64(x64):
            moved, out, needs_exact = g.compiled.fast(*args, (starts, keys))
            # the records are usually the ones kept: fetched with the flag, in one go
            host, exact = to_host((out, needs_exact))
        if exact and self.exact:  # a run stops inside these blocks: redo them step by step
            t_compile = time.perf_counter()
            if g.compiled.exact_ready:
                program = g.compiled.exact()
            else:  # built, or waited for (a background build)
                progress = partial(self._progress, chunk)
                program = yield from self._waiting(g.compiled.exact, progress)
                self.timing["compile_ms"] += _ms(t_compile)
            t_exact = time.perf_counter()
            with _x64(x64):
                moved, out, _ = program(*args, (starts, keys))
                host = to_host(out)
            self.exact_calls += 1
            self.timing["exact_ms"] = self.timing.get("exact_ms", 0.0) + _ms(t_exact)
        elapsed = time.perf_counter() - t0
        if not exact:
            rate = elapsed / n
            old = g.compiled.seconds_per_block
            g.compiled.seconds_per_block = rate if old is None else 0.5 * (old + rate)
        kept, size = n * g.layout.records_per_block, g.size
        series, valid, params, finals, counters = host
        g.records.append(
            Records(
                tuple(c[:size, :kept] for c in series),
                valid[:size],
                tuple(c[:size, :kept] for c in params),
                finals[:size],
                counters[:size],
            )
        )
        params, opt_state = moved
        g.state = CallState(params, opt_state, out.counters, out.finals)  # the next call's
        g.t0 += taken
        g.live = _still_going(counters[:size], steps)

    def _running(self) -> Iterator[Progress]:
        steps = self.job.spec.steps
        thresholds = self._thresholds()
        t_run = time.perf_counter()
        chunk = 0
        while True:
            active = [g for g in self.groups if g.live > 0 and g.t0 < steps]
            if not active:
                break
            share = self.chunk_seconds / len(active)
            for g in active:
                t_group = time.perf_counter()
                spent = 0.0  # at least one call a chunk, however short the chunk
                while g.live > 0 and g.t0 < steps and (spent == 0.0 or spent < share):
                    n = self._blocks_for(g, share - spent)
                    yield from self._call(g, n, thresholds, chunk)
                    spent = time.perf_counter() - t_group
            chunk += 1
            self.timing["run_ms"] = _ms(t_run)
            yield self._progress(chunk)
        if chunk == 0:
            yield self._progress(1)

    def _compile_progress(self) -> Progress:
        return Progress(0, self.job.spec.steps, 0, 1, sum(g.size for g in self.groups), COMPILING)

    def _progress(self, chunk: int) -> Progress:
        steps = self.job.spec.steps
        pending = [g for g in self.groups if g.live > 0 and g.t0 < steps]
        done = min((g.t0 for g in pending), default=steps)
        left = sum(
            (steps - g.t0) / g.layout.block_len * (g.compiled.seconds_per_block or 0.0)
            for g in pending
        )
        more = math.ceil(left / self.chunk_seconds) if pending else 0
        running = sum(g.live for g in pending)
        return Progress(done, steps, chunk, chunk + max(more, 1 if pending else 0), running)

    def chunks(self) -> Generator[Progress, None, None]:
        """Compile, run and evaluate the landscape, yielding progress about every
        ``chunk_seconds``; a real job holds off background compilation meanwhile."""
        yield self._compile_progress()
        with PRIORITY.job():
            yield from self._compiling()
            self._start()
            yield from self._running()
        _compile_exact_later(self)
        yield from self._landscape()

    def _landscape(self) -> Iterator[Progress]:
        self._ran = True
        spec = self.job.spec.record.landscape
        if spec is None:  # the documents are made by result(), when asked for
            return
        self._runs = assemble_runs(self, landscape=True)
        steps = self.job.spec.steps
        t0 = time.perf_counter()
        with counting(self.count):
            evaluation = evaluation_for_job(self.job, *self._runs)
        chunk = 0

        def progress() -> Progress:
            chunks = chunk + evaluation.chunks_left(self.chunk_seconds)
            return Progress(
                steps, steps, chunk, chunks, 0, LANDSCAPE, evaluation.points_done, evaluation.total
            )

        while not evaluation.done:
            advance = partial(evaluation.advance, self.chunk_seconds)
            if chunk == 0:  # the first compiles the evaluation, unless known: off this thread
                yield from self._waiting(advance, progress)
            else:
                with counting(self.count):
                    advance()
            chunk += 1
            yield progress()
        self.landscape = evaluation.document()
        self.timing["landscape_ms"] = _ms(t0)

    def run(self) -> dict[str, Any]:
        for _ in self.chunks():
            pass
        return self.result()

    def result(self) -> dict[str, Any]:
        """The result document (numpy arrays for the per-step series); after ``chunks()``."""
        if not self._ran:
            raise RuntimeError("result() before chunks() ended")
        if self._runs is None:
            self._runs = assemble_runs(self, landscape=False)
        return document(self, self._runs[0], self.landscape)


def _x64(on: bool) -> AbstractContextManager[Any]:
    """``jax.enable_x64(on)``, or nothing where that is the setting already (a float32 job,
    as a rule): entering it costs a few microseconds a call."""
    return nullcontext() if jax.config.read("jax_enable_x64") == on else jax.enable_x64(on)


SMALL_GROUP = 64  # runs: below this, a few Python comparisons cost less than numpy's calls


def _still_going(counters: HostArray, steps: int) -> int:
    """Runs still going after a call: ``counters`` [B, 4] (step, status, ...). Width 1,
    alternating processes: 0.91-0.94x with the Python count, 0.89-0.91x with numpy's."""
    if len(counters) <= SMALL_GROUP:
        return sum(state == RUNNING and step < steps for step, state, *_ in counters.tolist())
    return int(np.count_nonzero((counters[:, 1] == RUNNING) & (counters[:, 0] < steps)))


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1e3


def _compile_exact_later(runner: JobRunner) -> None:
    """Exact paths of groups with stopping rules, compiled in the background: the next job
    with more steps may need them, and should not wait for them then."""
    if any(runner.stopping):
        for g in runner.groups:
            g.compiled.prepare_exact()
