"""Published defaults: each optimizer's learning rate tuned on the built-in 2-D objectives.

``tuned_learning_rates.json`` is written by ``make gallery`` (examples/gallery.json states the
budget: 200 candidates in [1e-5, 10] on a log scale, searched by ``refine`` in ten rounds of
20, 500 steps, scored by the distance to the minimum) and read here for ``GET /v1/optimizers``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

TUNED_FILE = Path(__file__).with_name("tuned_learning_rates.json")


@lru_cache(maxsize=1)
def _published() -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(TUNED_FILE.read_text())
    except FileNotFoundError:
        return {"budget": None, "tuned_learning_rate": {}}
    return doc


def tuned_learning_rate(name: str) -> dict[str, float]:
    """objective -> tuned learning rate, for the objectives the gallery tuned ``name`` on."""
    table: dict[str, dict[str, float]] = _published()["tuned_learning_rate"]
    return dict(table.get(name, {}))


def tuning_budget() -> dict[str, Any] | None:
    budget: dict[str, Any] | None = _published()["budget"]
    return budget
