"""Successive refinement: a tuning budget spent over rounds, each zooming in on the best.

Round one is a grid over the whole range. Every later round places finer local grids around
the ``CENTRES`` best candidates found so far (shares in proportion to 1 / rank), each filling
the gap between a candidate and its neighbours on the grid it came from, so the resolution
grows geometrically with the rounds instead of with the budget. Coordinates are *unit*
coordinates per ranged parameter: ``[0, 1]`` over ``[low, high]``, in logs for
``log_uniform``; integer parameters are rounded and a ``values`` list is a choice, kept as
the centre's. A candidate already evaluated is
never proposed again, and every round gets exactly its share of the budget: when the local
grids run dry, seeded random draws over the whole range fill it (only a space with fewer
distinct points than the budget can end a search early).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .spec import Distribution

CENTRES = 3  # a refinement round splits its share over this many of the best candidates
MAX_DRAWS = 64  # random draws per missing candidate before a space counts as exhausted

Candidate = dict[str, float]


@dataclass(frozen=True)
class Axis:
    """One tuned parameter: its distribution, in unit coordinates when ranged."""

    name: str
    dist: Distribution
    integer: bool

    @property
    def ranged(self) -> bool:
        return self.dist.values is None

    @property
    def listed(self) -> list[float]:
        return list(self.dist.values or ())

    def value(self, unit: float) -> float:
        """The parameter's value at a unit coordinate (ranged axes only), within bounds
        (exp(log(low)) can round below low)."""
        low, high = self.dist.log_uniform or self.dist.uniform or (0.0, 0.0)
        if self.dist.log_uniform is not None:
            v = math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
        else:
            v = low + unit * (high - low)
        v = min(max(v, low), high)
        return float(round(v)) if self.integer else v

    def unit(self, value: float) -> float:
        low, high = self.dist.log_uniform or self.dist.uniform or (0.0, 1.0)
        if self.dist.log_uniform is not None:
            return math.log(value / low) / math.log(high / low)
        return (value - low) / (high - low)

    def draw(self, rng: np.random.Generator) -> float:
        if self.dist.values is not None:
            return float(rng.choice(np.asarray(self.dist.values, np.float64)))
        return self.value(float(rng.uniform()))


def shares(n: int) -> list[int]:
    """A refinement round's ``n`` candidates over the ``CENTRES`` best, in proportion to
    1 / rank (at least one each): the best is zoomed in on fastest."""
    weights = np.array([1 / (rank + 1) for rank in range(CENTRES)])
    return [max(1, math.ceil(n * w)) for w in weights / weights.sum()]


def axes(params: Mapping[str, Distribution], integers: Collection[str] = ()) -> list[Axis]:
    return [Axis(name, dist, name in integers) for name, dist in params.items()]


def round_sizes(budget: int, rounds: int) -> list[int]:
    """``budget`` split over ``rounds`` as evenly as possible, the larger shares first."""
    rounds = max(1, min(rounds, budget))
    share, extra = divmod(budget, rounds)
    return [share + (i < extra) for i in range(rounds)]


def _key(c: Mapping[str, float]) -> tuple[float, ...]:
    return tuple(float(f"{v:.12g}") for v in c.values())


@dataclass
class Refinement:
    """The candidates of one tuned run, round by round: ``propose()`` the next round's,
    ``record()`` their scores (None: cannot win), until ``done``."""

    axes: list[Axis]
    sizes: list[int]
    seed: int = 0
    fixed: list[Candidate] | None = None  # grid and random: one round of these
    rounds: list[list[Candidate]] = field(default_factory=list)
    scores: list[list[float | None]] = field(default_factory=list)
    # half-width (unit coordinates) of the neighbourhood each candidate leaves unexplored
    _width: dict[tuple[float, ...], float] = field(default_factory=dict)
    _seen: set[tuple[float, ...]] = field(default_factory=set)
    _coarse: float = 1.0  # the first round's grid spacing

    @property
    def done(self) -> bool:
        return len(self.scores) >= len(self.sizes) or self.exhausted

    @property
    def exhausted(self) -> bool:
        """A round came back short: every distinct point of the space has been proposed."""
        return any(len(r) < n for r, n in zip(self.rounds, self.sizes, strict=False))

    @property
    def candidates(self) -> list[Candidate]:
        return [c for r in self.rounds for c in r]

    @property
    def all_scores(self) -> list[float | None]:
        return [s for r in self.scores for s in r]

    def propose(self) -> list[Candidate]:
        if len(self.rounds) > len(self.scores):
            raise RuntimeError("record() the scores of the last round first")
        if self.fixed is not None:
            found = list(self.fixed)
        else:
            n = self.sizes[len(self.rounds)]
            found = self._first(n) if not self.rounds else self._refined(n)
            found += self._random(n - len(found), len(self.rounds))
        self.rounds.append(found)
        return found

    def record(self, scores: Sequence[float | None]) -> None:
        if len(scores) != len(self.rounds[-1]) or len(self.scores) == len(self.rounds):
            raise ValueError("one score per candidate of the last round")
        self.scores.append(list(scores))

    # -- proposals ------------------------------------------------------------------------

    def _take(self, proposals: Iterator[tuple[Candidate, float]], n: int) -> list[Candidate]:
        """Up to ``n`` proposals (candidate, unexplored half-width) not evaluated before."""
        out: list[Candidate] = []
        for cand, width in proposals:
            if len(out) == n:
                break
            key = _key(cand)
            if key not in self._seen:
                self._seen.add(key)
                self._width[key] = width
                out.append(cand)
        return out

    def _first(self, n: int) -> list[Candidate]:
        """A grid over the whole range: n^k points for k ranged axes, times the ``values``;
        evenly thinned when the listed values alone exceed ``n``."""
        listed = math.prod(len(a.listed) for a in self.axes if not a.ranged)
        ranged = sum(a.ranged for a in self.axes)
        per_axis = max(1, math.floor((n / listed) ** (1 / ranged) + 1e-9)) if ranged else 1
        units = np.linspace(0.0, 1.0, per_axis) if per_axis > 1 else np.array([0.5])
        width = self._coarse = 1.0 / max(1, per_axis - 1)
        columns = [
            [a.value(float(u)) for u in units] if a.ranged else [float(v) for v in a.listed]
            for a in self.axes
        ]
        grid = [dict(zip(self._names, combo, strict=True)) for combo in itertools.product(*columns)]
        if len(grid) > n:
            grid = [grid[i] for i in np.linspace(0, len(grid) - 1, n).round().astype(int)]
        return self._take(((c, width) for c in grid), n)

    def _ranked(self) -> list[Candidate]:
        """Every candidate with a finite score, best first (ties: smallest values)."""
        scored = [
            (s, tuple(c.values()), i, c)
            for i, (c, s) in enumerate(zip(self.candidates, self.all_scores, strict=True))
            if s is not None
        ]
        return [c for *_, c in sorted(scored, key=lambda t: t[:3])]

    def _refined(self, n: int) -> list[Candidate]:
        """Local grids around the best candidates, best first, each its ``shares`` of the
        round, a candidate's neighbourhood shrinking each time it is refined."""
        quotas = shares(n)
        out: list[Candidate] = []
        for rank, centre in enumerate(self._ranked()):
            if len(out) == n:
                break
            quota = quotas[rank] if rank < len(quotas) else quotas[-1]
            out += self._take(self._around(centre, quota), min(quota, n - len(out)))
        return out

    def _around(self, centre: Candidate, m: int) -> Iterator[tuple[Candidate, float]]:
        """A local grid of about ``m`` points in the centre's unexplored neighbourhood,
        nearest first; their spacing becomes their own and the centre's new half-width."""
        key = _key(centre)
        width = self._width.get(key, 0.0)
        ranged = [a for a in self.axes if a.ranged]
        if not ranged or width <= 0:
            return iter(())
        side = max(1, math.floor(((m + 1) ** (1 / len(ranged)) - 1) / 2))
        step = width / (side + 1)
        self._width[key] = step
        units = {a.name: a.unit(centre[a.name]) for a in ranged}
        offsets = sorted(
            (o for o in itertools.product(range(-side, side + 1), repeat=len(ranged)) if any(o)),
            key=lambda o: (max(map(abs, o)), sum(map(abs, o)), o),
        )

        def points() -> Iterator[tuple[Candidate, float]]:
            for o in offsets:
                moved = {a.name: units[a.name] + j * step for a, j in zip(ranged, o, strict=True)}
                if all(0.0 <= u <= 1.0 for u in moved.values()):
                    values = {a.name: a.value(moved[a.name]) for a in ranged}
                    yield {k: values.get(k, centre[k]) for k in self._names}, step

        return points()

    def _random(self, n: int, round_index: int) -> list[Candidate]:
        """``n`` seeded draws over the whole range (or fewer, if the space runs out)."""
        rng = np.random.default_rng([self.seed, round_index])
        draws = ({a.name: a.draw(rng) for a in self.axes} for _ in range(n * MAX_DRAWS))
        return self._take(((c, self._coarse) for c in draws), n)

    @property
    def _names(self) -> list[str]:
        return [a.name for a in self.axes]


def fixed(params: Mapping[str, Distribution], found: list[Candidate]) -> Refinement:
    """A one-round search of given candidates (the grid and random methods)."""
    return Refinement(axes(params), [len(found)], fixed=found)


Scorer = Callable[[list[Candidate]], list[float | None]]


def search(r: Refinement, scorer: Scorer) -> Refinement:
    """Runs a refinement to the end with a plain scoring function (tests, notebooks)."""
    while not r.done:
        r.record(scorer(r.propose()))
    return r
