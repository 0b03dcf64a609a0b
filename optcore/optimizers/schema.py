"""Hyperparameter descriptions: defaults, bounds, JSON Schema and validation with named fields."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optax

from ..errors import SpecError, join_field


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter. Traced values are jit arguments: changing them never recompiles."""

    name: str
    default: Any
    description: str = ""
    kind: str = "number"  # number | integer | boolean | string
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    traced: bool | None = None  # default: numbers are traced, the rest is static

    @property
    def is_traced(self) -> bool:
        if self.traced is not None:
            return self.traced
        return self.kind == "number"

    def json_schema(self) -> dict[str, Any]:
        types = {
            "number": "number",
            "integer": "integer",
            "boolean": "boolean",
            "string": "string",
        }[self.kind]
        schema: dict[str, Any] = {"type": [types, "null"] if self.nullable else types}
        if self.default is not None or self.nullable:
            schema["default"] = self.default
        if self.description:
            schema["description"] = self.description
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema

    def bounds_text(self) -> str:
        lo = "(" if self.exclusive_minimum else "["
        hi = ")" if self.exclusive_maximum else "]"
        a = "-inf" if self.minimum is None else f"{self.minimum:g}"
        b = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"{lo}{a}, {b}{hi}"

    def validate(self, value: Any, where: str) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise SpecError(where, "must not be null")
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise SpecError(where, f"must be true or false, not {value!r}")
            return value
        if self.kind == "string":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise SpecError(where, f"must be one of {list(self.choices or [])}, not {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(where, f"must be a {self.kind}, not {value!r}")
        if self.kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise SpecError(where, f"must be an integer, not {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise SpecError(where, f"must be a finite number, not {value!r}")
        if not self._in_range(value):
            raise SpecError(where, f"must lie in {self.bounds_text()}, not {value!r}")
        return value

    def validate_all(self, values: list[Any], where: str) -> list[Any]:
        """``[validate(v) for v in values]``; floats checked together, without a call each
        (a 65,536-value sweep is checked in every shard that runs part of it)."""
        if self.kind == "number" and all(type(v) is float for v in values):
            a = np.asarray(values, dtype=np.float64)
            ok = np.isfinite(a)
            if self.minimum is not None:
                ok &= a > self.minimum if self.exclusive_minimum else a >= self.minimum
            if self.maximum is not None:
                ok &= a < self.maximum if self.exclusive_maximum else a <= self.maximum
            if bool(ok.all()):
                return values
        return [self.validate(v, where) for v in values]

    def _in_range(self, value: float) -> bool:
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_maximum and value == self.maximum):
                return False
        return True


def validate_params(
    hypers: tuple[Hyper, ...], given: Mapping[str, Any], where: str, what: str
) -> dict[str, Any]:
    """Fill defaults and check every value; unknown names are an error listing the known ones."""
    if not isinstance(given, Mapping):
        raise SpecError(where, f"must be an object of {what}")
    known = {h.name: h for h in hypers}
    errors: list[tuple[str, str]] = []
    singular = what[:-1] if what.endswith("s") else what
    for name in given:
        if name not in known:
            allowed = ", ".join(known) or "none"
            errors.append((join_field(where, name), f"unknown {singular}; allowed: {allowed}"))
    out: dict[str, Any] = {}
    for h in hypers:
        try:
            out[h.name] = h.validate(given.get(h.name, h.default), join_field(where, h.name))
        except SpecError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SpecError.combine(errors)
    return out


def object_schema(hypers: tuple[Hyper, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {h.name: h.json_schema() for h in hypers},
    }


Builder = Callable[[dict[str, Any]], optax.GradientTransformation]


@dataclass(frozen=True)
class Entry:
    """A catalog entry: what a name computes, its hyperparameters and how to build it."""

    name: str
    family: str
    summary: str
    hypers: tuple[Hyper, ...]
    build: Builder
    latex: str | None = None
    reference: str = ""
    aliases: tuple[str, ...] = ()
    notes: str = ""
    takes_inner: bool = False
    takes_schedule: bool = True  # has a learning_rate that a schedule may replace
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "family": self.family,
            "summary": self.summary,
            "update": self.latex,
            "hyperparameters": object_schema(self.hypers),
            "requires_inner": self.takes_inner,
            "accepts_schedule": self.takes_schedule,
            "reference": self.reference,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Bounds:
    """What a signature cannot say about a hyperparameter: its meaning and its range."""

    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    traced: bool | None = None


NOT_TUNABLE = ("inner",)  # parameters of a recipe that are not hyperparameters


def _kind(hint: Any) -> tuple[str, tuple[str, ...] | None, bool]:
    """(kind, choices, nullable) of a type hint: Literal strings, bool, int, float, X | None."""
    if typing.get_origin(hint) is Literal:
        return "string", tuple(str(a) for a in typing.get_args(hint)), False
    args = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    nullable = type(None) in args
    if bool in args:
        return "boolean", None, nullable
    if int in args and float not in args:
        return "integer", None, nullable
    if float in args:
        return "number", None, nullable
    raise TypeError(f"no JSON kind for {hint!r}")


def hypers_from_signature(
    fn: Callable[..., Any], bounds: Mapping[str, Bounds]
) -> tuple[Hyper, ...]:
    """A recipe's hyperparameters: names, defaults and types from its signature, meaning and
    range from ``bounds``. A parameter without bounds is an error, so none is forgotten."""
    hints = typing.get_type_hints(fn)
    out = []
    for name, param in inspect.signature(fn).parameters.items():
        if name in NOT_TUNABLE:
            continue
        meta = bounds[name]
        kind, choices, nullable = _kind(hints[name])
        out.append(
            Hyper(
                name,
                param.default,
                meta.description,
                kind,
                meta.minimum,
                meta.maximum,
                meta.exclusive_minimum,
                meta.exclusive_maximum,
                choices,
                nullable,
                meta.traced,
            )
        )
    return tuple(out)


def recipe_entry(
    fn: Callable[..., optax.GradientTransformation],
    bounds: Mapping[str, Bounds],
    *,
    family: str,
    latex: str,
    reference: str,
    aliases: tuple[str, ...] = (),
    notes: str = "",
) -> Entry:
    """The catalog entry of a typed recipe: its schema comes from the signature and ``bounds``,
    its summary from the docstring's first line."""
    params = inspect.signature(fn).parameters
    doc = inspect.getdoc(fn) or fn.__name__
    return Entry(
        name=fn.__name__,
        family=family,
        summary=doc.strip().splitlines()[0],
        hypers=hypers_from_signature(fn, bounds),
        build=lambda h: fn(**h),
        latex=latex,
        reference=reference,
        aliases=aliases,
        notes=notes,
        takes_inner="inner" in params,
        takes_schedule="learning_rate" in params,
    )
