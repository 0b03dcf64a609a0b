"""The fused runner: a job's runs as one jitted program of ``vmap``-ed scans.

Runs whose optimizer has the same structure (same names, same static options) form a group
and are stacked with ``vmap``; their hyperparameters, starts and seeds are traced arrays, so a
job that differs only in those reuses the compiled program. Steps run in chunks of static
length so progress can be reported and a cancel can land between chunks; a run that stops
(converged, diverged) freezes while the rest of its group goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from . import optimizers
from .program import RUNNING, TRACED, Group, Limits, Program, _with
from .spec import Job, PlannedRun

DEFAULT_CHUNK_STEPS = 10_000
BLOCK_STEPS = 256  # about this many steps per block (more when ``every`` is larger)


def _get(config: dict, path: tuple[str, ...]):
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
            template = _with(template, path, TRACED)
        varying = tuple(len({_get(runs[i].config, p) for i in idx}) > 1 for p in paths)
        groups.append(Group(template, paths, tuple(idx), varying))
    return groups


@jax.jit
def _keys(seeds):
    return jax.vmap(jax.random.PRNGKey)(seeds)


class CompileCache:
    """Compiled programs by job structure."""

    def __init__(self):
        self._programs: dict[Any, tuple] = {}

    def get(self, key, build: Callable[[], tuple]) -> tuple[tuple, float]:
        if key in self._programs:
            return self._programs[key], 0.0
        t0 = time.perf_counter()
        compiled = build()
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
        self.dtype = np.float64 if spec.dtype == "float64" else np.float32
        self.groups = tuple(group_runs(job.runs))
        every = spec.record.every
        n_chunks = max(1, math.ceil(spec.steps / chunk_steps))
        records = math.ceil(math.ceil(spec.steps / n_chunks) / every)  # per chunk
        # blocks divide the chunk exactly, so that no step is wasted past the last one
        target = math.ceil(BLOCK_STEPS / every)
        per_block = max(d for d in range(1, min(records, 2 * target) + 1) if records % d == 0)
        blocks = records // per_block
        stop = spec.stopping
        used = (
            stop.tolerance is not None,
            stop.grad_tolerance is not None,
            stop.target_loss is not None,
        )
        self.program = Program(
            job.objective, self.groups, every, per_block, blocks, job.snapshot, used
        )
        self.n_chunks = math.ceil(spec.steps / self.program.chunk_len)
        self.timing = {"compile_ms": 0.0, "run_ms": 0.0}
        self.records: list[tuple] = []  # per chunk, per group: Records on the host
        self.carries = None  # per group: the final Carry on the host
        self.exact_chunks = 0  # chunks redone on the exact path

    def _inputs(self):
        runs, dt = self.job.runs, self.dtype

        def values(g: Group):
            table = np.array(
                [[float(_get(runs[i].config, p)) for p in g.paths] for i in g.members]
            ).reshape(len(g.members), len(g.paths))
            varies = np.asarray(g.varying, bool)
            return table[0, ~varies].astype(dt), table[:, varies].astype(dt)

        hparams = tuple(values(g) for g in self.groups)
        starts = tuple(
            np.array([runs[i].start for i in g.members], dt).reshape(len(g.members), -1)
            for g in self.groups
        )
        keys = tuple(
            _keys(np.asarray([runs[i].seed for i in g.members], np.uint32)) for g in self.groups
        )
        stop = self.job.spec.stopping

        def scalar(value, off):
            return np.asarray(off if value is None else value, dt)

        limits = Limits(
            np.asarray(self.job.spec.steps, np.int32),
            scalar(stop.tolerance, -1.0),
            scalar(stop.grad_tolerance, -1.0),
            scalar(stop.target_loss, -np.inf),
        )
        return hparams, starts, keys, limits

    def _compile(self, hparams, starts, keys, limits):
        p = self.program
        key = (
            p.objective.cache_key(),
            tuple(g.key for g in self.groups),
            tuple(len(g.members) for g in self.groups),
            p.every,
            p.records_per_block,
            p.blocks_per_chunk,
            p.record_params,
            p.stopping,
            np.dtype(self.dtype).name,
        )

        def build():
            carries = jax.eval_shape(p.init, hparams, starts, keys)
            init = jax.jit(p.init).lower(hparams, starts, keys).compile()
            fast = jax.jit(p.chunk).lower(carries, hparams, limits).compile()
            exact = jax.jit(p.exact_chunk)  # compiled when a chunk first needs it
            return init, fast, exact

        programs, ms = CACHE.get(key, build)
        self.timing["compile_ms"] += ms
        return programs

    def chunks(self) -> Iterator[Progress]:
        """Run chunk by chunk, yielding progress after each; stops early when all runs stop."""
        steps = self.job.spec.steps
        with jax.enable_x64(self.dtype == np.float64):
            hparams, starts, keys, limits = self._inputs()
            init, fast, exact = self._compile(hparams, starts, keys, limits)
            t0 = time.perf_counter()
            carries = init(hparams, starts, keys)
            for c in range(self.n_chunks):
                moved, records, needs_exact = fast(carries, hparams, limits)
                if needs_exact:  # a run stops inside this chunk: redo it step by step
                    t_exact = time.perf_counter()
                    moved, records = exact(carries, hparams, limits)
                    jax.block_until_ready(moved)
                    self.timing["exact_ms"] = (
                        self.timing.get("exact_ms", 0.0) + (time.perf_counter() - t_exact) * 1e3
                    )
                    self.exact_chunks += 1
                carries = moved
                records, self.carries = jax.device_get((records, carries))
                self.records.append(records)
                running = sum(
                    int(np.sum((cr.status == RUNNING) & (cr.step < steps))) for cr in self.carries
                )
                self.timing["run_ms"] = (time.perf_counter() - t0) * 1e3
                yield Progress(
                    min((c + 1) * self.program.chunk_len, steps),
                    steps,
                    c + 1,
                    self.n_chunks,
                    running,
                )
                if running == 0:
                    break

    def run(self) -> dict:
        for _ in self.chunks():
            pass
        return self.result()

    def result(self) -> dict:
        from .results import assemble

        return assemble(self)
