"""The classic test functions, an ill-conditioned quadratic and the noisy quadratic model,
each with its dimension, default start, plotting box and known minima
(reference/landscape.md, section 3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from .optimizers.schema import Hyper, object_schema

MAX_DIM = 10_000
TWO_PI = 2.0 * math.pi


def _dim(default: int = 2, low: int = 2) -> Hyper:
    return Hyper(
        "dim",
        default,
        "number of variables",
        kind="integer",
        minimum=low,
        maximum=MAX_DIM,
        traced=False,
    )


def _safe_sqrt(s: jax.Array) -> jax.Array:
    """sqrt with gradient 0 at 0 (Ackley's cone tip) instead of NaN."""
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)


@dataclass(frozen=True)
class Definition:
    """A named objective family."""

    name: str
    summary: str
    formula: str
    fn: Callable[[jax.Array, Mapping[str, Any]], jax.Array]
    params: tuple[Hyper, ...]
    start: Callable[[int], list[float]]
    box: list[list[float]]
    minima: Callable[[int, Mapping[str, Any]], list[list[float]] | None]
    minimum_value: Callable[[int, Mapping[str, Any]], float | None]
    noise: Callable[[jax.Array, jax.Array, Mapping[str, Any]], jax.Array] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "formula": self.formula,
            "parameters": object_schema(self.params),
            "dimension": "any >= 2" if any(h.name == "dim" for h in self.params) else 2,
            "default_start": self.start(2),
            "box": self.box,
            "minima": self.minima(2, {h.name: h.default for h in self.params}),
            "minimum_value": self.minimum_value(2, {h.name: h.default for h in self.params}),
            "stochastic": self.noise is not None,
        }


def repeat(pattern: list[float]) -> Callable[[int], list[float]]:
    return lambda d: [pattern[i % len(pattern)] for i in range(d)]


def _fixed(point: list[float]) -> Callable[[int], list[float]]:
    return lambda d: list(point)


def _at(*points: list[float]) -> Callable[[int, Mapping[str, Any]], list[list[float]]]:
    return lambda d, p: [list(pt) for pt in points]


def _zero(d: int, p: Mapping[str, Any]) -> float:
    return 0.0


# -- the functions ---------------------------------------------------------------------------


