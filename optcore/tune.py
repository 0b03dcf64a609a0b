"""Tuned races: each tuned run's candidates searched in one vmapped job, then the race.

A run with ``tune`` names traced hyperparameters and where their candidates come from. The
candidates of every tuned run become the runs of one *search* job (per distinct search length):
the runner stacks the candidates of one optimizer into one group, so the whole search is one
compiled program of ``vmap``-ed scans. Each candidate is scored (final loss, best loss or
distance to the nearest known minimum); the lowest finite score of a candidate that did not
diverge wins, ties going to the smallest values. Then the job itself runs with the winners.

Built on the runner's public surface only (``JobRunner``, ``Job``, ``PlannedRun``): the search
job is the parsed job with other runs and steps, so nothing here knows how programs are built.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Collection, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import optimizers, refine
from .carry import VECTOR
from .errors import SpecError, join_field
from .layout import values_per_record
from .objectives import AnyObjective
from .optimizers.config import FrozenConfig
from .refine import Candidate, Refinement
from .runner import DEFAULT_CHUNK_SECONDS, Fit, JobRunner, Progress
from .spec import Distribution, Job, JobSpec, RecordSpec, StoppingSpec, TuneSpec
from .sweeps import PlannedRun

MAX_SEARCH_RUNS = 65_536  # candidates of all tuned runs of one job together
SEARCH_RECORD_VALUES = 1 << 22  # values a search round records at most (16 MiB of float32)
# refine: one round per ROUND_SIZE candidates, at most MAX_ROUNDS; rounds of (nearly) equal
# size, so every round runs the same compiled program
ROUND_SIZE, MAX_ROUNDS = 20, 10
SCORES = ("final_loss", "best_loss", "distance_to_minimum")


@dataclass(frozen=True)
class Tuning:
    """One planned run's search: its candidates, round by round, and how they are scored."""

    run_index: int
    spec: TuneSpec
    steps: int
    search: Refinement


def parameters(tune: TuneSpec) -> dict[str, Distribution]:
    """The tuned hyperparameters, in the order given."""
    return dict(tune.model_extra or {})


def _axis(dist: Distribution, n: int, integer: bool) -> list[float]:
    if dist.values is not None:
        values = [float(v) for v in dist.values]
    elif dist.log_uniform is not None:
        values = np.geomspace(*dist.log_uniform, n).tolist()
    else:
        assert dist.uniform is not None
        values = np.linspace(*dist.uniform, n).tolist()
    if integer:
        values = sorted({float(round(v)) for v in values})
    return values


def _draw(dist: Distribution, n: int, rng: np.random.Generator, integer: bool) -> np.ndarray:
    if dist.values is not None:
        drawn = rng.choice(np.asarray(dist.values, np.float64), size=n)
    elif dist.log_uniform is not None:
        lo, hi = np.log(dist.log_uniform[0]), np.log(dist.log_uniform[1])
        drawn = np.exp(rng.uniform(lo, hi, size=n))
    else:
        assert dist.uniform is not None
        drawn = rng.uniform(*dist.uniform, size=n)
    return np.round(drawn) if integer else drawn


def candidates(tune: TuneSpec, integers: Collection[str] = ()) -> list[dict[str, float]]:
    """The candidates of a grid or random tune spec. A grid splits ``candidates`` evenly over
    the ranged parameters (n^k <= candidates; a ``values`` list is used as given); random
    draws ``candidates`` points from ``seed``, so every run with the same spec gets the same
    ones. (``refine`` chooses its candidates as it goes: see ``searcher``.)"""
    params = parameters(tune)
    if tune.method == "random":
        rng = np.random.default_rng(tune.seed)
        columns = {k: _draw(d, tune.candidates, rng, k in integers) for k, d in params.items()}
        return [{k: float(columns[k][i]) for k in params} for i in range(tune.candidates)]
    ranged = sum(1 for d in params.values() if d.values is None)
    per_axis = max(1, math.floor(tune.candidates ** (1 / ranged) + 1e-9)) if ranged else 1
    axes = [_axis(d, per_axis, k in integers) for k, d in params.items()]
    return [dict(zip(params, combo, strict=True)) for combo in itertools.product(*axes)]


