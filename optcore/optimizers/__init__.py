"""Every optimizer of the catalog as an ``optax.GradientTransformation``.

``get(name, **hyperparameters)`` builds one; ``catalog()`` describes them all. A run's optimizer
is first *resolved* (validated, defaults filled) into a plain config dict; ``build`` turns a
config into a transformation, and ``traced_paths`` says which of its numbers the runner passes
as traced arrays, so a new value never recompiles.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import optax

from ..errors import SpecError, join_field
from ..memo import Remembered
from .optax_aliases import optax_entries
from .schedules import make_schedule, schedules_catalog, traced_schedule_fields, validate_schedule
from .schema import Entry, Hyper, validate_params
from .seed import (
    adagrad,
    adam,
    adamw,
    gd,
    lamb,
    lars,
    lookahead,
    momentum,
    nesterov,
    paratrooper,
    radam,
    ranger,
    ranger_lars,
    rmsprop,
    sgd,
)
from .seed_catalog import ENTRIES as SEED_ENTRIES
from .tuned import tuned_learning_rate, tuning_budget

__all__ = [
    "get",
    "catalog",
    "resolve",
    "build",
    "traced_paths",
    "general_form",
    "names",
    "Entry",
    "Hyper",
    "schedules_catalog",
    "tuning_budget",
    # the seed's recipes, typed like optax's aliases
    "adagrad",
    "adam",
    "adamw",
    "gd",
    "lamb",
    "lars",
    "lookahead",
    "momentum",
    "nesterov",
    "paratrooper",
    "radam",
    "ranger",
    "ranger_lars",
    "rmsprop",
    "sgd",
]

_SEED_NAMES = {e.name for e in SEED_ENTRIES} | {a for e in SEED_ENTRIES for a in e.aliases}
_ENTRIES: tuple[Entry, ...] = SEED_ENTRIES + optax_entries(_SEED_NAMES)
_BY_NAME: dict[str, Entry] = {n: e for e in _ENTRIES for n in (e.name, *e.aliases)}
# entries that are special cases of another: that entry, and its values that make them (gd
# is momentum 0: the trace is then the scaled gradient itself, -eta g + 0 v)
SPECIAL_CASES: dict[str, tuple[str, dict[str, float]]] = {
    "gd": ("momentum", {"momentum": 0.0}),
    "sgd": ("momentum", {"momentum": 0.0}),
}


def names() -> list[str]:
    return [e.name for e in _ENTRIES]


def entry(name: Any, where: str = "optimizer") -> Entry:
    if not isinstance(name, str) or name not in _BY_NAME:
        close = difflib.get_close_matches(str(name), list(_BY_NAME), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SpecError(where, f"unknown optimizer {name!r}.{hint} Known: {', '.join(names())}")
    return _BY_NAME[name]


def catalog() -> list[dict[str, Any]]:
    """Every entry described, with ``tuned_learning_rate``: objective -> the learning rate the
    gallery's tuning found ({} where it did not tune that optimizer)."""
    return [{**e.describe(), "tuned_learning_rate": tuned_learning_rate(e.name)} for e in _ENTRIES]


_RESOLVED: Remembered[dict[str, Any]] = Remembered(4096)  # configs by their spec's repr


