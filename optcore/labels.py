"""Run labels: a sweep's run is named by its values, and repeated names get ``#n``."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import PlannedRun


def labels_of(name: str, sweep: dict[str, list[Any]], limit: int | None = None) -> list[str]:
    """The labels of a run spec's runs (the first ``limit``), in ``itertools.product`` order
    of its sweep's values: ``name``, or for a sweep's run ``name(key=value, ...)``. Each
    value is formatted once, not once per run (a sharded sweep labels runs in every shard)."""
    if not sweep:
        return [name]
    shown = [[f"{k}={_short(v)}" for v in values] for k, values in sweep.items()]
    combos = itertools.islice(itertools.product(*shown), limit)
    return [f"{name}({', '.join(combo)})" for combo in combos]


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