def searcher(tune: TuneSpec, integers: Collection[str] = ()) -> Refinement:
    """The search of a tune spec: ``refine`` spends ``candidates`` over ``rounds`` rounds;
    ``grid`` and ``random`` (and ``refine`` of ``values`` lists only) are one round of
    ``candidates()``."""
    ranged = any(d.values is None for d in parameters(tune).values())
    if tune.method == "refine" and ranged:  # listed values alone: nothing lies between
        rounds = tune.rounds or max(1, min(MAX_ROUNDS, tune.candidates // ROUND_SIZE))
        sizes = refine.round_sizes(tune.candidates, rounds)
        return Refinement(refine.axes(parameters(tune), integers), sizes, tune.seed)
    return refine.fixed(parameters(tune), candidates(tune, integers))


def _bounds(tune: TuneSpec, integers: Collection[str]) -> dict[str, tuple[float, float]]:
    """The smallest and largest value a search can give each tuned parameter."""
    out = {}
    for name, dist in parameters(tune).items():
        lo, hi = (
            (min(dist.values), max(dist.values))
            if dist.values
            else (dist.log_uniform or dist.uniform or (0.0, 0.0))
        )
        out[name] = (float(round(lo)), float(round(hi))) if name in integers else (lo, hi)
    return out


def check_tuning(spec: JobSpec, objective: AnyObjective) -> list[tuple[str, str]]:
    """What parse_job cannot see from the shape alone: every tuned name is a traced number of
    its optimizer, every candidate lies in that hyperparameter's range, and the score applies."""
    errors: list[tuple[str, str]] = []
    total = 0
    for i, run in enumerate(spec.runs):
        tune = run.tune
        if tune is None:
            continue
        where = f"runs[{i}].tune"
        if not parameters(tune):
            errors.append((where, 'name at least one hyperparameter, e.g. "learning_rate"'))
            continue
        if run.sweep and set(run.sweep) & set(parameters(tune)):
            both = ", ".join(sorted(set(run.sweep) & set(parameters(tune))))
            errors.append((where, f"{both} is both swept and tuned"))
        hypers = {h.name: h for h in optimizers.entry(run.optimizer).hypers}
        integers = {k for k, h in hypers.items() if h.kind == "integer"}
        for name in parameters(tune):
            h = hypers.get(name)
            if h is None or not h.is_traced or h.kind not in ("number", "integer"):
                traced = [k for k, v in hypers.items() if v.is_traced and v.kind != "boolean"]
                errors.append(
                    (
                        join_field(where, name),
                        f"{run.optimizer} has no traced hyperparameter {name!r}; "
                        f"tunable: {', '.join(traced) or 'none'}",
                    )
                )
        if tune.rounds is not None and tune.method != "refine":
            errors.append((join_field(where, "rounds"), 'rounds apply to method "refine" only'))
        if errors:
            continue
        for name, bounds in _bounds(tune, integers).items():
            for value in bounds:
                try:
                    hypers[name].validate(value, join_field(where, name))
                except SpecError as exc:  # outside the hyperparameter's range
                    errors.extend(exc.errors)
                    break
        count = tune.candidates if tune.method != "grid" else len(candidates(tune, integers))
        total += count * _copies(spec, i)
        if tune.score == "distance_to_minimum" and not (objective.vector and objective.minima):
            errors.append(
                (join_field(where, "score"), f"{objective.name} has no known minimum to measure to")
            )
    if total > MAX_SEARCH_RUNS:
        errors.append(("runs", f"{total} tuning candidates in all; at most {MAX_SEARCH_RUNS}"))
    return errors


def _copies(spec: JobSpec, index: int) -> int:
    sweep = spec.runs[index].sweep or {}
    return math.prod(len(v) for v in sweep.values()) if sweep else 1


def plan(job: Job) -> list[Tuning]:
    """One Tuning per planned run whose spec has ``tune``."""
    out = []
    for i, run in enumerate(job.runs):
        tune = job.spec.runs[run.spec_index].tune
        if tune is None:
            continue
        hypers = optimizers.entry(run.config["optimizer"]).hypers
        integers = {h.name for h in hypers if h.kind == "integer"}
        out.append(Tuning(i, tune, tune.steps or job.spec.steps, searcher(tune, integers)))
    return out


def _with_values(run: PlannedRun, values: Mapping[str, float], label: str) -> PlannedRun:
    config = dict(run.config)
    hypers = optimizers.entry(config["optimizer"]).hypers
    kinds = {h.name: h.kind for h in hypers}
    config["hyperparameters"] = {
        **config["hyperparameters"],
        **{k: int(v) if kinds[k] == "integer" else float(v) for k, v in values.items()},
    }
    return dataclasses.replace(run, config=config, label=label)


def search_every(job: Job, candidates: int, steps: int) -> int:
    """How often a search round records: as the job does, so that a tuned run's race runs in
    the program its search compiled (``JobRunner(fit=...)``); the first and last step only
    when that would be more than ``SEARCH_RECORD_VALUES`` values."""
    every = job.spec.record.every
    snapshot = job.objective.dim if job.snapshot == VECTOR else 0
    values = (steps // every + 2) * candidates * values_per_record(snapshot)
    if every > steps or values > SEARCH_RECORD_VALUES:
        return steps
    return every


def search_job(job: Job, proposed: Mapping[int, Sequence[Candidate]], steps: int) -> Job:
    """The derived job whose runs are the candidates ``proposed`` for each tuned run (by
    index), all of ``steps`` steps: no stopping rule and no landscape, so only the search
    itself is computed (in time-sized chunks a caller can cancel between)."""
    runs = [
        _with_values(job.runs[index], values, f"{index}:{c}")
        for index, found in proposed.items()
        for c, values in enumerate(found)
    ]
    spec = job.spec.model_copy(
        update={
            "steps": steps,
            "record": RecordSpec(every=search_every(job, len(runs), steps)),
            "stopping": StoppingSpec(),
        }
    )
    return dataclasses.replace(job, spec=spec, runs=runs, total_runs=len(runs))


def distance_to_minima(point: Any, minima: Sequence[Sequence[float]]) -> float:
    """The Euclidean distance from ``point`` to the nearest of ``minima``; inf when the point
    is missing or not finite. The norm is scaled, so that a far but finite point (1e200) has
    a finite distance: a plain norm squares it to inf (and warns)."""
    if point is None:
        return math.inf
    x = np.asarray(point, np.float64)
    best = math.inf
    for m in minima:
        d = x - np.asarray(m, np.float64)
        scale = float(np.max(np.abs(d), initial=0.0))
        if math.isfinite(scale):  # NaN or inf: no distance
            best = min(best, scale * float(np.linalg.norm(d / scale)) if scale else 0.0)
    return best


def score(doc: Mapping[str, Any], how: str, objective: AnyObjective) -> float | None:
    """A candidate's score (lower is better), or None when it cannot win: diverged, or a
    non-finite value. ``best_loss`` counts the final point as well."""
    if doc["status"] == "diverged":
        return None
    final = doc["final"]["loss"]
    if how == "final_loss":
        value = final
    elif how == "best_loss":
        losses = [x for x in (doc["best"]["loss"], final) if x is not None]
        value = min(losses) if losses else None
    else:
        if objective.minima is None:
            return None
        value = distance_to_minima(doc["final"]["params"], objective.minima)
    return float(value) if value is not None and math.isfinite(value) else None


def choose(cands: Sequence[Mapping[str, float]], scores: Sequence[float | None]) -> int | None:
    """Index of the winner: the lowest finite score; among equal scores the smallest values
    (in the order the parameters were named), then the first. None when nothing is finite."""
    ranked = [
        (s, tuple(c.values()), i)
        for i, (c, s) in enumerate(zip(cands, scores, strict=True))
        if s is not None
    ]
    return min(ranked)[2] if ranked else None


@dataclass(frozen=True)
class Round:
    """One search job: the candidates of a round of every tuned run still searching."""

    steps: int
    candidates: dict[int, int]  # run index -> candidates of that run in this round
    search_ms: float
    programs_compiled: int


class TunedRunner:
    """Search, then race: ``chunks()`` yields progress over both phases (so a caller can
    cancel between chunks of the search too), then ``result()`` is the race's result with a
    ``tuning`` section on each tuned run."""

    def __init__(self, job: Job, chunk_seconds: float = DEFAULT_CHUNK_SECONDS):
        self.job = job
        self.chunk_seconds = chunk_seconds
        self.tunings = plan(job)
        by_steps: dict[int, list[Tuning]] = {}
        for t in self.tunings:
            by_steps.setdefault(t.steps, []).append(t)
        self.searches = sorted(by_steps.items())
        self.phase = "search"
        self.rounds: list[Round] = []
        self.chosen: dict[int, int | None] = {}
        self.race: JobRunner | None = None
        self.fit: dict[FrozenConfig, Fit] = {}  # the search's program shapes, for the race

    @property
    def search_ms(self) -> float:
        return sum(r.search_ms for r in self.rounds)

    def chunks(self) -> Generator[Progress, None, None]:
        """The search's progress (phase ``tuning`` once compiled), then the race's."""
        planned = [(steps, max(len(t.search.sizes) for t in ts)) for steps, ts in self.searches]
        total = sum(steps * rounds for steps, rounds in planned) + self.job.spec.steps
        done = 0
        for (steps, tunings), (_, rounds) in zip(self.searches, planned, strict=True):
            for r in range(rounds):
                live = [t for t in tunings if not t.search.done]
                if live:
                    yield from self._round(steps, live, done + r * steps, total)
            done += steps * rounds
        for t in self.tunings:
            self.chosen[t.run_index] = choose(t.search.candidates, t.search.all_scores)
        self.phase = "race"
        self.race = JobRunner(self._race_job(), self.chunk_seconds, fit=self.fit)
        for p in self.race.chunks():
            yield dataclasses.replace(p, steps_done=done + p.steps_done, steps_total=total)

    def _round(
        self, steps: int, live: Sequence[Tuning], done: int, total: int
    ) -> Generator[Progress, None, None]:
        t0 = time.perf_counter()
        proposed = {t.run_index: t.search.propose() for t in live}
        job = search_job(self.job, proposed, steps)
        runner = JobRunner(job, self.chunk_seconds, exact=False, latency=True)
        for p in runner.chunks():
            phase = p.phase if p.phase == "compiling" else "tuning"
            yield dataclasses.replace(
                p, steps_done=done + p.steps_done, steps_total=total, phase=phase
            )
        if _races_alike(self.job, job):
            self.fit.update(runner.shapes())
        docs = iter(runner.result()["runs"])
        for t in live:
            found = proposed[t.run_index]
            t.search.record([score(next(docs), t.spec.score, self.job.objective) for _ in found])
        self.rounds.append(
            Round(
                steps,
                {i: len(found) for i, found in proposed.items()},
                (time.perf_counter() - t0) * 1e3,
                runner.count.programs,
            )
        )

    def _race_job(self) -> Job:
        runs = list(self.job.runs)
        for t in self.tunings:
            winner = self.chosen[t.run_index]
            if winner is not None:
                run = runs[t.run_index]
                runs[t.run_index] = _with_values(run, t.search.candidates[winner], run.label)
        return dataclasses.replace(self.job, runs=runs)

    def run(self) -> dict[str, Any]:
        for _ in self.chunks():
            pass
        return self.result()

    def result(self) -> dict[str, Any]:
        if self.race is None:
            raise RuntimeError("iterate chunks() to the end first")
        result = self.race.result()
        for t in self.tunings:
            result["runs"][t.run_index]["tuning"] = self._section(t)
        result["timing"]["search_ms"] = round(self.search_ms, 3)
        result["timing"]["search_programs_compiled"] = sum(r.programs_compiled for r in self.rounds)
        return result

    def _section(self, t: Tuning) -> dict[str, Any]:
        """What a tuned run's search evaluated: every candidate (with its round), each round's
        size, compute time and programs compiled (shared by the runs searched with it)."""
        winner = self.chosen[t.run_index]
        cands = t.search.candidates
        return {
            "parameters": {
                k: d.model_dump(exclude_none=True) for k, d in parameters(t.spec).items()
            },
            "method": t.spec.method,
            "score": t.spec.score,
            "steps": t.steps,
            "candidates": [
                {"values": dict(c), "score": s, "round": r}
                for r, (found, scores) in enumerate(
                    zip(t.search.rounds, t.search.scores, strict=True)
                )
                for c, s in zip(found, scores, strict=True)
            ],
            "rounds": [
                {
                    "candidates": r.candidates[t.run_index],
                    "search_ms": round(r.search_ms, 3),
                    "programs_compiled": r.programs_compiled,
                }
                for r in self.rounds
                if t.run_index in r.candidates
            ],
            "evaluated": len(cands),
            "chosen": dict(cands[winner]) if winner is not None else None,
            "note": _note(t.search, winner),
            "search_ms": round(self.search_ms, 3),
        }


def _races_alike(job: Job, search: Job) -> bool:
    """The race of ``job`` can run in ``search``'s programs: the same steps, records and
    (no) stopping rules. Otherwise the race compiles its own programs, at its own width and
    with the defaults: a long race in a padded latency program would run several times
    slower."""
    own, other = job.spec, search.spec
    return (
        own.steps == other.steps
        and own.record.every == other.record.every
        and own.stopping == other.stopping
        and job.snapshot == search.snapshot
    )


def _note(search: Refinement, winner: int | None) -> str | None:
    if winner is None:
        return "no candidate finished with a finite score: the run kept its own values"
    if search.exhausted:
        return f"the space has {len(search.candidates)} distinct points: all were evaluated"
    return None


def runner_for(job: Job, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> JobRunner | TunedRunner:
    """The runner of a parsed job: a TunedRunner when a run has ``tune``, else a JobRunner."""
    if any(run.tune is not None for run in job.spec.runs):
        return TunedRunner(job, chunk_seconds)
    return JobRunner(job, chunk_seconds)
