"""Type names for what the runner hands to JAX and back.

JAX does not type a pytree's structure: params (a vector or a network's dict of arrays),
optimizer states and trees of vmap axes are ``Any`` under these names, so that a signature
still says which of them it takes.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import jax

PyTree: TypeAlias = Any  # arrays in a pytree: params, gradients, an optimizer state
Axes: TypeAlias = Any  # a pytree of vmap axes (0 or None leaves) matching a PyTree's prefix
# A group's traced numbers: (shared [S], varying [B, V]), S and V the paths that are shared
# by every run or vary between them; inside a vmap over runs, varying is one run's [V].
Values: TypeAlias = tuple[jax.Array, jax.Array]
ValueShapes: TypeAlias = tuple[jax.ShapeDtypeStruct, jax.ShapeDtypeStruct]  # one run's
