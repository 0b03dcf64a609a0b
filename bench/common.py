"""Timing helpers shared by the benchmarks: best-of-n wall time of warm calls."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Seconds of the fastest of ``repeats`` calls, after ``warmup`` calls."""
    return best_times(fn, repeats=repeats, warmup=warmup)[0]


def best_times(*fns: Callable[[], object], repeats: int = 7, warmup: int = 2) -> list[float]:
    """``best_time`` of each function, their calls interleaved: on a shared machine whose
    speed drifts by tens of percent over seconds, a baseline timed before the code it is
    compared with is timed in other conditions."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def row(name: str, seconds: float, extra: str = "") -> str:
    return f"  {name:<44s} {seconds * 1e3:10.2f} ms  {extra}"
