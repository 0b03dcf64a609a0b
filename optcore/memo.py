"""Remembered values: what optcore works out once per structure, spec or objective.

Each is a plain dict bounded by forgetting everything when it is full: its keys repeat
(a service sees few distinct optimizer structures, specs and objectives), so the rare
clear costs less than an LRU's bookkeeping on every hit, which is on a job's hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Remembered(Generic[Value]):
    """``get(key, build)``: the value remembered for ``key``, else ``build()``'s. Two
    threads building the same key at once may both build; the first one stored is kept."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._values: dict[Hashable, Value] = {}

    def get(self, key: Hashable, build: Callable[[], Value]) -> Value:
        known = self._values.get(key)
        if known is None:
            value = build()
            if len(self._values) >= self.kept:
                self._values.clear()
            known = self._values.setdefault(key, value)
        return known
