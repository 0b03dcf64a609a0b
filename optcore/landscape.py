"""Loss-landscape grids. ``z[i][j]`` is the value at ``y[i]``, ``x[j]`` (meshgrid 'xy')."""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .objectives import Objective
from .program import first_params
from .results import finite
from .spec import Job

CHUNK_POINTS = 1 << 16  # bounds memory for objectives that are costly per point
CACHE_FLOATS = 1 << 15  # activations of one chunk of a network's plane: 128 KiB


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


# -- planes through parameter space (Li et al. 2018), for any objective ---------------------


def filter_normalize(direction: np.ndarray, weights: np.ndarray, mode: str, bias: str):
    """Scale a random direction like the weights it perturbs. Kernels are (in, out): a filter
    is one output unit, the last axis, so norms run over every other axis.

    Leaves of at most one dimension (biases, norm scales) follow Li et al.'s ``net_plotter.py``
    (``normalize_directions_for_weights``): ``bias="zero"`` zeroes their direction, and
    ``bias="keep"`` makes it the weights themselves, not a rescaled random draw."""
    if direction.ndim <= 1:
        return np.zeros_like(direction) if bias == "zero" else np.array(weights, copy=True)
    if mode == "none":
        return direction
    axes = tuple(range(direction.ndim - 1)) if mode == "filter" else None
    d_norm = np.sqrt(np.sum(direction**2, axis=axes, keepdims=axes is not None))
    w_norm = np.sqrt(np.sum(weights**2, axis=axes, keepdims=axes is not None))
    return direction * w_norm / (d_norm + 1e-10)


def random_directions(center: dict, seed: int, mode: str = "filter", bias: str = "zero"):
    """Two Gaussian directions, one draw per leaf, normalised against ``center``."""
    leaves, treedef = jax.tree.flatten(center)
    out = []
    for which in (0, 1):
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), which), len(leaves))
        drawn = [
            np.asarray(
                jax.random.normal(
                    k,
                    np.shape(w),
                    jnp.float64 if np.asarray(w).dtype == np.float64 else jnp.float32,
                )
            )
            for k, w in zip(keys, leaves, strict=True)
        ]
        out.append(
            treedef.unflatten(
                [
                    filter_normalize(d, np.asarray(w), mode, bias)
                    for d, w in zip(drawn, leaves, strict=True)
                ]
            )
        )
    return out[0], out[1]


def pca_directions(path: np.ndarray, center: np.ndarray):
    """Top-2 principal directions of ``path - center`` (rows are flat params), unit norm, and
    the share of variance they explain."""
    offsets = path - center
    centred = offsets - offsets.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    share = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    if vt.shape[0] < 2:  # a path of two points spans one direction: complete the plane
        extra = np.zeros_like(vt[0])
        extra[np.argmin(np.abs(vt[0]))] = 1.0
        extra -= extra @ vt[0] * vt[0]
        vt = np.vstack([vt[0], extra / np.linalg.norm(extra)])
    return vt[0], vt[1], share


def project(path: np.ndarray, center: np.ndarray, d1: np.ndarray, d2: np.ndarray):
    """Coordinates (a, b) with path ~ center + a d1 + b d2, by least squares."""
    basis = np.stack([d1, d2], axis=1)
    coords, *_ = np.linalg.lstsq(basis, (path - center).T, rcond=None)
    return coords.T


_PLANES: dict[tuple, object] = {}


