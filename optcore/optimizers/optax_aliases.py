"""Every optax alias that is not a seed name, with a schema read from its signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax

from .schema import Entry, Hyper

ALIAS_MODULE = "optax._src.alias"  # where optax defines its aliases; read, never imported
# Aliases optax keeps only for compatibility (they warn DeprecationWarning when called).
DEPRECATED = {"optimistic_adam"}

# Arguments that are not numbers or flags (masks, dtypes, keys, sub-transforms, variants).
NOT_HYPERPARAMETERS = {
    "mask",
    "weight_decay_mask",
    "trust_ratio_mask",
    "mu_dtype",
    "accumulator_dtype",
    "dtype_momentum",
    "key",
    "seed",
    "linesearch",
    "variant",
}
DEFAULT_LEARNING_RATE = 1e-3
# optax's adadelta with learning_rate=None skips the sign flip and ascends; Zeiler's rule is 1.0.
DEFAULT_OVERRIDES = {("adadelta", "learning_rate"): 1.0}
FIXED_ARGUMENTS = {"noisy_sgd": {"key": 0}}  # the noise is seeded; optax wants a key


AliasFn = Callable[..., optax.GradientTransformation]


def _deprecated(name: str, fn: AliasFn) -> bool:
    if name in DEPRECATED:
        return True
    try:
        return f"`{name}` is deprecated" in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def _alias_functions(skip: set[str]) -> dict[str, AliasFn]:
    found: dict[str, AliasFn] = {
        name: fn
        for name, fn in inspect.getmembers(optax, inspect.isfunction)
        if fn.__module__ == ALIAS_MODULE and not name.startswith("_") and not _deprecated(name, fn)
    }
    for name in ("nadam", "nadamw"):  # partials of adam/adamw, exported at the top level
        if hasattr(optax, name):
            found[name] = getattr(optax, name)
    return {name: fn for name, fn in sorted(found.items()) if name not in skip}


def _hyper(alias: str, param: inspect.Parameter) -> Hyper | None:
    if param.name in NOT_HYPERPARAMETERS:
        return None
    default = DEFAULT_OVERRIDES.get((alias, param.name), param.default)
    if default is inspect.Parameter.empty:
        if param.name != "learning_rate":
            return None
        return Hyper(
            "learning_rate",
            DEFAULT_LEARNING_RATE,
            "learning rate",
            minimum=0.0,
            exclusive_minimum=True,
        )
    if isinstance(default, bool):
        return Hyper(param.name, default, kind="boolean")
    if isinstance(default, int):
        return Hyper(param.name, default, kind="integer", traced=False)
    if isinstance(default, float):
        if param.name == "learning_rate":
            return Hyper(param.name, default, "learning rate", minimum=0.0, exclusive_minimum=True)
        return Hyper(param.name, default)
    annotation = str(param.annotation)
    if default is None and ("float" in annotation or "Array" in annotation):
        return Hyper(param.name, None, nullable=True)
    return None


def _summary(fn: AliasFn) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else fn.__name__


def _entry(name: str, fn: AliasFn) -> Entry:
    params = inspect.signature(fn).parameters
    hypers = tuple(h for h in (_hyper(name, p) for p in params.values()) if h is not None)
    lr_param = params.get("learning_rate")
    takes_schedule = lr_param is not None and "Callable" in str(lr_param.annotation)

    fixed = FIXED_ARGUMENTS.get(name, {})

    def build(h: dict[str, Any], fn: AliasFn = fn) -> optax.GradientTransformation:
        return fn(**{k: v for k, v in h.items() if k in params}, **fixed)

    return Entry(
        name=name,
        family="optax",
        summary=_summary(fn),
        hypers=hypers,
        build=build,
        latex=None,
        reference=f"https://optax.readthedocs.io/en/latest/api/optimizers.html#optax.{name}",
        takes_schedule=takes_schedule,
        notes="From optax as shipped; see the reference for its update rule.",
    )


def optax_entries(seed_names: set[str]) -> tuple[Entry, ...]:
    return tuple(_entry(name, fn) for name, fn in _alias_functions(seed_names).items())
