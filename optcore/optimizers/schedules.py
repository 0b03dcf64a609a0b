"""Learning-rate schedules as factors of the base learning rate, and global-norm clipping.

Written in ``jax.numpy`` so every number may be traced (optax's schedule constructors check
their arguments in Python and refuse tracers); each equals its optax namesake, which the tests
check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import SpecError, join_field
from .schema import Hyper, object_schema, validate_params

Factor = Callable[[Mapping[str, Any], jax.Array], Any]  # (schedule params, step) -> factor

SCHEDULES: dict[str, tuple[Hyper, ...]] = {
    "constant": (),
    "linear_warmup": (
        Hyper("warmup_steps", 100, "steps to reach the learning rate", minimum=1.0),
        Hyper("start_factor", 0.0, "learning-rate factor at step 0", minimum=0.0),
    ),
    "cosine_decay": (
        Hyper("decay_steps", 1000, "steps of the cosine", minimum=1.0),
        Hyper("alpha", 0.0, "final factor", minimum=0.0),
    ),
    "warmup_cosine": (
        Hyper("warmup_steps", 100, "linear warmup steps", minimum=0.0),
        Hyper(
            "decay_steps", 1000, "total steps, warmup included (optax's convention)", minimum=1.0
        ),
        Hyper("start_factor", 0.0, "factor at step 0", minimum=0.0),
        Hyper("end_factor", 0.0, "factor after decay_steps", minimum=0.0),
    ),
    "exponential_decay": (
        Hyper("transition_steps", 100, "steps per factor of decay_rate", minimum=1.0),
        Hyper("decay_rate", 0.5, "factor per transition", minimum=0.0, exclusive_minimum=True),
        Hyper("transition_begin", 0, "steps held before decay starts", minimum=0.0),
        Hyper("staircase", False, "decay in whole transitions", kind="boolean"),
    ),
}


def validate_schedule(given: Any, where: str) -> dict[str, Any]:
    if not isinstance(given, Mapping) or "kind" not in given:
        raise SpecError(where, f"must be an object with a 'kind' of {list(SCHEDULES)}")
    kind = given["kind"]
    if kind not in SCHEDULES:
        raise SpecError(
            join_field(where, "kind"), f"unknown schedule {kind!r}; allowed: {', '.join(SCHEDULES)}"
        )
    rest = {k: v for k, v in given.items() if k != "kind"}
    params = validate_params(SCHEDULES[kind], rest, where, "schedule parameters")
    if kind == "warmup_cosine" and params["warmup_steps"] >= params["decay_steps"]:
        raise SpecError(join_field(where, "decay_steps"), "must exceed warmup_steps")
    return {"kind": kind, **params}


def traced_schedule_fields(kind: str) -> list[str]:
    return [h.name for h in SCHEDULES[kind] if h.is_traced]


def make_schedule(learning_rate: Any, spec: Mapping[str, Any]) -> Callable[[jax.Array], Any]:
    """A function of the step count (from 0) giving learning_rate times the schedule factor."""
    kind = spec["kind"]
    factor: Factor = {
        "constant": lambda s, t: 1.0,
        "linear_warmup": _linear_warmup,
        "cosine_decay": _cosine_decay,
        "warmup_cosine": _warmup_cosine,
        "exponential_decay": _exponential_decay,
    }[kind]
    return lambda count: learning_rate * factor(spec, count)


def _linear_warmup(s: Mapping[str, Any], count: jax.Array) -> Any:
    frac = jnp.clip(count / s["warmup_steps"], 0.0, 1.0)
    return s["start_factor"] + (1.0 - s["start_factor"]) * frac


def _cosine(progress: Any, alpha: Any) -> Any:
    return (1.0 - alpha) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)) + alpha


def _cosine_decay(s: Mapping[str, Any], count: jax.Array) -> Any:
    return _cosine(jnp.minimum(count, s["decay_steps"]) / s["decay_steps"], s["alpha"])


def _warmup_cosine(s: Mapping[str, Any], count: jax.Array) -> Any:
    warm = s["warmup_steps"]
    warmup = _linear_warmup(
        {"warmup_steps": jnp.maximum(warm, 1e-30), "start_factor": s["start_factor"]}, count
    )
    span = s["decay_steps"] - warm
    progress = jnp.clip((count - warm) / span, 0.0, 1.0)
    return jnp.where(count < warm, warmup, _cosine(progress, s["end_factor"]))


def _exponential_decay(s: Mapping[str, Any], count: jax.Array) -> Any:
    elapsed = jnp.maximum(count - s["transition_begin"], 0.0)
    p = elapsed / s["transition_steps"]
    p = jnp.where(s["staircase"], jnp.floor(p), p)
    return s["decay_rate"] ** p


def schedules_catalog() -> list[dict[str, Any]]:
    return [
        {"kind": kind, "parameters": object_schema(hypers)} for kind, hypers in SCHEDULES.items()
    ]
