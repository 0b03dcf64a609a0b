"""Run labels: a sweep's run is named by its values, and repeated names get ``#n``."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sweeps import PlannedRun


def labels_in(name: str, sweep: dict[str, list[Any]], window: range) -> list[str]:
    """The labels of a run spec's runs in ``window``, in ``itertools.product`` order of its
    sweep's values: ``name``, or for a sweep's run ``name(key=value, ...)``. Only the values
    those runs use are formatted, each once (a shard labels its own runs alone)."""
    if not sweep:
        return [name][window.start : window.stop]
    keys = list(sweep)
    shown: list[dict[int, str]] = [{} for _ in keys]
    out = []
    ranges = (range(len(values)) for values in sweep.values())
    for indices in itertools.islice(itertools.product(*ranges), window.start, window.stop):
        parts = []
        for j, i in enumerate(indices):
            part = shown[j].get(i)
            if part is None:
                part = shown[j][i] = f"{keys[j]}={_short(sweep[keys[j]][i])}"
            parts.append(part)
        out.append(f"{name}({', '.join(parts)})")
    return out


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def shown_numbers(values: list[Any]) -> list[str] | None:
    """``_short`` of each value when all are numbers (without a call per value: a sweep can
    hold 65,536), else None."""
    if all(type(v) is float for v in values):  # f"{nan:g}" and str(nan) agree, as for inf
        return [f"{v:g}" for v in values]
    if all(isinstance(v, int | float) for v in values):
        return [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return None


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
