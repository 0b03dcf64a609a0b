"""A run spec's sweep expanded into runs, in ``itertools.product`` order of its values.

Each swept value is checked once by its hyperparameter's rule, not once per combination, and
only the runs asked for (a shard's ``window``) are built: the API checks a 65,536-run sweep
without building its runs, and a shard builds only its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import optimizers
from .errors import SpecError
from .labels import labels_in, shown_numbers
from .optimizers.schema import Hyper

if TYPE_CHECKING:
    from .spec import RunSpec


@dataclass(frozen=True)
class PlannedRun:
    """One run after sweep expansion: its label, resolved optimizer config, seed and start."""

    label: str
    config: dict[str, Any]
    seed: int
    start: list[float]
    spec_index: int
    variant: tuple[
        tuple[str, Any], ...
    ] = ()  # the swept values that change the program (static ones)


def sweep_size(run: RunSpec) -> int:
    """The number of runs a run spec's sweep expands to, computed without expanding it."""
    return math.prod(len(values) for values in (run.sweep or {}).values())


def labels_distinct(runs: Sequence[RunSpec]) -> bool:
    """True when no two runs of a job can get the same label: then no label needs a ``#n``,
    and a window of runs is labelled without labelling the runs before it. Numbers and
    booleans show no ``, `` or ``)``, so distinct shown values give distinct labels."""
    names = [run.label or run.optimizer for run in runs]
    # a sweep's labels are "name(...)": a name equal to another, or to the part of another
    # before one of its "(", could meet another run's label
    before_paren = {n[:i] for n in names for i, c in enumerate(n) if c == "("}
    if len(set(names)) != len(names) or not before_paren.isdisjoint(names):
        return False
    for run in runs:
        for values in (run.sweep or {}).values():
            shown = shown_numbers(values)
            if shown is None or len(set(shown)) != len(values):
                return False
    return True


def _resolve_swept(base: dict[str, Any], chosen: dict[str, Any], where: str) -> dict[str, Any]:
    """The config of one combination of swept values; errors name the sweep's fields."""
    spec = dict(base)
    spec["hyperparameters"] = {**base.get("hyperparameters", {}), **chosen}
    try:
        return optimizers.resolve(spec, where)
    except SpecError as exc:
        fields = [
            (f.replace(f"{where}.hyperparameters", f"{where}.sweep"), m) for f, m in exc.errors
        ]
        raise SpecError.combine(fields) from None


def _swept_rules(
    hypers_of: tuple[Hyper, ...], sweep: dict[str, list[Any]]
) -> dict[str, Hyper] | None:
    """The rule of each swept hyperparameter, to check each value once: a hyperparameter's
    rule does not depend on the others, so this gives what resolving every combination
    would, at a fraction of the cost. None when a swept name is not one of the optimizer's
    own hyperparameters: then each combination is resolved, for its error."""
    hypers = {h.name: h for h in hypers_of}
    names = [k for k in sweep if k != "seed"]
    if any(k not in hypers for k in names):
        return None
    return {k: hypers[k] for k in names}


def _checked(
    sweep: dict[str, list[Any]], rules: dict[str, Hyper] | None, where: str
) -> list[list[Any]]:
    """Each key's values after its rule (seeds: integers in [0, 2**31)); the first bad value
    of each key is an error naming the key."""
    errors: list[tuple[str, str]] = []
    out = []
    for key, values in sweep.items():
        field = f"{where}.sweep.{key}"
        if not values:
            errors.append((field, "needs at least one value"))
        elif key == "seed":
            bad = [
                s
                for s in values
                if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**31
            ]
            if bad:
                errors.append((field, f"seeds are integers >= 0, not {bad[0]!r}"))
        elif rules is not None:
            try:
                values = rules[key].validate_all(values, field)
            except SpecError as exc:
                errors.extend(exc.errors)
        out.append(values)
    if errors:
        raise SpecError.combine(errors)
    return out


def expand(
    run: RunSpec,
    index: int,
    job_seed: int,
    start: list[float],
    window: range | None,
    distinct: bool,
) -> list[PlannedRun | str]:
    """The runs of one run spec in ``window`` (a range within its own runs; None: all).

    With ``distinct`` labels (``labels_distinct``) only the window's runs are returned.
    Otherwise the runs before the window come first as their labels alone, so that the
    caller can number repeated labels (labels.unique_labels)."""
    where = f"runs[{index}]"
    base = run.model_dump(exclude={"label", "sweep", "init", "tune"}, exclude_none=True)
    base_config = optimizers.resolve(base, where)  # the unswept run must be valid on its own
    sweep = run.sweep or {}
    if not sweep:  # one run, the spec's own
        label = run.label or run.optimizer
        if window is None or window:
            return [PlannedRun(label, base_config, job_seed, start, index)]
        return [label] if window.start and not distinct else []  # before the window: a label
    names = list(sweep)
    hypers = optimizers.entry(run.optimizer).hypers
    rules = _swept_rules(hypers, sweep)
    values = _checked(sweep, rules, where)
    if window is None:
        window = range(math.prod(len(v) for v in values))
    if rules is None:  # an unknown name: resolving every combination finds its error
        for combo in itertools.product(*values):
            _resolve_swept(base, dict(zip(names, combo, strict=True)), where)
    first = window.start if distinct else 0  # else the labels before it, for their numbering
    labels = labels_in(run.label or run.optimizer, sweep, range(first, window.stop))
    static = {h.name for h in hypers if not h.is_traced}
    planned: list[PlannedRun | str] = list(labels[: window.start - first])
    combos = itertools.islice(itertools.product(*values), window.start, window.stop)
    base_hp = base_config["hyperparameters"]
    for combo, label in zip(combos, labels[window.start - first :], strict=False):
        chosen = dict(zip(names, combo, strict=True))
        seed = chosen.pop("seed", job_seed)
        if rules is not None:
            config = {**base_config, "hyperparameters": {**base_hp, **chosen}}
        else:
            config = _resolve_swept(base, chosen, where)
        variant = tuple((k, v) for k, v in chosen.items() if k in static)
        planned.append(PlannedRun(label, config, seed, start, index, variant))
    return planned
