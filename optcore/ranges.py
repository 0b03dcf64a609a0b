"""Numbers a job may hold: each within a float's range, each box of a drawable width.

``unrepresentable`` walks a validated job, free-form parts included (hyperparameters, sweeps,
objective params and data), so that no later ``float()`` meets an integer of 400 digits;
``check_box`` is the pydantic check of ``record.landscape.bounds`` and ``objective.box``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel

from .errors import join_field

BoxValue = tuple[tuple[float, float], tuple[float, float]]
MIN_WIDTH, MAX_WIDTH = 1e-12, 1e12  # of each side of a box: what a grid and a plot resolve
MAX_FLOAT = 1.7976931348623157e308
SHORT = 16  # items of a list checked one by one


def check_box(box: BoxValue | None) -> BoxValue | None:
    """Each side [low, high] of finite numbers, low < high, 1e-12 <= high - low <= 1e12."""
    for lo, hi in box or ():
        if not lo < hi:
            raise ValueError("each bound must be [low, high] with low < high")
        if not MIN_WIDTH <= hi - lo <= MAX_WIDTH:
            raise ValueError(
                f"each side must be {MIN_WIDTH:g} to {MAX_WIDTH:g} wide, not {hi - lo:g}"
            )
    return box


# a field's path, built as the walk descends: (parent, name), joined only when reported
FieldPath = tuple["FieldPath | None", str] | None
_SKIPPED = (bool, str, type(None))


def unrepresentable(value: Any, where: str) -> list[tuple[str, str]]:
    """(field, message) for each number of the free-form parts (hyperparameters, sweeps,
    objective params and data) that no float holds: every later ``float()`` may trust them.
    Field names are joined only for a number found: the walk visits every field of every job."""
    found: list[tuple[FieldPath, str]] = []
    _walk(value, (None, where) if where else None, found)
    return [(_joined(path), message) for path, message in found]


def _walk(value: Any, path: FieldPath, found: list[tuple[FieldPath, str]]) -> None:
    if type(value) in _SKIPPED:
        return
    if isinstance(value, float):
        if not -MAX_FLOAT <= value <= MAX_FLOAT:  # also False for NaN
            found.append((path, f"must be a finite number below {MAX_FLOAT:.4g}, not {value}"))
    elif isinstance(value, int):
        if abs(value) > MAX_FLOAT:
            digits = len(str(abs(value)))
            found.append((path, f"has {digits} digits; numbers must be below {MAX_FLOAT:.4g}"))
    elif isinstance(value, BaseModel):
        for name, item in vars(value).items():  # the fields (extra ones are forbidden)
            if type(item) not in _SKIPPED:  # most fields: a call saved (a third of the walk)
                _walk(item, (path, name), found)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _walk(item, (path, str(key)), found)
    elif isinstance(value, list | tuple) and not _finite_floats(value):
        for i, item in enumerate(value):
            _walk(item, (path, f"[{i}]"), found)


def _joined(path: FieldPath) -> str:
    parts: list[str] = []
    while path is not None:
        path, name = path
        parts.append(name)
    where = ""
    for name in reversed(parts):
        where = join_field(where, name)
    return where


def _finite_floats(values: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list holds finite floats only: a short one item by item (numpy's call
    costs more than a few comparisons), a long or nested one by ``_finite_numbers``."""
    if len(values) <= SHORT:
        return all(type(v) is float and -MAX_FLOAT <= v <= MAX_FLOAT for v in values)
    return _finite_numbers(values)


def _finite_numbers(values: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a (nested) list converts to finite floats: a whole data array at once, in C.
    When not, the caller looks item by item for the culprit (strings and booleans are not
    this check's concern: the fields that take numbers refuse them)."""
    try:
        return bool(np.isfinite(np.asarray(values, dtype=np.float64)).all())
    except (OverflowError, TypeError, ValueError):
        return False
