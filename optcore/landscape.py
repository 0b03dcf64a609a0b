"""Loss-landscape grids. ``z[i][j]`` is the value at ``y[i]``, ``x[j]`` (meshgrid 'xy')."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .objectives import Objective
from .results import finite
from .spec import Job

CHUNK_POINTS = 1 << 16  # bounds memory for objectives that are costly per point


_GRIDS: dict[tuple, object] = {}


def _grid_fn(objective: Objective, nx: int, ny: int, dtype: str):
    key = (objective.cache_key(), nx, ny, dtype)
    if key not in _GRIDS:
        _GRIDS[key] = _make_grid_fn(objective)
    return _GRIDS[key]


def _make_grid_fn(objective: Objective):
    def grid(xs, ys):
        points = jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
        n = points.shape[0]
        pad = (-n) % CHUNK_POINTS if n > CHUNK_POINTS else 0
        padded = jnp.concatenate([points, jnp.zeros((pad, 2), points.dtype)])
        if n > CHUNK_POINTS:
            blocks = padded.reshape(-1, CHUNK_POINTS, 2)
            z = jax.lax.map(jax.vmap(objective.value), blocks).reshape(-1)[:n]
        else:
            z = jax.vmap(objective.value)(points)
        return z.reshape(ys.shape[0], xs.shape[0])

    return jax.jit(grid)


def grid2d(objective: Objective, bounds, shape: tuple[int, int], dtype: str = "float32"):
    """The objective over a box: returns ``(x, y, z)`` numpy arrays, z of shape (ny, nx)."""
    (x0, x1), (y0, y1) = bounds
    nx, ny = shape
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.float64 if dtype == "float64" else jnp.float32
        xs, ys = jnp.linspace(x0, x1, nx, dtype=dt), jnp.linspace(y0, y1, ny, dtype=dt)
        z = _grid_fn(objective, nx, ny, dtype)(xs, ys)
        return np.asarray(xs), np.asarray(ys), np.asarray(z)


def grid2d_for_job(job: Job) -> tuple[dict, float]:
    spec = job.spec.record.landscape
    t0 = time.perf_counter()
    bounds = spec.bounds or job.objective.box
    x, y, z = grid2d(job.objective, bounds, spec.shape, job.spec.dtype)
    doc = {
        "kind": "grid2d",
        "x": finite(x),
        "y": finite(y),
        "z": finite(z),
        "bounds": [list(b) for b in bounds],
    }
    return doc, (time.perf_counter() - t0) * 1e3
