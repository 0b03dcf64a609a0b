"""Objectives by name or formula: what a job's ``objective`` resolves to.

Test functions (``optcore.functions``) and expressions are ``Objective``s: one parameter
vector, a start point, a box and known minima. ``loss(x, key, step)`` is what the optimizer
sees (the noisy quadratic draws a fresh centre every step); ``value(x)`` is the deterministic
function that landscapes and final losses use. Networks are ``optcore.learning`` objectives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import jax
import jax.numpy as jnp

from .errors import SpecError, join_field
from .functions import DEFINITIONS, Definition, repeat
from .memo import Remembered
from .optimizers.schema import validate_params

if TYPE_CHECKING:  # learning imports nothing from here, but loads only when asked for
    from .learning import LearningObjective


@runtime_checkable
class ObjectiveProtocol(Protocol):
    """What the runner, the landscape and tuning ask of any objective: a test function or
    expression (``Objective``) and a network (``learning.LearningObjective``) alike."""

    name: str
    params: dict[str, Any]
    vector: bool  # one parameter vector: a start point applies, trajectories are recorded
    minima: list[list[float]] | None
    minimum_value: float | None

    @property
    def dim(self) -> int: ...

    @property
    def stochastic(self) -> bool: ...

    @property
    def has_validation(self) -> bool: ...

    def init_params(self, key: jax.Array, dtype: Any = ...) -> Any: ...

    def value(self, x: Any) -> jax.Array: ...

    def loss(self, x: Any, key: jax.Array | None = None, step: Any = None) -> jax.Array: ...

    def cache_key(self) -> tuple[Any, ...]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Objective:
    """One objective with its parameters fixed: what the runner and the landscape use."""

    definition: Definition
    params: dict[str, Any]
    dim: int

    vector = True  # parameters are one vector; a start point applies
    has_validation = False

    def init_params(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.asarray(self.start, dtype)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def stochastic(self) -> bool:
        return self.definition.noise is not None

    def value(self, x: jax.Array) -> jax.Array:
        return self.definition.fn(x, self.params)

    def loss(self, x: jax.Array, key: jax.Array | None = None, step: Any = None) -> jax.Array:
        """What the optimizer sees at ``step``; noisy objectives draw from (key, step)."""
        if self.definition.noise is None or key is None:
            return self.value(x)
        draw = jax.random.fold_in(key, 0 if step is None else step)
        return self.definition.noise(x, draw, self.params)

    @property
    def start(self) -> list[float]:
        return self.definition.start(self.dim)

    @property
    def box(self) -> list[list[float]]:
        return self.definition.box

    @property
    def minima(self) -> list[list[float]] | None:
        return self.definition.minima(self.dim, self.params)

    @property
    def minimum_value(self) -> float | None:
        return self.definition.minimum_value(self.dim, self.params)

    def cache_key(self) -> tuple[Any, ...]:
        key: tuple[Any, ...] | None = self.__dict__.get("_key")
        if key is None:  # worked out once: resolved objectives are shared (``resolve``)
            params = sorted(self.params.items())
            frozen = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params)
            key = (self.name, self.dim, frozen)
            object.__setattr__(self, "_key", key)
        return key

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "dimension": self.dim,
            "minima": self.minima,
            "minimum_value": self.minimum_value,
        }


AnyObjective: TypeAlias = "Objective | LearningObjective"  # a test function or a network


def names() -> list[str]:
    from . import learning

    return [*DEFINITIONS, *learning.PARAMS]


def catalog() -> list[dict[str, Any]]:
    from . import learning

    return [d.describe() for d in DEFINITIONS.values()] + learning.catalog()


def resolve(spec: Mapping[str, Any], where: str = "objective") -> AnyObjective:
    """Build an objective from ``{"name": ..., "params": {...}}``; errors name the field."""
    if not isinstance(spec, Mapping):
        raise SpecError(where, "must be an object with a 'name'")
    if spec.get("expression") is not None:
        return expression_objective(spec, where)
    name = spec.get("name")
    from . import learning

    if name in learning.PARAMS:
        return learning.resolve(spec, where)
    if name not in DEFINITIONS:
        known = ", ".join([*DEFINITIONS, *learning.PARAMS])
        raise SpecError(join_field(where, "name"), f"unknown objective {name!r}; known: {known}")
    definition, given = DEFINITIONS[name], spec.get("params") or {}

    def build() -> Objective:
        params = validate_params(
            definition.params, given, join_field(where, "params"), "parameters"
        )
        dim = params.pop("dim", 2)
        return Objective(definition, params, dim)

    return _RESOLVED.get(f"{name}{given!r}", build)  # repr tells 1, 1.0 and True apart


# test functions resolved, by name and given params: an Objective is immutable, and a job's
# set-up touches less code when it is found here (a one-run job: the validation's 20 us)
_RESOLVED: Remembered[Objective] = Remembered(1024)


EXPRESSION_BOX = [[-2.0, 2.0], [-2.0, 2.0]]


def expression_objective(spec: Mapping[str, Any], where: str = "objective") -> Objective:
    """``{"expression": "...", "variables": [...]}``: compiled by optcore.expressions."""
    from .expressions import compile_expression

    if spec.get("name") not in (None, "expression"):
        raise SpecError(join_field(where, "name"), "give either a name or an expression")
    variables = spec.get("variables") or ["x", "y"]
    fn = compile_expression(spec["expression"], variables)
    definition = Definition(
        "expression",
        "A function given as text.",
        spec["expression"],
        fn,
        (),
        repeat([0.5]),
        [list(b) for b in spec.get("box") or EXPRESSION_BOX],
        lambda d, p: None,
        lambda d, p: None,
    )
    params = {"expression": spec["expression"], "variables": list(variables)}
    return Objective(definition, params, len(variables))


def get(name: str, **params: Any) -> AnyObjective:
    return resolve({"name": name, "params": params})
