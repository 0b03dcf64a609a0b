"""Run labels: a sweep's run is named by its values, and repeated names get ``#n``."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import PlannedRun


def label_of(name: str, sweep: dict[str, list[Any]], combo: tuple[Any, ...]) -> str:
    """``name``, or for a sweep's run ``name(key=value, ...)``."""
    if not sweep:
        return name
    shown = ", ".join(f"{k}={_short(v)}" for k, v in zip(sweep, combo, strict=True))
    return f"{name}({shown})"


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def unique_labels(runs: list[PlannedRun | str]) -> list[PlannedRun | str]:
    """The second run labelled ``x`` becomes ``x #2``, and so on. A ``str`` stands for a run
    that is only counted (outside the shard being parsed): it is cheaper than a PlannedRun."""
    seen: dict[str, int] = {}
    out: list[PlannedRun | str] = []
    for run in runs:
        label = run if isinstance(run, str) else run.label
        n = seen.get(label, 0) + 1
        seen[label] = n
        if n == 1:
            out.append(run)
        elif isinstance(run, str):
            out.append(f"{label} #{n}")
        else:
            out.append(dataclasses.replace(run, label=f"{label} #{n}"))
    return out
