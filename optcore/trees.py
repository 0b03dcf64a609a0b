"""Type names for what the runner hands to JAX and back, and its way back to the host.

JAX does not type a pytree's structure: params (a vector or a network's dict of arrays),
optimizer states and trees of vmap axes are ``Any`` under these names, so that a signature
still says which of them it takes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeAlias

import jax
import numpy as np

PyTree: TypeAlias = Any  # arrays in a pytree: params, gradients, an optimizer state
Axes: TypeAlias = Any  # a pytree of vmap axes (0 or None leaves) matching a PyTree's prefix
# A group's traced numbers: (shared [S], varying [B, V]), S and V the paths that are shared
# by every run or vary between them; inside a vmap over runs, varying is one run's [V].
Values: TypeAlias = tuple[jax.Array, jax.Array]
ValueShapes: TypeAlias = tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]  # one run's


def to_host(tree: PyTree) -> PyTree:
    """Numpy arrays of a pytree of device arrays. On the CPU, views of the buffers
    (``np.asarray``): ``jax.device_get`` first starts an asynchronous copy of each array,
    which for a call's few small outputs costs 5-8x as much (130 against 17 us at width 1).
    Elsewhere ``jax.device_get``, which overlaps the copies."""
    if _on_cpu():
        return jax.tree.map(np.asarray, tree)
    return jax.device_get(tree)


@lru_cache(maxsize=1)
def _on_cpu() -> bool:
    """The backend is fixed once JAX has started: asked once, not at every call."""
    return jax.default_backend() == "cpu"