def resolve(spec: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Validate one optimizer spec and return its config with every default filled in.

    ``spec`` has ``optimizer``, optional ``hyperparameters``, ``inner`` (lookahead), ``schedule``
    and ``clip_norm``. Errors name the field under ``where``. A spec seen before is not
    validated again: its config is remembered by the spec's ``repr`` (which tells 1, 1.0
    and True apart), and a copy of its top level returned (configs are never changed below
    it: a sweep's runs replace their ``hyperparameters`` whole).
    """
    return dict(_RESOLVED.get(repr(spec), lambda: _resolved(spec, where)))


def _resolved(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    e = entry(spec.get("optimizer"), join_field(where, "optimizer"))
    hp = validate_params(
        e.hypers,
        spec.get("hyperparameters") or {},
        join_field(where, "hyperparameters"),
        "hyperparameters",
    )
    config: dict[str, Any] = {
        "optimizer": e.name,
        "hyperparameters": hp,
        "inner": None,
        "schedule": None,
        "clip_norm": None,
    }
    inner = spec.get("inner")
    if e.takes_inner:
        if not isinstance(inner, Mapping):
            raise SpecError(
                join_field(where, "inner"),
                f"{e.name} wraps another optimizer: give inner = "
                '{"optimizer": ..., "hyperparameters": {...}}',
            )
        config["inner"] = resolve(inner, join_field(where, "inner"))
    elif inner is not None:
        raise SpecError(join_field(where, "inner"), f"{e.name} takes no inner optimizer")
    if spec.get("schedule") is not None:
        if not e.takes_schedule:
            raise SpecError(
                join_field(where, "schedule"),
                f"{e.name} has no learning rate to schedule"
                + (" (put the schedule on inner)" if e.takes_inner else ""),
            )
        config["schedule"] = validate_schedule(spec["schedule"], join_field(where, "schedule"))
    clip = spec.get("clip_norm")
    if clip is not None:
        config["clip_norm"] = Hyper(
            "clip_norm", None, minimum=0.0, exclusive_minimum=True, nullable=True
        ).validate(clip, join_field(where, "clip_norm"))
    return config


def build(config: Mapping[str, Any]) -> optax.GradientTransformation:
    """The transformation of a resolved config; its numbers may be traced arrays."""
    e = _BY_NAME[config["optimizer"]]
    hp = dict(config["hyperparameters"])
    if config.get("schedule"):
        hp["learning_rate"] = make_schedule(hp["learning_rate"], config["schedule"])
    if config.get("inner") is not None:
        inner = config["inner"]
        hp["inner"] = inner if isinstance(inner, optax.GradientTransformation) else build(inner)
    tx = e.build(hp)
    if config.get("clip_norm") is not None:
        tx = optax.chain(optax.clip_by_global_norm(config["clip_norm"]), tx)
    return tx


def traced_paths(config: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Paths to the numbers of a config that are jit arguments rather than constants."""
    e = _BY_NAME[config["optimizer"]]
    paths: list[tuple[str, ...]] = [
        ("hyperparameters", h.name)
        for h in e.hypers
        if h.is_traced and config["hyperparameters"].get(h.name) is not None
    ]
    if config.get("schedule"):
        paths += [("schedule", f) for f in traced_schedule_fields(config["schedule"]["kind"])]
    if config.get("clip_norm") is not None:
        paths.append(("clip_norm",))
    if config.get("inner") is not None:
        paths += [("inner", *p) for p in traced_paths(config["inner"])]
    return paths


def general_form(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The config of the optimizer that ``config`` is a special case of (gd is momentum 0:
    ``SPECIAL_CASES``), with the values that make it that case; ``config`` itself when
    neither it nor its inner optimizer is one. The runner builds programs from it, so that
    gd and momentum are one compiled program."""
    inner = config.get("inner")
    general_inner = general_form(inner) if isinstance(inner, Mapping) else inner
    case = SPECIAL_CASES.get(config["optimizer"])
    if case is None and general_inner is inner:
        return config
    general = {**config, "inner": general_inner}
    if case is not None:
        general["optimizer"] = case[0]
        general["hyperparameters"] = {**config["hyperparameters"], **case[1]}
    return general


def get(name: str, **hyperparameters: Any) -> optax.GradientTransformation:
    """``get("adam", learning_rate=0.01)``; ``schedule``, ``clip_norm`` and (lookahead) ``inner``
    are accepted as keywords too. ``inner`` is a spec dict or a transformation."""
    spec: dict[str, Any] = {"optimizer": name}
    for key in ("schedule", "clip_norm"):
        if key in hyperparameters:
            spec[key] = hyperparameters.pop(key)
    inner = hyperparameters.pop("inner", None)
    if isinstance(inner, optax.GradientTransformation):
        spec["inner"] = {"optimizer": "gd"}  # placeholder, replaced below
    elif inner is not None:
        spec["inner"] = inner
    spec["hyperparameters"] = hyperparameters
    config = resolve(spec)
    if isinstance(inner, optax.GradientTransformation):
        config["inner"] = inner
    return build(config)