def rosenbrock(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return jnp.sum((p["a"] - x[:-1]) ** 2 + p["b"] * (x[1:] - x[:-1] ** 2) ** 2)


def _rosenbrock_minima(d: int, p: Mapping[str, Any]) -> list[list[float]] | None:
    if d == 2:
        return [[p["a"], p["a"] ** 2]]
    return [[1.0] * d] if p["a"] == 1.0 else None


def beale(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    u, v = x[0], x[1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def booth(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2


def himmelblau(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def rastrigin(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    amplitude: float = p["A"]
    return amplitude * x.shape[0] + jnp.sum(x**2 - amplitude * jnp.cos(TWO_PI * x))


def ackley(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    a: float = p["a"]
    r = _safe_sqrt(jnp.mean(x**2))
    return -a * jnp.exp(-p["b"] * r) - jnp.exp(jnp.mean(jnp.cos(p["c"] * x))) + a + math.e


def goldstein_price(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    u, v = x[0], x[1]
    first = 1 + (u + v + 1) ** 2 * (19 - 14 * u + 3 * u**2 - 14 * v + 6 * u * v + 3 * v**2)
    second = 30 + (2 * u - 3 * v) ** 2 * (18 - 32 * u + 12 * u**2 + 48 * v - 36 * u * v + 27 * v**2)
    return first * second


def styblinski_tang(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return 0.5 * jnp.sum(x**4 - 16 * x**2 + 5 * x)


def six_hump_camel(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    u, v = x[0], x[1]
    return (4 - 2.1 * u**2 + u**4 / 3) * u**2 + u * v + (-4 + 4 * v**2) * v**2


def matyas(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return 0.26 * (x[0] ** 2 + x[1] ** 2) - 0.48 * x[0] * x[1]


def levi13(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    u, v = x[0], x[1]
    s = jnp.sin
    return (
        s(3 * math.pi * u) ** 2
        + (u - 1) ** 2 * (1 + s(3 * math.pi * v) ** 2)
        + (v - 1) ** 2 * (1 + s(2 * math.pi * v) ** 2)
    )


def curvatures(dim: int, condition: float, dtype: Any = None) -> jax.Array:
    """Eigenvalues from 1 to ``condition``, evenly spaced on a log scale."""
    return condition ** (jnp.arange(dim, dtype=dtype) / max(dim - 1, 1))


def quadratic(x: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    return 0.5 * jnp.sum(curvatures(x.shape[0], p["condition"], x.dtype) * x**2)


def noisy_quadratic_sample(x: jax.Array, key: jax.Array, p: Mapping[str, Any]) -> jax.Array:
    centre = p["noise"] * jax.random.normal(key, x.shape, x.dtype)
    return 0.5 * jnp.sum(curvatures(x.shape[0], p["condition"], x.dtype) * (x - centre) ** 2)


STYBLINSKI_X = -2.903534027771178
STYBLINSKI_F = -39.16616570377142
HIMMELBLAU_MINIMA = (
    [3.0, 2.0],
    [-2.805118086952745, 3.131312518250573],
    [-3.779310253377747, -3.283185991286170],
    [3.584428340330492, -1.848126526964404],
)
CAMEL_MINIMA = (
    [0.08984201368301331, -0.7126564032704135],
    [-0.08984201368301331, 0.7126564032704135],
)

CONDITION = Hyper(
    "condition",
    100.0,
    "ratio of the largest to the smallest curvature",
    minimum=1.0,
    maximum=1e12,
    traced=False,
)

DEFINITIONS: dict[str, Definition] = {
    d.name: d
    for d in (
        Definition(
            "rosenbrock",
            "The banana valley: easy to reach, slow to follow.",
            r"\sum_{i=1}^{N-1} (a - x_i)^2 + b (x_{i+1} - x_i^2)^2",
            rosenbrock,
            (
                Hyper("a", 1.0, "valley position", traced=False),
                Hyper("b", 100.0, "valley steepness", minimum=0.0, traced=False),
                _dim(),
            ),
            repeat([-1.5, 2.0]),
            [[-2.0, 2.0], [-1.0, 3.0]],
            _rosenbrock_minima,
            lambda d, p: 0.0 if _rosenbrock_minima(d, p) else None,
        ),
        Definition(
            "beale",
            "Sharp ridges at the corners, a flat floor.",
            r"(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            beale,
            (),
            _fixed([1.0, 1.5]),
            [[-4.5, 4.5], [-4.5, 4.5]],
            _at([3.0, 0.5]),
            _zero,
        ),
        Definition(
            "booth",
            "A plate-shaped quadratic.",
            r"(x + 2y - 7)^2 + (2x + y - 5)^2",
            booth,
            (),
            _fixed([-5.0, 5.0]),
            [[-10.0, 10.0], [-10.0, 10.0]],
            _at([1.0, 3.0]),
            _zero,
        ),
        Definition(
            "himmelblau",
            "Four equal minima.",
            r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            himmelblau,
            (),
            _fixed([0.0, 0.0]),
            [[-5.0, 5.0], [-5.0, 5.0]],
            _at(*HIMMELBLAU_MINIMA),
            _zero,
        ),
        Definition(
            "rastrigin",
            "A bowl covered in regularly spaced local minima.",
            r"A N + \sum_i \left(x_i^2 - A \cos(2\pi x_i)\right)",
            rastrigin,
            (Hyper("A", 10.0, "ripple amplitude", minimum=0.0, traced=False), _dim()),
            repeat([-2.0, 3.5]),
            [[-5.12, 5.12], [-5.12, 5.12]],
            lambda d, p: [[0.0] * d],
            _zero,
        ),
        Definition(
            "ackley",
            "A nearly flat outer region around a deep central hole.",
            r"-a e^{-b\sqrt{\frac{1}{N}\sum x_i^2}} - e^{\frac{1}{N}\sum\cos(c x_i)} + a + e",
            ackley,
            (
                Hyper("a", 20.0, traced=False),
                Hyper("b", 0.2, traced=False),
                Hyper("c", TWO_PI, traced=False),
                _dim(),
            ),
            repeat([2.5, -3.0]),
            [[-5.0, 5.0], [-5.0, 5.0]],
            lambda d, p: [[0.0] * d],
            _zero,
        ),
        Definition(
            "goldstein_price",
            "Large values, several local minima, minimum 3.",
            r"[1 + (x+y+1)^2(19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]"
            r"[30 + (2x-3y)^2(18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]",
            goldstein_price,
            (),
            _fixed([-0.5, 1.5]),
            [[-2.0, 2.0], [-2.0, 2.0]],
            _at([0.0, -1.0]),
            lambda d, p: 3.0,
        ),
        Definition(
            "styblinski_tang",
            "Separable quartic with a global minimum in one corner.",
            r"\frac{1}{2}\sum_i \left(x_i^4 - 16 x_i^2 + 5 x_i\right)",
            styblinski_tang,
            (_dim(),),
            repeat([0.5, 0.5]),
            [[-5.0, 5.0], [-5.0, 5.0]],
            lambda d, p: [[STYBLINSKI_X] * d],
            lambda d, p: STYBLINSKI_F * d,
        ),
        Definition(
            "six_hump_camel",
            "Six local minima, two of them global.",
            r"(4 - 2.1x^2 + x^4/3)x^2 + xy + (-4 + 4y^2)y^2",
            six_hump_camel,
            (),
            _fixed([-1.0, 1.0]),
            [[-3.0, 3.0], [-2.0, 2.0]],
            _at(*CAMEL_MINIMA),
            lambda d, p: -1.031628453489877,
        ),
        Definition(
            "matyas",
            "A flat, tilted valley.",
            r"0.26(x^2 + y^2) - 0.48xy",
            matyas,
            (),
            _fixed([8.0, 4.0]),
            [[-10.0, 10.0], [-10.0, 10.0]],
            _at([0.0, 0.0]),
            _zero,
        ),
        Definition(
            "levi13",
            "Lévi N.13: ripples in both directions.",
            r"\sin^2(3\pi x) + (x-1)^2(1 + \sin^2(3\pi y)) + (y-1)^2(1 + \sin^2(2\pi y))",
            levi13,
            (),
            _fixed([-4.0, 4.0]),
            [[-10.0, 10.0], [-10.0, 10.0]],
            _at([1.0, 1.0]),
            _zero,
        ),
        Definition(
            "quadratic",
            "Ill-conditioned quadratic: curvatures from 1 to the condition number.",
            r"\frac{1}{2}\sum_i h_i x_i^2,\ h_i = \kappa^{i/(N-1)}",
            quadratic,
            (CONDITION, _dim()),
            repeat([1.0]),
            [[-2.0, 2.0], [-2.0, 2.0]],
            lambda d, p: [[0.0] * d],
            _zero,
        ),
        Definition(
            "noisy_quadratic",
            "The seed's noisy quadratic model: a fresh random centre "
            "c ~ N(0, noise^2) every step (seeded).",
            r"\frac{1}{2}(x - c_t)^\top H (x - c_t),\ c_t \sim N(0, \sigma^2 I)",
            quadratic,
            (
                Hyper(
                    "condition",
                    10.0,
                    CONDITION.description,
                    minimum=1.0,
                    maximum=1e12,
                    traced=False,
                ),
                Hyper(
                    "noise",
                    1.0,
                    "standard deviation sigma of the centre",
                    minimum=0.0,
                    traced=False,
                ),
                _dim(),
            ),
            repeat([1.0]),
            [[-2.0, 2.0], [-2.0, 2.0]],
            lambda d, p: [[0.0] * d],
            _zero,
            noise=noisy_quadratic_sample,
        ),
    )
}