def _plane_fn(objective, points: int, dtype: str):
    """jit(values at center + a d1 + b d2 for each (a, b)), in chunks of points whose
    activations fit in a core's cache: each point of a network is a whole forward pass, and
    chunks of a few points ran 2.5x faster here than chunks of a thousand (memory-bound)."""
    key = (objective.cache_key(), points, dtype)
    if key in _PLANES:
        return _PLANES[key]
    width = max(getattr(objective, "layers", (1,)))
    samples = len(objective.train[0]) if hasattr(objective, "train") else 1
    chunk = int(max(1, min(points, CACHE_FLOATS // max(1, samples * width))))

    def at(center, d1, d2, a, b):
        params = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1, d2)
        return objective.value(params)

    def plane(center, d1, d2, alphas, betas):
        n = alphas.shape[0]
        pad = (-n) % chunk
        a = jnp.concatenate([alphas, jnp.zeros(pad, alphas.dtype)]).reshape(-1, chunk)
        b = jnp.concatenate([betas, jnp.zeros(pad, betas.dtype)]).reshape(-1, chunk)
        batch = jax.vmap(at, in_axes=(None, None, None, 0, 0))
        z = jax.lax.map(lambda ab: batch(center, d1, d2, ab[0], ab[1]), (a, b))
        return z.reshape(-1)[:n]

    _PLANES[key] = jax.jit(plane)
    return _PLANES[key]


def plane_values(objective, center, d1, d2, xs, ys, dtype: str = "float32") -> np.ndarray:
    """z[i][j] = value(center + xs[j] d1 + ys[i] d2)."""
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.float64 if dtype == "float64" else jnp.float32
        aa, bb = np.meshgrid(xs, ys, indexing="xy")
        cast = partial(jax.tree.map, lambda t: jnp.asarray(t, dt))
        fn = _plane_fn(objective, aa.size, dtype)
        z = fn(
            cast(center),
            cast(d1),
            cast(d2),
            jnp.asarray(aa.ravel(), dt),
            jnp.asarray(bb.ravel(), dt),
        )
        return np.asarray(z, np.float64).reshape(len(ys), len(xs))


def _log(z: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z > 0, np.log(np.where(z > 0, z, 1.0)), np.nan)


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def _unflat(flat: np.ndarray, like):
    leaves, treedef = jax.tree.flatten(like)
    out, i = [], 0
    for leaf in leaves:
        size = np.size(leaf)
        out.append(flat[i : i + size].reshape(np.shape(leaf)))
        i += size
    return treedef.unflatten(out)


def _initial_params(job: Job, run_index: int, dtype: str):
    """The run's start, derived as the runner derives it."""
    run = job.runs[run_index]
    with jax.enable_x64(dtype == "float64"):
        x0 = jnp.asarray(run.start, jnp.float64 if dtype == "float64" else jnp.float32)
        params = first_params(job.objective, x0, jax.random.PRNGKey(run.seed))
        return jax.tree.map(np.asarray, params)


def plane_for_job(job: Job, finals: list, paths: list, docs: list[dict]) -> tuple[dict, float]:
    """The random, PCA or interpolation landscape around run ``spec.run``.

    ``finals[i]``: run i's final params (pytree of numpy); ``paths[i]``: its recorded flat
    params (rows), or None. Sets each run's ``trajectory`` to its projection on the plane."""
    t0 = time.perf_counter()
    spec = job.spec.record.landscape
    dtype = job.spec.dtype
    r = spec.run
    center = finals[r]
    center_flat = _flat(center)
    doc: dict = {
        "kind": spec.kind,
        "center": {"run": docs[r]["label"], "step": docs[r]["steps"]},
        "log": spec.log,
    }
    if spec.kind == "interpolation":
        start = _initial_params(job, r, dtype)
        direction = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), center, start)
        (lo, hi), _ = spec.bounds or ((-0.5, 1.5), (0.0, 1.0))
        xs = np.linspace(lo, hi, spec.shape[0])
        zero = jax.tree.map(np.zeros_like, direction)
        z = plane_values(job.objective, start, direction, zero, xs, np.zeros(1), dtype)[0]
        doc.update(
            x=finite(xs),
            z=finite(_log(z) if spec.log else z),
            description="value at start + x (final - start): 0 is the start, 1 the end",
        )
        return doc, (time.perf_counter() - t0) * 1e3
    if spec.kind == "pca":
        path = paths[r] if paths[r] is not None else center_flat[None]
        d1_flat, d2_flat, share = pca_directions(np.vstack([path, center_flat]), center_flat)
        d1, d2 = _unflat(d1_flat, center), _unflat(d2_flat, center)
        doc["explained_variance"] = finite(share)
    else:
        seed = job.spec.seed if spec.seed is None else spec.seed
        d1, d2 = random_directions(center, seed, spec.normalization, spec.bias)
        d1_flat, d2_flat = _flat(d1), _flat(d2)
        cos = d1_flat @ d2_flat / (np.linalg.norm(d1_flat) * np.linalg.norm(d2_flat) + 1e-30)
        doc.update(normalization=spec.normalization, bias=spec.bias, seed=seed, cosine=float(cos))
    projected = [
        project(p, center_flat, d1_flat, d2_flat) if p is not None else None for p in paths
    ]
    if spec.bounds is not None:
        (x0, x1), (y0, y1) = spec.bounds
    elif spec.kind == "pca" and projected[r] is not None:
        lo, hi = projected[r].min(axis=0), projected[r].max(axis=0)
        margin = np.maximum(0.25 * (hi - lo), 1e-3 + 0.05 * np.abs(hi - lo).max())
        (x0, y0), (x1, y1) = lo - margin, hi + margin
    else:
        (x0, x1), (y0, y1) = (-1.0, 1.0), (-1.0, 1.0)
    nx, ny = spec.shape
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    z = plane_values(job.objective, center, d1, d2, xs, ys, dtype)
    doc.update(x=finite(xs), y=finite(ys), z=finite(_log(z) if spec.log else z))
    for run_doc, coords in zip(docs, projected, strict=True):
        if coords is not None:
            run_doc["trajectory"] = finite(coords)
    return doc, (time.perf_counter() - t0) * 1e3
