"""The result document as JSON bytes, straight from its numpy arrays (orjson).

NaN and Inf become null (orjson's rule for floats, arrays included); floats are written in
their shortest round-trip form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _other(value: Any) -> Any:
    """What orjson does not write itself: numpy scalars and non-contiguous arrays."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(document: Any) -> bytes:
    """JSON bytes of a result document (or any JSON-like value with numpy arrays)."""
    return orjson.dumps(document, default=_other, option=OPTIONS)
